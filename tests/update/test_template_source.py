"""Where `update` and `adopt` read the templates: the mirror standing in for the canonical URL."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from update_helpers import ROOT, TemplateHistory

from dlstart.questions import CANONICAL_TEMPLATE_URL
from dlstart.template_repo import TemplateRepo, git_redirect_env, parse_version
from dlstart.template_source import for_project


def test_redirect_makes_git_read_the_checkout_for_the_canonical_url(
    history: TemplateHistory,
) -> None:
    env = git_redirect_env(history.path)
    tags = subprocess.run(
        ["git", "ls-remote", "--tags", CANONICAL_TEMPLATE_URL],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "refs/tags/v0.1.0" in tags and "refs/tags/v0.2.0" in tags


def test_redirect_keeps_git_config_entries_already_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.autocrlf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "false")

    env = git_redirect_env(Path("/srv/dlstart"))

    assert env == {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_1": "url./srv/dlstart.insteadOf",
        "GIT_CONFIG_VALUE_1": CANONICAL_TEMPLATE_URL,
    }


def test_the_checkout_dlstart_runs_from_stands_in_for_the_canonical_url(
    tmp_path: Path,
) -> None:
    repo = for_project(None, CANONICAL_TEMPLATE_URL)
    assert repo.url == CANONICAL_TEMPLATE_URL
    assert repo.local == tmp_path / "cache" / "dlstart" / "templates.git"
    assert repo.current in repo.releases and str(ROOT) in repo.where
    fork = "https://example.org/someone/dlstart.git"
    assert for_project(None, fork) == TemplateRepo(fork)


def test_a_checkout_provides_its_tags_and_its_head(history: TemplateHistory) -> None:
    repo = for_project(history.path, CANONICAL_TEMPLATE_URL)
    assert list(repo.releases) == ["v0.1.0", "v0.2.0"]
    assert repo.latest() == "v0.2.0" and repo.uncommitted == []


def test_releases_sort_by_version_and_skip_pre_releases_as_latest(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "--quiet"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "--quiet", "--allow-empty", "-m", "x"], cwd=repo, check=True)
    for tag in ("v0.10.0", "v0.9.0", "v0.11.0rc1", "nightly"):
        subprocess.run(["git", "tag", tag], cwd=repo, check=True)

    source = TemplateRepo(CANONICAL_TEMPLATE_URL, repo)

    assert list(source.releases) == ["v0.9.0", "v0.10.0", "v0.11.0rc1"]
    assert source.latest() == "v0.10.0"
    assert source.release("0.9.0") == "v0.9.0"
    assert parse_version("v0.2.0-3-gabc1234") > parse_version("v0.2.0")
