"""`dlstart doctor`: check that this machine runs a generated project as it expects."""

from __future__ import annotations

import argparse
from pathlib import Path

from dlstart.commands._shared import WrappingHelpFormatter, add_project_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check Python, pinned packages and accelerators for a generated project",
        description=(
            "Check a generated project's environment and say what to do about each mismatch: "
            "the Python version against .python-version, the installed packages against the "
            "pins in requirements/<target>.txt, and the accelerators the framework sees "
            "against the target hardware. Exit status 1 when something is wrong."
        ),
        formatter_class=WrappingHelpFormatter,
    )
    add_project_argument(parser)
    parser.add_argument(
        "--python",
        type=Path,
        metavar="PATH",
        help="the interpreter to check (default: the project's .venv, else the one running "
        "dlstart)",
    )
    parser.add_argument(
        "--target",
        metavar="TARGET",
        help="the requirements/<TARGET>.txt to check and the hardware to expect, e.g. cpu in "
        "CI (default: the project's hardware answer)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60,
        metavar="SECONDS",
        help="how long importing the framework may take (default: 60)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dlstart import doctor, project

    proj = project.load(args.path)
    setup = doctor.setup(proj, args.python, args.target)
    where = str(setup.python)
    if setup.python.is_relative_to(setup.project):
        where = str(setup.python.relative_to(setup.project))
    elif args.python is None:
        where += " (the project has no .venv)"
    print(f"{proj.name}: target {setup.target}, interpreter {where}")
    findings = doctor.examine(setup, args.timeout)
    for finding in findings:
        print(f"  {'ok  ' if finding.ok else 'FAIL'}  {finding.summary}")
        for detail in finding.details:
            print(f"          {detail}")
        if finding.fix:
            print(f"        fix: {finding.fix}")
    problems = sum(not finding.ok for finding in findings)
    print(f"{problems} problem{'s' if problems != 1 else ''}." if problems else "All good.")
    return 1 if problems else 0
