"""The generated parts of the templates are up to date with their sources."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT


def sync_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "tools" / "sync_templates.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=root,
    )


def test_sync_templates_check_passes() -> None:
    result = sync_check(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sync_templates_check_finds_a_stale_copy(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    for name in ("src", "hooks", "templates", "tools"):
        shutil.copytree(ROOT / name, copy / name, symlinks=True)
    shutil.copy2(ROOT / "copier.yml", copy)
    readme = copy / "templates" / "_shared" / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text() + "\nedited\n")
    result = sync_check(copy)
    assert result.returncode == 1
    for framework in ("pytorch", "tensorflow", "jax"):
        stale = f"templates/{framework}/{{{{cookiecutter.project_slug}}}}/README.md"
        assert f"stale: {stale}" in result.stdout
