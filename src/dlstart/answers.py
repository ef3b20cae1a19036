"""A project's recorded answers: the `.copier-answers.yml` file, and `--data key=value` changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dlstart.errors import Refused, UsageError
from dlstart.questions import ANSWER_NAMES, ANSWERS_FILE, question


def read(project: Path) -> dict[str, Any] | None:
    """The answers file's content ({} for a comment-only placeholder), None when it is absent."""
    path = project / ANSWERS_FILE
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise Refused(f"{path} is not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise Refused(f"{path} should hold a mapping of answers")
    return data


def parse_data(items: list[str]) -> dict[str, str]:
    """`key=value` strings as a dict, refusing keys that are not template questions."""
    data: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--data {item!r}: expected key=value")
        if key not in ANSWER_NAMES:
            raise UsageError(f"--data {key}: unknown question (one of {', '.join(ANSWER_NAMES)})")
        data[key] = value
    return data


def typed(framework: str, key: str, value: Any, origin: str = "--data") -> Any:
    """`value` as the `framework` template's question `key` takes it, or a UsageError."""
    if key == "framework":
        return question(key).check(value, origin)
    return question(key).check(value, origin, framework)
