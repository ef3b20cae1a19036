"""Help layout and the arguments shared by the commands."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

WIDTH = 80


class WrappingHelpFormatter(argparse.HelpFormatter):
    """Help within 80 columns (fewer on a narrower terminal)."""

    def __init__(self, prog: str) -> None:
        width = min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns)
        super().__init__(prog, width=width, max_help_position=28)


class HelpFormatter(WrappingHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help within 80 columns; descriptions and epilogs as written (within 80 columns too)."""


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
        help="read the templates from this git checkout of dlstart (with or without release "
        "tags) instead of this dlstart's own; the project keeps recording the repository URL",
    )


def add_data_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=help,
    )
