"""Arguments and error reporting shared by the commands that work on an existing project."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

from dlstart.errors import UserError


def add_project_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=Path("."),
        help="the generated project (default: the current folder)",
    )


def add_template_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--template",
        type=Path,
        metavar="PATH",
        help="read the templates from this git checkout of dlstart instead of the repository "
        "the project records (works offline; the project keeps recording the repository URL)",
    )


def add_data_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=help,
    )


def reports_errors(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Print a UserError as one message (exit status 1) instead of a traceback."""

    @functools.wraps(run)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except UserError as error:
            print(f"dlstart {args.command}: {error}", file=sys.stderr)
            return 1

    return wrapper
