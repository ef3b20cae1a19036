"""A versioned template repository as copier reads it: its versions, and copier runs on it.

A version is a git tag that parses as one (`v0.2.0`, `v0.2.0.post3+gabc1234`). Projects record
the repository's URL (`_src_path`) and the version they were generated or last updated from
(`_commit`). The mirror of `mirror.py` stands in for the canonical URL through a git redirect,
so the answers file never holds a path of one machine. `template_source.py` decides which
repository a command reads.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from dlstart import git
from dlstart.errors import Failed, Refused
from dlstart.questions import CANONICAL_TEMPLATE_URL

DESCRIBED = re.compile(r"^(?P<tag>.+)-(?P<count>\d+)-g(?P<hash>[0-9a-f]+)$")


def parse_version(ref: str) -> Version | None:
    """The version of a tag or of `git describe` output (`v0.2.0-3-gabc1234`), as copier
    reads them."""
    match = DESCRIBED.match(ref)
    text = f"{match['tag']}.post{match['count']}+g{match['hash']}" if match else ref
    try:
        return Version(text)
    except InvalidVersion:
        return None


@dataclass(frozen=True)
class TemplateRepo:
    """The repository at `url`, or `local` standing in for it (the mirror); `current` is the
    version the local templates provide, the default target of an update."""

    url: str
    local: Path | None = None
    current: str | None = None
    label: str = ""
    uncommitted: list[str] = field(default_factory=list)
    fetch_missing: bool = False

    @property
    def where(self) -> str:
        return self.label or self.url

    @property
    def env(self) -> dict[str, str]:
        return git_redirect_env(self.local, self.url) if self.local else {}

    @cached_property
    def releases(self) -> dict[str, Version]:
        """Tags that are versions, and their versions, oldest first."""
        try:
            out = git.run(
                "ls-remote", "--tags", "--refs", "--", self.url, cwd=Path.cwd(), env=self.env
            ).stdout
        except subprocess.CalledProcessError as error:
            raise Failed(self._unreachable(error.stderr)) from error
        tags = (line.split("\t", 1)[1].removeprefix("refs/tags/") for line in out.splitlines())
        versions = {tag: parse_version(tag) for tag in tags}
        found = {tag: version for tag, version in versions.items() if version is not None}
        return dict(sorted(found.items(), key=lambda item: item[1]))

    def _unreachable(self, git_error: str) -> str:
        reason = git_error.strip().splitlines()[-1] if git_error.strip() else "no answer"
        if self.local:
            return f"cannot read the template cache {self.local}: {reason}"
        return (
            f"cannot reach the template repository {self.url} ({reason}).\n"
            "Offline? Clone it once while online, then point dlstart at the clone:\n"
            f"  git clone {self.url} dlstart-templates\n"
            "  dlstart update --template dlstart-templates"
        )

    def latest(self) -> str:
        """The version the local templates provide, else the newest final release."""
        if self.current:
            return self.current
        final = [tag for tag, version in self.releases.items() if not version.is_prerelease]
        if not final:
            raise Refused(f"{self.where} has no release tags (such as v0.1.0)")
        return final[-1]

    def release(self, version: str) -> str:
        """The tag of `version` ("v0.2.0" or "0.2.0"), or an error listing the releases."""
        wanted = parse_version(version)
        for tag, found in self.releases.items():
            if tag == version or (wanted is not None and found == wanted):
                return tag
        known = ", ".join(self.releases) or "none"
        raise Refused(f"unknown template version {version!r} in {self.where} (versions: {known})")

    def require(self, version: str) -> None:
        """Make sure `version`, a project's merge base, can be read: the mirror fetches it from
        the project's URL when this machine never had it."""
        if version in self.releases:
            return
        if self.local is not None and self.fetch_missing:
            try:
                git.run(
                    "fetch", "--quiet", "--no-tags", "--", self.url,
                    f"refs/tags/{version}:refs/tags/{version}",
                    cwd=self.local, env={"GIT_DIR": str(self.local)},
                )  # fmt: skip
            except subprocess.CalledProcessError:
                pass
            else:
                self.__dict__.pop("releases", None)
                return
        raise Refused(
            f"template version {version} is in neither {self.where} nor this machine's cache "
            f"(versions: {', '.join(self.releases) or 'none'}): update with --template PATH, a "
            "checkout that has it (`git fetch --tags` in it), or on the machine that generated "
            "the project"
        )

    @contextmanager
    def active(self) -> Iterator[None]:
        """Make copier (and its git calls through plumbum) read this repository."""
        with environment({**self.env, "GIT_TERMINAL_PROMPT": "0"}):
            yield

    def copy(
        self, dest: Path, version: str, data: Mapping[str, Any], *, tasks: bool = False
    ) -> None:
        """Render `version` with `data` into `dest`."""
        import copier

        with self.active():
            copier.run_copy(
                self.url,
                dest,
                data=dict(data),
                vcs_ref=version,
                defaults=True,
                overwrite=True,
                quiet=True,
                unsafe=True,
                skip_tasks=not tasks,
            )


def git_redirect_env(local_repo: Path, url: str = CANONICAL_TEMPLATE_URL) -> dict[str, str]:
    """Environment variables under which git fetches `url` (the canonical one) from `local_repo`.

    Generated projects record the canonical URL; with these, `copier update` reads the local
    templates instead (git's `url.<local>.insteadOf=<canonical>`). They are appended after any
    `GIT_CONFIG_*` entries already in the environment.
    """
    index = int(os.environ.get("GIT_CONFIG_COUNT", "0"))
    return {
        "GIT_CONFIG_COUNT": str(index + 1),
        f"GIT_CONFIG_KEY_{index}": f"url.{local_repo.resolve()}.insteadOf",
        f"GIT_CONFIG_VALUE_{index}": url,
    }


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for this process and for plumbum, which copier runs git
    through and which snapshots the environment when first imported."""
    from plumbum import local

    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        with local.env(**env):
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
