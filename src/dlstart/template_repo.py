"""The versioned template repository: where it is read from, its releases, and copier runs on it.

A release is a git tag that parses as a version (`v0.2.0`). Projects record the repository's URL
(`_src_path`) and the release they were generated or last updated from (`_commit`). A local
checkout (`--template PATH`, or the checkout dlstart runs from) stands in for that URL through a
git redirect, so the answers file never holds a path of one machine.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from dlstart import gitutil, sources
from dlstart.errors import UserError
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
    url: str
    local: Path | None = None

    @property
    def where(self) -> str:
        return f"the local checkout {self.local}" if self.local else self.url

    @property
    def env(self) -> dict[str, str]:
        return sources.git_redirect_env(self.local, self.url) if self.local else {}

    @cached_property
    def releases(self) -> dict[str, Version]:
        """Tags that are versions, and their versions, oldest first."""
        try:
            out = gitutil.git(
                "ls-remote", "--tags", "--refs", "--", self.url, cwd=Path.cwd(), env=self.env
            ).stdout
        except subprocess.CalledProcessError as error:
            raise UserError(self._unreachable(error.stderr)) from error
        tags = (line.split("\t", 1)[1].removeprefix("refs/tags/") for line in out.splitlines())
        versions = {tag: parse_version(tag) for tag in tags}
        found = {tag: version for tag, version in versions.items() if version is not None}
        return dict(sorted(found.items(), key=lambda item: item[1]))

    def _unreachable(self, git_error: str) -> str:
        reason = git_error.strip().splitlines()[-1] if git_error.strip() else "no answer"
        if self.local:
            return f"cannot read the template repository {self.local}: {reason}"
        return (
            f"cannot reach the template repository {self.url} ({reason}).\n"
            "Offline? Clone it once while online, then point dlstart at the clone:\n"
            f"  git clone {self.url} dlstart-templates\n"
            "  dlstart update --template dlstart-templates"
        )

    def latest(self) -> str:
        """The newest release that is not a pre-release."""
        final = [tag for tag, version in self.releases.items() if not version.is_prerelease]
        if not final:
            raise UserError(f"{self.where} has no release tags (such as v0.1.0)")
        return final[-1]

    def release(self, version: str) -> str:
        """The tag of `version` ("v0.2.0" or "0.2.0"), or a UserError listing the releases."""
        wanted = parse_version(version)
        for tag, found in self.releases.items():
            if tag == version or (wanted is not None and found == wanted):
                return tag
        known = ", ".join(self.releases) or "none"
        raise UserError(f"unknown template version {version!r} in {self.where} (releases: {known})")

    @contextmanager
    def active(self) -> Iterator[None]:
        """Make copier (and its git calls through plumbum) read this repository."""
        with environment({**self.env, "GIT_TERMINAL_PROMPT": "0"}):
            yield

    def copy(
        self, dest: Path, version: str, data: Mapping[str, Any], *, tasks: bool = False
    ) -> None:
        """Render `version` with `data` into `dest`, as `dlstart new` does (tasks: git init)."""
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


def resolve(template: Path | None, recorded_url: str | None = None) -> TemplateRepo:
    """The repository to read: `template` standing in for the project's recorded URL; else the
    checkout dlstart runs from standing in for the canonical URL; else the URL itself."""
    url = recorded_url or CANONICAL_TEMPLATE_URL
    if template is not None:
        template = template.expanduser().resolve()
        if not (gitutil.is_repo_root(template) and (template / "copier.yml").is_file()):
            raise UserError(
                f"--template {template}: not a git checkout of the dlstart templates "
                "(a repository root holding copier.yml and release tags)"
            )
        return TemplateRepo(url, template)
    root = sources.template_root()
    if url == CANONICAL_TEMPLATE_URL and gitutil.is_repo_root(root):
        return TemplateRepo(url, root)
    return TemplateRepo(url)


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
