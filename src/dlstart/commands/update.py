"""`dlstart update`: merge a later template release into a generated project."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import TYPE_CHECKING

from dlstart.commands._shared import (
    HelpFormatter,
    add_data_option,
    add_project_argument,
    add_template_option,
)
from dlstart.errors import Exit, UsageError, exit_status_help

if TYPE_CHECKING:
    from dlstart.project import Project
    from dlstart.template_repo import TemplateRepo
    from dlstart.update import Outcome, Status

DESCRIPTION = """\
Three-way merge of a later template version into a generated project: your
edits are kept, the template's changes come in, overlapping edits become marked
conflicts, each listed by name. Refuses a project with uncommitted changes;
leaves the result uncommitted for review. The latest version is the one this
dlstart's templates (or --template) provide: an installed release, or a
checkout's commit (tagged or not).
"""

EPILOG = """\
Files the template marks as yours (src/<package>/model.py, configs/*.yaml except
configs/default.yaml) are never rewritten. Elsewhere, where you and the template
changed the same lines, the file keeps both between `<<<<<<< before updating`
and `>>>>>>> after updating`. A file the new release drops is deleted only if
you never edited it. What a release changed that an update cannot bring (its
version of a file of yours) is printed once, and added to UPDATE-NOTES.md.

"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "update",
        help="merge template improvements into a generated project",
        description=DESCRIPTION,
        epilog=EPILOG + exit_status_help(),
        formatter_class=HelpFormatter,
    )
    add_project_argument(parser)
    parser.add_argument(
        "--to",
        metavar="VERSION",
        help="the template version to update to, e.g. v0.3.0 (default: the latest)",
    )
    add_data_option(
        parser,
        "change an answer and regenerate what depends on it, e.g. --data hardware=cluster, "
        "--data deploy=api,browser (the deployment targets, comma-separated), --data "
        "goal=browser (also adds the goal's target) (repeatable; framework, project_slug and "
        "package_name cannot change)",
    )
    add_template_option(parser)
    parser.add_argument(
        "--check",
        action="store_true",
        help="only report whether a newer version exists: exit status 0 when up to date, "
        f"{int(Exit.UPDATE_AVAILABLE)} when an update is available (for CI); changes nothing",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dlstart import answers, project, template_source
    from dlstart import update as updating

    if args.check and (args.to or args.data):
        raise UsageError("--check takes neither --to nor --data")
    proj = project.load(args.path)
    repo = template_source.for_project(args.template, proj.src_path)
    if repo.uncommitted:
        print(
            f"warning: the templates in {repo.where} have uncommitted changes; their version "
            f"{repo.current} exists only in this machine's cache",
            file=sys.stderr,
        )
    if args.check:
        return report_status(proj, updating.check(proj, repo))
    outcome = updating.update(proj, repo, args.to, answers.parse_data(args.data))
    return report_outcome(proj, repo, outcome)


def report_status(proj: Project, status: Status) -> int:
    if not status.behind:
        print(f"{proj.name} is up to date: template {status.current}, latest {status.latest}.")
        return Exit.OK
    print(
        f"{proj.name} is at template {status.current}; {status.latest} is available: "
        "run `dlstart update`."
    )
    return Exit.UPDATE_AVAILABLE


def report_notices(notices: list[str]) -> None:
    """Each notice of a release crossed: its heading, then its paragraph, at 80 columns."""
    from dlstart.questions import NOTES_FILE

    if not notices:
        return
    print(f"Not changed for you (also added to {NOTES_FILE}: commit it with the update):")
    for notice in notices:
        heading, _, body = notice.partition("\n")
        print(f"  {heading.removeprefix('## ')}:")
        print(
            textwrap.fill(
                " ".join(body.split()),
                80,
                initial_indent="    ",
                subsequent_indent="    ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        )


def report_outcome(proj: Project, repo: TemplateRepo, outcome: Outcome) -> int:
    if outcome.old == outcome.new and not outcome.changes:
        print(f"{proj.name} is up to date with template {outcome.new}: nothing to do.")
        return Exit.OK
    if outcome.old == outcome.new:
        print(f"Regenerated {proj.name} at template {outcome.new} with the new answers:")
    else:
        print(f"Updated {proj.name} from template {outcome.old} to {outcome.new} ({repo.where}):")
    for change in outcome.changes:
        print(f"  {change.kind:<9} {change.path}")
    for path in outcome.kept_owned:
        print(f"Kept {path}: it is yours, though {outcome.new} no longer ships it.")
    for path in outcome.kept_edited:
        print(f"Kept {path}: {outcome.new} no longer ships it, but you had edited it.")
    if any(change.kind == "deleted" for change in outcome.changes):
        print("Deleted files stay in git history: `git show HEAD:<path>` prints one.")
    if outcome.unresolved:
        print(f"{len(outcome.unresolved)} to resolve before committing:")
        for path, what in outcome.unresolved.items():
            print(f"  {path}: {what}")
        print(
            "In each conflicted file keep what you want between `<<<<<<< before updating` and "
            "`>>>>>>> after updating`, then `git add` it."
        )
    report_notices(outcome.notices)
    print(
        "Review with `git diff`, then: "
        f'git add -A && git commit -m "Update to dlstart template {outcome.new}"'
    )
    return Exit.CONFLICTS if outcome.unresolved else Exit.OK
