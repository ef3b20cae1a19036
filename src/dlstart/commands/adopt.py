"""`dlstart adopt`: record the template release and answers of a project baked by cookiecutter."""

from __future__ import annotations

import argparse

from dlstart.commands._shared import (
    WrappingHelpFormatter,
    add_data_option,
    add_project_argument,
    add_template_option,
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "adopt",
        help="make a project baked with plain cookiecutter updatable",
        description=(
            "Write the .copier-answers.yml that `dlstart update` needs into a project baked "
            "with plain cookiecutter: the answers (read from the placeholder cookiecutter "
            "wrote and from the project's layout, or given with --data) and the template "
            "release it was baked from (given with --version, or detected as the release "
            "whose files match the project best)."
        ),
        formatter_class=WrappingHelpFormatter,
    )
    add_project_argument(parser)
    parser.add_argument(
        "--version",
        metavar="VERSION",
        help="the template release the project was baked from, e.g. v0.2.0 "
        "(default: detect it by rendering each release and comparing)",
    )
    add_data_option(
        parser,
        "an answer the project does not show, e.g. --data task=text (repeatable)",
    )
    add_template_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dlstart import answers, project, template_source
    from dlstart.adopt import adopt
    from dlstart.errors import listing
    from dlstart.questions import ANSWERS_FILE

    proj = project.load(args.path)
    repo = template_source.for_project(args.template, None)
    adoption = adopt(proj, repo, args.version, answers.parse_data(args.data))
    found = adoption.comparison
    settings = ", ".join(f"{k} {adoption.answers[k]}" for k in ("framework", "task", "hardware"))
    print(f"Adopted {proj.name} as template {found.version} ({settings}).")
    print(f"  {len(found.same)} template files match the project exactly.")
    if found.differ:
        print(f"  {len(found.differ)} differ (your edits, kept): {listing(found.differ)}")
    if found.missing:
        print(f"  {len(found.missing)} are missing from the project: {listing(found.missing)}")
    if adoption.assumed:
        print(f"  Assumed the defaults for {', '.join(adoption.assumed)} (--data to set them).")
    print(
        f"Wrote {ANSWERS_FILE}. Commit it, then `dlstart update` works:\n"
        f'  git add {ANSWERS_FILE} && git commit -m "Record the dlstart template release"'
    )
    return 0
