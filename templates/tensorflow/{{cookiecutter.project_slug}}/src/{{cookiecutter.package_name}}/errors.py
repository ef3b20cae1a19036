"""Errors a user can fix, and the guard that turns them into one clear message at the CLI."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class UserError(Exception):
    """A problem with the user's input, reported without a traceback."""


class ConfigError(UserError):
    """An unknown config key, a missing one, or a value of the wrong type."""


class DataError(UserError):
    """A data file that cannot be used; the message names the file and the problem."""

    def __init__(self, source: str | Path, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = str(source)
        self.problem = problem

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return type(self), (self.source, self.problem)  # re-raised intact from loader processes


class InvalidInput(UserError):
    """A prediction request that does not fit the model's inputs."""


def exit_on_user_error(main: Callable[..., T]) -> Callable[..., T]:
    """Print a `UserError` as `error: ...` and exit with status 2 instead of a traceback."""

    @functools.wraps(main)
    def guarded(*args: object, **kwargs: object) -> T:
        try:
            return main(*args, **kwargs)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None

    return guarded
