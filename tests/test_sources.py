from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dlstart import __version__, sources
from dlstart.errors import UserError
from dlstart.questions import CANONICAL_TEMPLATE_URL

from .conftest import ROOT


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return result.stdout.strip()


@pytest.fixture
def installed_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The template root as a wheel installs it: the same files, no git repository."""
    root = tmp_path / "site-packages" / "dlstart" / "template_root"
    root.mkdir(parents=True)
    shutil.copy2(ROOT / "copier.yml", root)
    for folder in ("templates", "hooks"):  # symlinks become copies, as in a wheel
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(sources, "template_root", lambda: root)
    return root


def test_template_root_of_a_checkout_holds_the_templates() -> None:
    root = sources.template_root()
    assert root == ROOT
    assert (root / "copier.yml").is_file() and (root / "hooks" / "dlstart_hooks.py").is_file()
    assert {p.name for p in (root / "templates").iterdir()} >= {"pytorch", "tensorflow", "jax"}


def test_hooks_are_the_template_roots() -> None:
    hooks = sources.load_hooks()
    assert Path(hooks.__file__) == ROOT / "hooks" / "dlstart_hooks.py"
    assert hooks.check_names("torch", "torch") is not None


def test_checkout_is_used_at_its_head() -> None:
    assert sources.default_source() == sources.TemplateSource(str(ROOT), "HEAD")


def test_installed_root_becomes_a_tagged_repository_once(
    installed_root: Path, tmp_path: Path
) -> None:
    source = sources.default_source()
    repo = Path(source.src)
    assert repo == tmp_path / "cache" / "dlstart" / f"template-v{__version__}"
    assert source.vcs_ref == f"v{__version__}"
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "describe", "--tags") == f"v{__version__}"
    assert (repo / "templates" / "pytorch" / "copier.yml").is_file()
    (repo / "marker").write_text("reused, not rebuilt")
    assert sources.default_source() == source and (repo / "marker").exists()


def test_materialized_versions_are_the_same_commit_everywhere(
    installed_root: Path, tmp_path: Path
) -> None:
    first = sources.materialize(installed_root, "9.9.9", tmp_path / "a")
    second = sources.materialize(installed_root, "9.9.9", tmp_path / "b")
    assert git(first, "rev-parse", "HEAD") == git(second, "rev-parse", "HEAD")


def test_installed_templates_record_the_version_tag(
    installed_root: Path, dlstart, isolated: Path
) -> None:
    result = dlstart("new", "demo", "--yes", "--framework", "pytorch", "--task", "tabular")
    assert result.code == 0, result.err
    answers = yaml.safe_load((isolated / "demo" / ".copier-answers.yml").read_text())
    assert answers["_commit"] == f"v{__version__}"
    assert answers["_src_path"] == CANONICAL_TEMPLATE_URL
    assert answers["task"] == "tabular"


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert sources.cache_dir() == tmp_path / "xdg" / "dlstart"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert sources.cache_dir() == tmp_path / "home" / ".cache" / "dlstart"


def test_template_urls_go_to_copier_as_given() -> None:
    for url in ("https://example.com/t.git", "gh:someone/templates", "git@host:x/y.git"):
        assert sources.resolve_source(url) == sources.TemplateSource(url, None)


def test_local_template_must_be_a_git_root_with_copier_yml(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(UserError, match=r"no copier\.yml"):
        sources.resolve_source(str(plain))
    (plain / "copier.yml").write_text("x: 1\n")
    with pytest.raises(UserError, match="not the root of a git repository"):
        sources.resolve_source(str(plain))
    git(plain, "init", "--quiet")
    assert sources.resolve_source(str(plain)) == sources.TemplateSource(str(plain), None)


def test_git_redirect_env_fetches_the_canonical_url_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "templates"
    repo.mkdir()
    git(repo, "init", "--quiet")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "one")
    git(repo, "tag", "v1.2.3")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.name")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "kept")
    env = sources.git_redirect_env(repo)
    assert env["GIT_CONFIG_COUNT"] == "2"
    tags = git(tmp_path, "ls-remote", "--tags", CANONICAL_TEMPLATE_URL, env=env)
    assert tags.endswith("refs/tags/v1.2.3")
    assert git(tmp_path, "config", "user.name", env=env) == "kept"
