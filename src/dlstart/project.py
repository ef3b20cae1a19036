"""A generated project on disk, as `update`, `adopt` and `doctor` see it: the one `Project`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlstart import answers, git
from dlstart.errors import Refused, listing
from dlstart.questions import ANSWERS_FILE


@dataclass(frozen=True)
class Project:
    path: Path
    answers: dict[str, Any] | None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def version(self) -> str | None:
        """The template release the project was generated or last updated from."""
        return (self.answers or {}).get("_commit")

    @property
    def src_path(self) -> str | None:
        return (self.answers or {}).get("_src_path")

    @property
    def framework(self) -> str | None:
        return (self.answers or {}).get("framework")


def load(path: Path) -> Project:
    path = path.expanduser().resolve()
    if not path.is_dir():
        raise Refused(f"{path}: no such project folder")
    return Project(path, answers.read(path))


def require_versioned(project: Project) -> None:
    """Refuse a project whose answers file does not say which template release it came from."""
    if project.answers is None:
        raise Refused(
            f"{project.path} is not a dlstart project: it has no {ANSWERS_FILE}.\n"
            "A project baked with plain cookiecutter: run `dlstart adopt` in it first."
        )
    if not project.version or not project.src_path:
        raise Refused(
            f"{project.path}/{ANSWERS_FILE} records no template version "
            "(a project baked with cookiecutter?): run `dlstart adopt` first."
        )


def require_clean_git(project: Project) -> None:
    """Refuse a project outside git, or one with uncommitted changes a merge could mix up."""
    if git.toplevel(project.path) is None:
        raise Refused(
            f"{project.path} is not in a git repository; updates are merges that git records.\n"
            "  git init && git add -A && git commit -m 'Start'"
        )
    dirty = git.changes(project.path)
    if dirty:
        listed = listing([f"  {c.code} {c.path}" for c in dirty], "\n")
        raise Refused(
            f"{project.path} has uncommitted changes; nothing was changed:\n{listed}\n"
            "Commit them (or `git stash -u`) first, so the update can never mix with your work."
        )
