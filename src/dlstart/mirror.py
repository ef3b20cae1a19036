"""The cache of template versions this machine has used: one bare git repository.

Each version is a tag `v<version>`: either fetched from a checkout's release tags, or one root
commit of the template files (`template_paths`) of an installed dlstart or of a checkout's work
tree. Copier reads this repository in place of the canonical URL (a git redirect), so it always
finds the version a project was generated from, for the three-way merge of `dlstart update`,
whatever the install: a wheel, a git URL, or a checkout with or without tags.

A version's commit has a fixed author, date and message, so the same files make the same commit
on every machine.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dlstart import git

TEMPLATE_PATHS = ("copier.yml", "hooks", "migrations", "templates")


def template_paths(root: Path) -> tuple[str, ...]:
    """What of `root` makes the templates: `TEMPLATE_PATHS` in dlstart's layout (so that edits
    to dlstart's own code make no new version), else everything."""
    if (root / "templates").is_dir() and (root / "hooks").is_dir():
        return tuple(name for name in TEMPLATE_PATHS if (root / name).exists())
    return (".",)


IGNORED = "__pycache__/\n*.py[cod]\n.DS_Store\n"
COMMIT_ENV = {
    "GIT_AUTHOR_NAME": "dlstart",
    "GIT_AUTHOR_EMAIL": "dlstart@users.noreply.github.com",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "dlstart",
    "GIT_COMMITTER_EMAIL": "dlstart@users.noreply.github.com",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dlstart"


@dataclass(frozen=True)
class Mirror:
    path: Path

    @classmethod
    def open(cls, cache: Path | None = None) -> Mirror:
        """The mirror under `cache` (default: `cache_dir()`), created on first use: built
        beside its place and renamed into it, so a half-made one is never used."""
        path = (cache or cache_dir()) / "templates.git"
        if not path.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=path.parent, prefix=".building-") as building:
                work = Path(building) / "templates.git"
                git.run("init", "--quiet", "--bare", str(work), cwd=path.parent)
                (work / "info").mkdir(exist_ok=True)
                (work / "info" / "exclude").write_text(IGNORED)
                try:
                    work.rename(path)
                except OSError:
                    if not path.is_dir():  # not a concurrent dlstart that got there first
                        raise
        return cls(path)

    def _git(self, *args: str, **env: str) -> str:
        return git.output(*args, cwd=self.path, env={"GIT_DIR": str(self.path), **env})

    def has(self, tag: str) -> bool:
        found = git.run(
            "rev-parse", "--quiet", "--verify", f"refs/tags/{tag}^{{commit}}",
            cwd=self.path, env={"GIT_DIR": str(self.path)}, check=False,
        )  # fmt: skip
        return found.returncode == 0

    def tags(self) -> set[str]:
        return set(self._git("tag", "--list").splitlines())

    def tree_of(self, root: Path) -> str:
        """Store the template files under `root` as they are on disk; their tree's hash."""
        paths = template_paths(root)
        with tempfile.TemporaryDirectory(prefix="dlstart-index-") as scratch:
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index"), "GIT_WORK_TREE": str(root)}
            self._git("add", "--all", "--", *paths, **env)
            return self._git("write-tree", **env)

    def tag_tree(self, tree: str, tag: str) -> None:
        """Tag a root commit of `tree` as `tag` (kept if a concurrent run made it first)."""
        commit = self._git("commit-tree", tree, "-m", f"dlstart templates {tag}", **COMMIT_ENV)
        made = git.run(
            "update-ref", f"refs/tags/{tag}", commit, "",
            cwd=self.path, env={"GIT_DIR": str(self.path)}, check=False,
        )  # fmt: skip
        if made.returncode != 0 and not self.has(tag):
            raise subprocess.CalledProcessError(made.returncode, made.args, "", made.stderr)

    def add(self, root: Path, tag: str) -> str:
        """Make `tag` the files under `root`, unless it exists; returns `tag`."""
        if not self.has(tag):
            self.tag_tree(self.tree_of(root), tag)
        return tag

    def fetch_tags(self, source: str, tags: list[str]) -> None:
        """Fetch `tags` from the repository at `source` (a path or URL), those not here yet."""
        have = self.tags()
        missing = [tag for tag in tags if tag not in have]
        if missing:
            refspecs = [f"refs/tags/{tag}:refs/tags/{tag}" for tag in missing]
            try:
                self._git("fetch", "--quiet", "--no-tags", "--", source, *refspecs)
            except subprocess.CalledProcessError:
                if not set(missing) <= self.tags():  # not a concurrent run that fetched them
                    raise
