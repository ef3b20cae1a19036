"""A project's answers: the `.copier-answers.yml` file and `--data key=value` changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dlstart.errors import UserError
from dlstart.questions import ANSWERS_FILE, FRAMEWORKS, QUESTIONS

QUESTION_NAMES = ("framework", *(q.name for q in QUESTIONS))


def read(project: Path) -> dict[str, Any] | None:
    """The answers file's content ({} for a comment-only placeholder), None when it is absent."""
    path = project / ANSWERS_FILE
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path} should hold a mapping of answers")
    return data


def parse_data(items: list[str]) -> dict[str, str]:
    """`key=value` strings as a dict, refusing keys that are not template questions."""
    data: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--data {item!r}: expected key=value")
        if key not in QUESTION_NAMES:
            raise UserError(f"--data {key}: unknown question (one of {', '.join(QUESTION_NAMES)})")
        data[key] = value
    return data


def typed(framework: str, key: str, value: Any) -> Any:
    """`value` as the question `key` of the `framework` template expects it, or a UserError."""
    if key == "framework":
        if value not in FRAMEWORKS:
            raise UserError(f"framework {value!r}: one of {', '.join(FRAMEWORKS)}")
        return value
    question = next(q for q in QUESTIONS if q.name == key)
    if question.type == "int":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise UserError(f"{key} must be a whole number, not {value!r}") from None
    value = str(value)
    choices = question.choices_for(framework)
    if choices and value not in choices:
        raise UserError(f"{key} {value!r}: the {framework} template offers {', '.join(choices)}")
    return value
