"""The few git operations dlstart needs on a user's project."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dlstart.errors import UserError

CONFLICT_CODES = {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}


def git(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    if shutil.which("git") is None:
        raise UserError("git is not installed: dlstart needs it to version templates and projects")
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise subprocess.CalledProcessError(
            result.returncode, result.args, result.stdout, result.stderr
        )
    return result


def toplevel(path: Path) -> Path | None:
    """The root of the git work tree holding `path`, or None outside git."""
    result = git("rev-parse", "--show-toplevel", cwd=path, check=False)
    return Path(result.stdout.strip()) if result.returncode == 0 else None


def is_repo_root(path: Path) -> bool:
    top = toplevel(path)
    return top is not None and top.resolve() == path.resolve()


@dataclass(frozen=True)
class Change:
    code: str
    path: str

    @property
    def kind(self) -> str:
        if self.code in CONFLICT_CODES:
            return "conflict"
        if self.code == "??" or "A" in self.code:
            return "added"
        if "D" in self.code:
            return "deleted"
        return "modified"


def changes(project: Path) -> list[Change]:
    """Uncommitted changes under `project`, untracked files included, paths relative to it."""
    out = git(
        "status",
        "--porcelain",
        "-z",
        "--untracked-files=all",
        "--no-renames",
        "--",
        ".",
        cwd=project,
    ).stdout
    prefix = git("rev-parse", "--show-prefix", cwd=project).stdout.strip()
    return [Change(entry[:2], entry[3:].removeprefix(prefix)) for entry in out.split("\0") if entry]


def restore(project: Path) -> None:
    """Put `project` back to its last commit: index, work tree, and files git did not track."""
    git("restore", "--source=HEAD", "--staged", "--worktree", "--", ".", cwd=project)
    git("clean", "-fdq", "--", ".", cwd=project)


def restore_paths(project: Path, paths: list[str]) -> None:
    if paths:
        git("restore", "--source=HEAD", "--staged", "--worktree", "--", *paths, cwd=project)


def deleted_matching(project: Path, patterns: tuple[str, ...]) -> list[str]:
    """Tracked files under `project` missing from the work tree that match gitignore-style
    `patterns` (each anchored at `project`; `!` excludes)."""
    pathspecs = [f":(exclude){p[1:]}" if p.startswith("!") else f":(glob){p}" for p in patterns]
    out = git("ls-files", "--deleted", "--", *pathspecs, cwd=project).stdout
    return sorted(set(out.splitlines()))
