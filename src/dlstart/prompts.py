"""Questions on the terminal (questionary), behind the `Asker` protocol tests replace."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Option:
    value: str
    title: str
    disabled: str | None = None


class Asker(Protocol):
    """Asks one question on the terminal."""

    def text(self, message: str, default: str, validate: Callable[[str], str | None]) -> str: ...

    def select(self, message: str, options: list[Option], default: str) -> str: ...

    def count(self, message: str, default: int) -> int: ...

    def checkbox(self, message: str, options: list[Option], default: list[str]) -> list[str]: ...


class TerminalAsker:
    """Questions with questionary; Ctrl-C or Ctrl-D raises KeyboardInterrupt."""

    def text(self, message: str, default: str, validate: Callable[[str], str | None]) -> str:
        import questionary

        prompt = questionary.text(message, default=default, validate=lambda v: validate(v) or True)
        return self._ask(prompt)

    def select(self, message: str, options: list[Option], default: str) -> str:
        import questionary

        choices = [questionary.Choice(o.title, o.value, disabled=o.disabled) for o in options]
        return self._ask(questionary.select(message, choices, default=default))

    def checkbox(self, message: str, options: list[Option], default: list[str]) -> list[str]:
        import questionary

        choices = [
            questionary.Choice(o.title, o.value, checked=o.value in default) for o in options
        ]
        return self._ask(questionary.checkbox(message, choices, instruction="(space to select)"))

    def count(self, message: str, default: int) -> int:
        def problem(text: str) -> str | None:
            return None if text.isdigit() and int(text) >= 1 else "a whole number of at least 1"

        return int(self.text(message, str(default), problem))

    @staticmethod
    def _ask(prompt: Any) -> Any:
        try:
            return prompt.unsafe_ask()
        except EOFError:
            raise KeyboardInterrupt from None


def on_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()
