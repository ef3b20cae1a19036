"""Template migration: a notice of what an update could not change in the project for the user.

`dlstart update` (copier) runs it once, from the project root, after merging a release that
lists it in `_migrations` (written from `Migration.notice` in `src/dlstart/questions.py`):

    python migrations/notice.py --notes UPDATE-NOTES.md TEXT

It appends TEXT under a heading naming the release (`VERSION_CURRENT`, which copier sets) to the
notes file at the project root, which the user commits with the update, so the notice outlives the
terminal's scrollback. `{package_name}`, `{framework}`, `{task}` in TEXT become the project's
answers (read from `.copier-answers.yml`). Run by `dlstart update` (`DLSTART_UPDATE` set), it
prints nothing: dlstart prints the new notices after its summary. Under plain `copier update` it
prints the notice too. A notice already in the file is not added again.
Standard library only: it runs in the Python that runs copier.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from pathlib import Path

from rename import answer  # this folder, as copier runs the script by its path

TITLE = (
    "# Update notes\n\n"
    "What template updates could not change in this project for you, one note per release that\n"
    "needed one. Act on each, then keep this file or delete it.\n"
)
PLACEHOLDER = re.compile(r"\{(package_name|framework|task)\}")


def entry(version: str, text: str) -> str:
    """The notice as the notes file holds it: a heading, then the paragraph wrapped."""
    filled = PLACEHOLDER.sub(lambda m: answer(m[1]) or m[0], " ".join(text.split()))
    body = textwrap.fill(filled, width=96, break_long_words=False, break_on_hyphens=False)
    return f"## Template {version}\n\n{body}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", default="UPDATE-NOTES.md", help="the notes file")
    parser.add_argument("text", help="the notice: one paragraph")
    args = parser.parse_args(argv)
    note = entry(os.environ.get("VERSION_CURRENT") or "update", args.text)
    notes = Path(args.notes)
    existing = notes.read_text(encoding="utf-8") if notes.is_file() else ""
    if note in existing:
        return 0
    if not existing:
        existing = TITLE
    notes.write_text(f"{existing.rstrip()}\n\n{note}", encoding="utf-8")
    if not os.environ.get("DLSTART_UPDATE"):
        print(f"{note}(added to {notes.as_posix()}: commit it with the update)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
