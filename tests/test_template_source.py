"""Where `dlstart new` takes its templates from, and the mirror of template versions."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dlstart import __version__, mirror, template_source
from dlstart.errors import UsageError
from dlstart.questions import CANONICAL_TEMPLATE_URL

from .conftest import ROOT


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=os.environ
    )
    return result.stdout.strip()


@pytest.fixture
def installed_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The template root as a wheel installs it: the same files, no git repository."""
    root = tmp_path / "site-packages" / "dlstart" / "template_root"
    root.mkdir(parents=True)
    shutil.copy2(ROOT / "copier.yml", root)
    for folder in ("templates", "hooks", "migrations"):  # symlinks become copies, as in a wheel
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(template_source, "template_root", lambda: root)
    return root


def test_template_root_of_a_checkout_holds_the_templates() -> None:
    root = template_source.template_root()
    assert root == ROOT
    assert (root / "copier.yml").is_file() and (root / "hooks" / "dlstart_hooks.py").is_file()
    assert {p.name for p in (root / "templates").iterdir()} >= {"pytorch", "tensorflow", "jax"}


def test_hooks_are_the_template_roots() -> None:
    hooks = template_source.load_hooks()
    assert Path(hooks.__file__) == ROOT / "hooks" / "dlstart_hooks.py"
    assert hooks.check_names("torch", "torch") is not None


def test_an_installed_root_becomes_one_version_of_the_mirror(
    installed_root: Path, tmp_path: Path
) -> None:
    source = template_source.for_new(None)
    repo = tmp_path / "cache" / "dlstart" / "templates.git"
    assert (Path(source.src), source.vcs_ref) == (repo, f"v{__version__}")
    assert git(repo, "tag", "--list") == f"v{__version__}"
    assert git(repo, "cat-file", "-t", f"v{__version__}:templates/pytorch/copier.yml") == "blob"
    commit = git(repo, "rev-parse", f"v{__version__}")
    assert template_source.for_new(None) == source
    assert git(repo, "rev-parse", f"v{__version__}") == commit


def test_the_same_files_make_the_same_commit_everywhere(
    installed_root: Path, tmp_path: Path
) -> None:
    first = mirror.Mirror.open(tmp_path / "a")
    second = mirror.Mirror.open(tmp_path / "b")
    first.add(installed_root, "v9.9.9")
    second.add(installed_root, "v9.9.9")
    assert git(first.path, "rev-parse", "v9.9.9") == git(second.path, "rev-parse", "v9.9.9")


def test_installed_templates_record_the_version_and_the_canonical_url(
    installed_root: Path, dlstart, isolated: Path
) -> None:
    result = dlstart("new", "demo", "--yes", "--framework", "pytorch", "--task", "tabular")
    assert result.code == 0, result.err
    answers = yaml.safe_load((isolated / "demo" / ".copier-answers.yml").read_text())
    assert answers["_commit"] == f"v{__version__}"
    assert answers["_src_path"] == CANONICAL_TEMPLATE_URL
    assert answers["task"] == "tabular"


def test_checkout_versions(tmp_path: Path) -> None:
    repo = tmp_path / "checkout"
    repo.mkdir()
    git(repo, "init", "--quiet")
    for message in ("one", "two", "three"):
        git(repo, "commit", "--quiet", "--allow-empty", "-m", message)
    head = git(repo, "rev-parse", "--short=7", "HEAD")
    assert template_source.checkout_version(repo) == f"v{__version__}.post3+g{head}"
    git(repo, "tag", "v0.4.0", "HEAD~1")
    assert template_source.checkout_version(repo) == f"v0.4.0.post1+g{head}"
    git(repo, "tag", "v0.5.0")
    assert template_source.checkout_version(repo) == "v0.5.0"


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mirror.cache_dir() == tmp_path / "xdg" / "dlstart"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mirror.cache_dir() == tmp_path / "home" / ".cache" / "dlstart"


def test_template_urls_go_to_copier_as_given() -> None:
    for url in ("https://example.com/t.git", "gh:someone/templates", "git@host:x/y.git"):
        source = template_source.for_new(url)
        assert (source.src, source.vcs_ref) == (url, None)


def test_local_template_must_be_a_git_root_with_copier_yml(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(UsageError, match=r"no copier\.yml"):
        template_source.for_new(str(plain))
    (plain / "copier.yml").write_text("x: 1\n")
    with pytest.raises(UsageError, match="not the root of a git checkout"):
        template_source.for_new(str(plain))
