"""The `dlstart` command line: one subcommand per module in `dlstart.commands`.

Each command module defines `add_parser(subparsers)` and `run(args) -> int`; heavy imports
(copier, questionary) happen inside `run`, so `dlstart --help` stays fast. Every command ends
the way `dlstart.errors` says: one `dlstart COMMAND: error: ...` line and the exit status of
its kind. Even the imports run under that rule, so Ctrl-C at start-up prints one line too.
"""

from __future__ import annotations

import sys


def build_parser():
    import argparse

    from dlstart import __version__
    from dlstart.commands import COMMANDS
    from dlstart.commands._shared import HelpFormatter
    from dlstart.errors import exit_status_help

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
            "  dlstart new demo --yes       the recommended framework and defaults\n"
            "  dlstart recommend --goal mobile --hardware gpu --experience new\n"
            "  dlstart COMMAND --help       every option of a command\n\n" + exit_status_help()
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dlstart {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    command = None
    try:
        args = build_parser().parse_args(argv)
        command = args.command
        return args.run(args)
    except KeyboardInterrupt:
        where = f"dlstart {command}" if command else "dlstart"
        print(f"{where}: interrupted: nothing was written", file=sys.stderr)
        return 130
    except Exception as error:
        import subprocess

        from dlstart.errors import DlstartError, Failed, report

        if isinstance(error, subprocess.CalledProcessError):  # a git command dlstart ran
            lines = (error.stderr or "").strip().splitlines() or [f"exit status {error.returncode}"]
            error = Failed(f"`{' '.join(map(str, error.cmd))}` failed: {lines[-1]}")
        if not isinstance(error, DlstartError):
            raise
        report(command, str(error), error.status)
        return int(error.status)
