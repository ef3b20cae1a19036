"""How every command ends: its exit status by kind of outcome, and the one error line it prints.

A command raises one of the errors below for anything it cannot do; `cli.main` prints it as
`dlstart COMMAND: error: MESSAGE` (no traceback) and exits with the error's status. The table
is `EXIT_STATUSES`; `dlstart --help` and the README print it.
"""

from __future__ import annotations

import sys
import textwrap
from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    REFUSED = 3
    CONFLICTS = 4
    UPDATE_AVAILABLE = 5
    INTERRUPTED = 130


EXIT_STATUSES = {
    Exit.OK: "done (update --check: up to date)",
    Exit.FAILED: "failed while working (doctor: a check failed); the message says what is left",
    Exit.USAGE: "bad command line, answer or name; nothing was written",
    Exit.REFUSED: "refused as things stand (folder not empty, uncommitted changes, unknown "
    "template version); nothing was written",
    Exit.CONFLICTS: "update: merged, with conflicts left to resolve",
    Exit.UPDATE_AVAILABLE: "update --check: a newer template version exists",
    Exit.INTERRUPTED: "interrupted (Ctrl-C); the message says what is left",
}


def exit_status_help() -> str:
    """The table for `--help`, within 80 columns."""
    lines = ["exit status:"]
    for status, text in EXIT_STATUSES.items():
        lines += textwrap.wrap(
            text, 79, initial_indent=f"  {int(status):>3}  ", subsequent_indent=" " * 7
        )
    return "\n".join(lines)


class DlstartError(Exception):
    """Something a command could not do; the message says what and what to do about it."""

    status = Exit.FAILED


class UsageError(DlstartError):
    """A bad flag, answer, value or name: the user fixes the command line."""

    status = Exit.USAGE


class Refused(DlstartError):
    """A valid request refused in the current state (of a folder, a project, a repository)."""

    status = Exit.REFUSED


class Failed(DlstartError):
    """The work failed midway; the message says what was left behind."""

    status = Exit.FAILED


class Interrupted(DlstartError):
    """Ctrl-C; the message says what was left (nothing, or something complete)."""

    status = Exit.INTERRUPTED


MAX_LISTED = 10


def listing(items: list[str], separator: str = ", ") -> str:
    """At most `MAX_LISTED` items for a message, and how many more there are."""
    more = len(items) - MAX_LISTED
    shown = separator.join(items[:MAX_LISTED])
    return shown + (f"{separator.rstrip()} and {more} more" if more > 0 else "")


def report(command: str | None, message: str, status: Exit = Exit.FAILED) -> None:
    """The one line (and any lines of advice the message holds) an error ends a command with."""
    prefix = f"dlstart {command}" if command else "dlstart"
    kind = "" if status == Exit.INTERRUPTED else "error: "
    print(f"{prefix}: {kind}{message}", file=sys.stderr)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
