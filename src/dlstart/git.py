"""Every git command dlstart runs: on a user's project, and on the template repositories."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dlstart.errors import Failed

CONFLICT_CODES = {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}
FALLBACK_IDENTITY = {
    "user.name": "dlstart",
    "user.email": "dlstart@users.noreply.github.com",
}


def run(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    if shutil.which("git") is None:
        raise Failed("git is not installed: dlstart needs it to version templates and projects")
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise subprocess.CalledProcessError(
            result.returncode, result.args, result.stdout, result.stderr
        )
    return result


def output(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    return run(*args, cwd=cwd, env=env).stdout.strip()


def toplevel(path: Path) -> Path | None:
    """The root of the git work tree holding `path`, or None outside git."""
    result = run("rev-parse", "--show-toplevel", cwd=path, check=False)
    return Path(result.stdout.strip()) if result.returncode == 0 else None


def is_repo_root(path: Path) -> bool:
    top = toplevel(path)
    return top is not None and top.resolve() == path.resolve()


def init_and_commit(path: Path, message: str) -> None:
    """`git init` in `path` and one commit of everything in it (an identity of its own where
    git has none configured; no hooks, no signing)."""
    run("init", "--quiet", "--initial-branch=main", cwd=path)
    run("add", "--all", cwd=path)
    identity: list[str] = []
    if not run("config", "user.email", cwd=path, check=False).stdout.strip():
        identity = [
            arg for key, value in FALLBACK_IDENTITY.items() for arg in ("-c", f"{key}={value}")
        ]
    run(*identity, "commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m", message, cwd=path)


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


def changes(project: Path, paths: tuple[str, ...] = (".",)) -> list[Change]:
    """Uncommitted changes under `project` (limited to `paths`), untracked files included,
    paths relative to it."""
    out = run(
        "status", "--porcelain", "-z", "--untracked-files=all", "--no-renames", "--", *paths,
        cwd=project,
    ).stdout  # fmt: skip
    prefix = output("rev-parse", "--show-prefix", cwd=project)
    return [Change(entry[:2], entry[3:].removeprefix(prefix)) for entry in out.split("\0") if entry]


def restore(project: Path) -> None:
    """Put `project` back to its last commit: index, work tree, and files git did not track."""
    run("restore", "--source=HEAD", "--staged", "--worktree", "--", ".", cwd=project)
    run("clean", "-fdq", "--", ".", cwd=project)


def restore_paths(project: Path, paths: list[str]) -> None:
    if paths:
        run("restore", "--source=HEAD", "--staged", "--worktree", "--", *paths, cwd=project)


def deleted_matching(project: Path, patterns: tuple[str, ...]) -> list[str]:
    """Tracked files under `project` missing from the work tree that match gitignore-style
    `patterns` (each anchored at `project`; `!` excludes)."""
    pathspecs = [f":(exclude){p[1:]}" if p.startswith("!") else f":(glob){p}" for p in patterns]
    out = run("ls-files", "--deleted", "--", *pathspecs, cwd=project).stdout
    return sorted(set(out.splitlines()))
