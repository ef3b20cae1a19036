"""`dlstart new`: ask, recommend a framework, generate a project. (Skeleton: see issue 2.)"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("new", help="generate a new project")
    parser.add_argument("dest", nargs="?", help="destination folder")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError
