"""Fixtures for the tests of `dlstart update`, `adopt` and migrations (see update_helpers)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from update_helpers import TemplateHistory, generate, write_v1, write_v2


@pytest.fixture(scope="session", autouse=True)
def git_identity() -> Iterator[None]:
    """Commits under a fixed identity, without the user's or the system's git config."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GIT_CONFIG_GLOBAL", os.devnull)
        env.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for role in ("AUTHOR", "COMMITTER"):
            env.setenv(f"GIT_{role}_NAME", "Test")
            env.setenv(f"GIT_{role}_EMAIL", "test@example.com")
        yield


@pytest.fixture(autouse=True)
def copier_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache of template clones per test, so tests never share copier's mirror."""
    monkeypatch.setenv("COPIER_CACHE_DIR", str(tmp_path / "copier-cache"))


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> TemplateHistory:
    """Releases v0.1.0 and v0.2.0: v2 edits docs/*.md and the model, drops configs/example.yaml,
    docs/legacy.md and docs/obsolete.md."""
    repo = TemplateHistory(tmp_path_factory.mktemp("templates"))
    write_v1(repo)
    repo.release("v0.1.0")
    write_v2(repo)
    repo.release("v0.2.0")
    return repo


@pytest.fixture
def project(history: TemplateHistory, tmp_path: Path) -> Path:
    """A project generated from v0.1.0, committed."""
    return generate(history, tmp_path / "demo", "v0.1.0")
