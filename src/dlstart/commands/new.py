"""`dlstart new`: ask, recommend a framework, generate a project."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from dlstart import questionnaire as q

if TYPE_CHECKING:
    from dlstart.sources import TemplateSource

DESCRIPTION = """\
Generate a deep-learning project. On a terminal it asks for the project name, primary goal,
task, training hardware (this machine's is detected and offered first) and your team's
experience, prints the three frameworks ranked with the reasons, lets you take the
recommendation or pick another, then asks the Python version. Every question has a flag; a
flag given is not asked. Without a terminal, every answer must come from a flag, --answers or
--yes: a missing one is an error naming its flag.

The project is rendered with copier from dlstart's own templates (or --template) and records
the template version in .copier-answers.yml, which `dlstart update` reads. A new folder gets a
git repository with one first commit.
"""

EPILOG = """\
examples:
  dlstart new                      ask everything; the folder is named after the project
  dlstart new vision --yes         the defaults and the recommended framework, no questions
  dlstart new demo --yes --framework jax --task text
  dlstart new demo --goal mobile --task image --hardware gpu --experience new \\
      --framework tensorflow --python 3.11 < /dev/null
  dlstart new demo --answers answers.yml --yes

exit status: 0 generated; 1 rendering or writing failed (nothing was left behind);
2 bad input or a refused destination (nothing was written); 130 interrupted (nothing written)
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "new",
        help="ask a few questions, recommend a framework, generate a starter project",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "dest",
        nargs="?",
        type=Path,
        metavar="DEST",
        help="folder to generate into (default: ./<project-slug>); it must be new or empty",
    )
    q.add_options(parser, q.NEW_KEYS)
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
        help="template to generate from: a git URL, or the path of a git repository whose root "
        "holds copier.yml (default: the templates of this dlstart, offline)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dlstart import generate, sources

    hooks = sources.load_hooks()
    given = q.given_answers(args, q.NEW_KEYS)
    if args.dest is not None:
        generate.check_destination(args.dest, args.force)
    source = sources.resolve_source(args.template)
    project = _ask(args, hooks, given)
    dest = args.dest if args.dest is not None else Path(project.project_slug)
    return _generate(source, dest, project, hooks)


def _ask(args: argparse.Namespace, hooks: ModuleType, given: dict) -> q.Project:
    from dlstart import generate

    def name_problem(name: str) -> str | None:
        slug = hooks.slugify(name)
        problem = hooks.check_names(slug, hooks.package_name(slug))
        if problem is None and args.dest is None:
            problem = generate.destination_problem(Path(slug), args.force)
        return problem

    asker = q.TerminalAsker() if not args.yes and q.on_terminal() else None
    default_name = "My Project"
    if args.dest is not None:
        default_name = args.dest.resolve().name
        if asker is None:  # DEST names the project when there is no one to ask
            given.setdefault("project_name", default_name)
    flow = q.Flow(q.Resolver(given, asker, args.yes))
    return q.ask_project(flow, hooks, default_name, name_problem)


def _generate(source: TemplateSource, dest: Path, project: q.Project, hooks: ModuleType) -> int:
    from dlstart import generate
    from dlstart.questions import FRAMEWORKS

    fresh = not dest.exists() or not any(dest.iterdir())
    print(f"Generating a {FRAMEWORKS[project.framework].title} project in {dest}")
    try:
        placement = generate.render(source, dest, project.template_data())
    except generate.GenerationError as error:
        print(f"dlstart new: error: {error}; nothing was left behind", file=sys.stderr)
        return 1
    for kept in placement.kept:
        print(f"  kept your {kept} (the template's version was not written)")
    if fresh:  # a first commit only in a folder that held nothing of the user's
        try:
            hooks.init_git(dest.resolve())
        except subprocess.CalledProcessError as error:
            print(f"warning: the project was generated, but git failed: {error}", file=sys.stderr)
    print(hooks.next_steps(dest.resolve(), project.package_name))
    return 0
