"""The wheel ships every template file, and `dlstart new` works from it (no git checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from dlstart import __version__

from .conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    return next(out.glob("dlstart-*.whl"))


def test_wheel_holds_every_template_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = ["copier.yml"]
    for folder in ("templates", "hooks"):
        for root, dirs, files in os.walk(ROOT / folder, followlinks=True):  # the hooks/ links
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            shipped += [(Path(root) / f).relative_to(ROOT).as_posix() for f in files]
    assert "templates/pytorch/hooks/pre_gen_project.py" in shipped
    assert [path for path in shipped if f"dlstart/template_root/{path}" not in names] == []


def test_new_and_update_from_the_wheel(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site), "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def dlstart(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dlstart", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True,
        )  # fmt: skip

    result = dlstart("new", "demo", "--yes", "--framework", "tensorflow")
    assert result.returncode == 0, result.stderr
    answers = yaml.safe_load((tmp_path / "demo" / ".copier-answers.yml").read_text())
    assert (answers["_commit"], answers["framework"]) == (f"v{__version__}", "tensorflow")
    assert (tmp_path / "cache" / "dlstart" / "templates.git" / "HEAD").is_file()
    result = dlstart("update", "demo", "--check")
    assert result.returncode == 0, result.stderr
    assert f"up to date: template v{__version__}" in result.stdout
