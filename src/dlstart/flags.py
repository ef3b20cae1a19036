"""The answers given on the command line: a flag per question (from the question table) and
`--answers FILE`, checked before any question is asked."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dlstart.errors import UsageError
from dlstart.questions import QUESTIONS, Question, question

NEW_KEYS = tuple(q.name for q in QUESTIONS if q.flag)
RECOMMEND_KEYS = ("goal", "hardware", "experience", "python_version")


def flag_help(q: Question) -> str:
    """The flag's --help: the question's explanation, choices, scope and default."""
    notes = []
    if q.list_choices:
        notes.append("; ".join(f"{key}: {text}" for key, text in q.choices.items()))
    elif q.choices:
        notes.append(f"one of {', '.join(q.choices)}")
    if q.follows:
        notes.append(f"only with --hardware {' or '.join(q.follows)}")
    default = q.default_help or q.default
    if isinstance(default, str) and not (q.default_help or q.choices):
        default = repr(default)  # free text, quoted
    if default is not None:
        notes.append(f"default: {default}")
    return q.explain + (f" ({'; '.join(notes)})" if notes else "")


def add_options(
    parser: argparse.ArgumentParser, keys: tuple[str, ...], helps: dict[str, str] | None = None
) -> None:
    """The flags of `keys` (with `helps` replacing their usual help), plus --answers and --yes."""
    helps = helps or {}
    group = parser.add_argument_group("answers (asked on a terminal when not given)")
    for key in keys:
        q = question(key)
        kind: dict[str, Any] = {"choices": q.choices or None}
        if q.type == "int":
            kind = {"type": _count}
        elif q.multiselect:  # comma-separated, checked by the question
            kind = {}
        metavar = q.metavar or q.flag.removeprefix("--").upper()
        group.add_argument(
            q.flag, dest=key, metavar=metavar, help=helps.get(key, flag_help(q)), **kind
        )
    group.add_argument(
        "--answers",
        metavar="FILE",
        type=Path,
        help=f"YAML file of answers with the keys {', '.join(keys)}; flags override it",
    )
    group.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help=helps.get("yes", "ask nothing: take the defaults and the recommended framework"),
    )


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def given_answers(args: argparse.Namespace, keys: tuple[str, ...]) -> dict[str, Any]:
    """The answers given by --answers FILE and the flags (which win), each checked."""
    given: dict[str, Any] = {}
    if args.answers is not None:
        given = read_answers_file(args.answers, keys)
    for key in keys:
        if getattr(args, key) is not None:
            given[key] = question(key).check(getattr(args, key), question(key).flag)
    return given


def read_answers_file(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"--answers {path}: cannot read it ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise UsageError(f"--answers {path}: not valid YAML ({error})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"--answers {path}: expected a mapping of answers, like 'task: text'")
    unknown = sorted(set(map(str, data)) - set(keys))
    if unknown:
        raise UsageError(
            f"--answers {path}: unknown {', '.join(unknown)}; known: {', '.join(keys)}"
        )
    return {key: question(key).check(value, f"--answers {path}") for key, value in data.items()}
