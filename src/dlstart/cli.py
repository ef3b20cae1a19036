"""The `dlstart` command line: one subcommand per module in `dlstart.commands`.

Each command module defines `add_parser(subparsers)` and `run(args) -> int`; heavy imports
(copier, questionary) happen inside `run`, so `dlstart --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from dlstart import __version__
from dlstart.commands import COMMANDS
from dlstart.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlstart",
        description=(
            "Start deep-learning projects right: recommends PyTorch, TensorFlow or JAX for\n"
            "your goals and hardware, generates a complete starter repository, and keeps it\n"
            "up to date with template improvements."
        ),
        epilog=(
            "examples:\n"
            "  dlstart new                  answer a few questions, get a project\n"
            "  dlstart new demo --yes       the recommended framework and defaults, no questions\n"
            "  dlstart recommend --goal mobile --hardware gpu --experience new\n"
            "  dlstart COMMAND --help       every option of a command"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dlstart {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as error:
        print(f"dlstart {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nInterrupted: nothing was written.", file=sys.stderr)
        return 130
