"""`dlstart new`: ask, recommend a framework, generate a project."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dlstart import flags
from dlstart.commands._shared import HelpFormatter
from dlstart.errors import exit_status_help

if TYPE_CHECKING:
    from dlstart.generate import Placement

DESCRIPTION = """\
Generate a deep-learning project. On a terminal it asks for the project name,
primary goal, task, training hardware (this machine's is detected and offered
first) and your team's experience, prints the three frameworks ranked with the
reasons, lets you take the recommendation or pick another, then asks the Python
version and the deployment targets (api, mobile, browser; those the goal calls
for are ticked). Every question has a flag; a flag given is not asked. Without a
terminal, every answer must come from a flag, --answers or --yes: a missing one
is an error naming its flag (the deployment targets follow the goal).

The project records its template version in .copier-answers.yml for `dlstart
update`. A new folder gets a git repository with one first commit (its own, even
inside another repository). Ctrl-C leaves either nothing or the whole project,
and says which.
"""

EPILOG = """\
examples:
  dlstart new                    ask everything; the folder is named after it
  dlstart new vision --yes       the defaults and the recommended framework
  dlstart new demo --yes --framework jax --task text
  dlstart new demo --goal mobile --task image --hardware gpu --experience new \\
      --framework tensorflow --python 3.11 < /dev/null
  dlstart new demo --answers answers.yml --yes

"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "new",
        help="ask a few questions, recommend a framework, generate a starter project",
        description=DESCRIPTION,
        epilog=EPILOG + exit_status_help(),
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "dest",
        nargs="?",
        type=Path,
        metavar="DEST",
        help="folder to generate into (default: ./<project-slug>); it must be new or empty",
    )
    flags.add_options(parser, flags.NEW_KEYS)
    parser.add_argument(
        "--force",
        action="store_true",
        help="generate into a DEST that is not empty: the project's files are added, every file "
        "already there is kept as it is (never overwritten or deleted, and listed), and no git "
        "repository is created",
    )
    parser.add_argument(
        "--template",
        metavar="SRC",
        help="template to generate from: a git URL, or a git checkout whose root holds "
        "copier.yml (default: the templates of this dlstart, offline)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dlstart import generate, interview, prompts, template_source
    from dlstart.questions import FRAMEWORKS

    hooks = template_source.load_hooks()
    given = flags.given_answers(args, flags.NEW_KEYS)
    if args.dest is not None:
        generate.check_destination(args.dest, args.force)
    template_source.check_template(args.template)
    asker = prompts.TerminalAsker() if not args.yes and prompts.on_terminal() else None
    names = interview.Names(
        hooks, args.dest, given, lambda path: generate.destination_error(path, args.force)
    )
    if args.dest is not None and asker is None:  # DEST names the project when no one is asked
        given.setdefault("project_name", names.default)
    flow = interview.Flow(interview.Resolver(given, asker, args.yes))
    answers = interview.ask_new(flow, names)
    dest = args.dest if args.dest is not None else Path(answers.project_slug)
    generate.check_destination(dest, args.force)
    source = template_source.for_new(args.template)
    if warning := source.warning():
        print(f"warning: {warning}", file=sys.stderr)
    print(f"Generating a {FRAMEWORKS[answers.framework].title} project in {dest}")
    placement = generate.generate(
        source, dest, answers.template_data(), first_commit=hooks.FIRST_COMMIT
    )
    report(placement)
    print(hooks.next_steps(placement.dest, answers.package_name))
    return 0


def report(placement: Placement) -> None:
    if placement.existing:
        kept = set(placement.kept)
        print(f"Kept everything already in {placement.dest} as it was (nothing overwritten):")
        for entry in placement.existing:
            print(f"  {entry}" + ("  (instead of the template's)" if entry in kept else ""))
        for path in placement.kept:
            if "/" in path:
                print(f"  {path}  (instead of the template's)")
        print("No git repository was created: you decide what to commit.")
    elif not placement.repository:
        print("warning: git failed, so the project has no repository yet: git init, then commit")
    elif placement.parent_repository is not None:
        print(
            f"Note: {placement.dest} is inside the git repository {placement.parent_repository}; "
            "it got a repository of its own, so `pre-commit install` and commits in it stay "
            f"there. To keep it in {placement.parent_repository} instead: "
            f"rm -rf {placement.dest}/.git, then commit it there."
        )
