"""A render that fails, or is interrupted, leaves nothing behind but what was there before."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import copier
import pytest

from .conftest import tree

GENERATE = ("--yes", "--framework", "pytorch", "--task", "image")


def half_render_then(error: BaseException):
    def run_copy(src_path, dst_path, **kwargs):
        Path(dst_path, "src").mkdir(parents=True)
        Path(dst_path, "src", "half.py").write_text("written before the failure\n")
        raise error

    return run_copy


@pytest.fixture
def user_folder(isolated: Path) -> Path:
    folder = isolated / "demo"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train.csv").write_text("x,y\n1,2\n")
    (folder / "README.md").write_text("my notes\n")
    return folder


def test_failed_render_into_a_new_folder_leaves_nothing(
    dlstart, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(copier, "run_copy", half_render_then(RuntimeError("template bug")))
    result = dlstart("new", "deep/demo", *GENERATE)
    assert result.code == 1
    assert "failed to render" in result.err and "template bug" in result.err
    assert list(isolated.iterdir()) == []


def test_failed_render_keeps_an_existing_empty_folder(
    dlstart, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated / "demo").mkdir()
    monkeypatch.setattr(copier, "run_copy", half_render_then(RuntimeError("template bug")))
    assert dlstart("new", "demo", *GENERATE).code == 1
    assert [p.name for p in isolated.iterdir()] == ["demo"]
    assert list((isolated / "demo").iterdir()) == []


def test_failed_render_with_force_leaves_the_users_files_alone(
    dlstart, isolated: Path, user_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(isolated)
    monkeypatch.setattr(copier, "run_copy", half_render_then(RuntimeError("template bug")))
    assert dlstart("new", "demo", *GENERATE, "--force").code == 1
    assert tree(isolated) == before
    assert sorted(p.name for p in isolated.iterdir()) == ["demo"]


def test_a_template_error_is_reported_and_cleaned_up(dlstart, isolated: Path, tmp_path) -> None:
    template = tmp_path / "broken"
    (template / "project").mkdir(parents=True)
    (template / "copier.yml").write_text(
        "_subdirectory: project\n_templates_suffix: ''\nframework: {type: str}\n"
    )
    (template / "project" / "good.txt").write_text("fine\n")
    (template / "project" / "bad.txt").write_text("{{ framework | no_such_filter }}\n")
    for args in (["init", "--quiet"], ["add", "-A"], ["commit", "--quiet", "-m", "t"]):
        subprocess.run(["git", *args], cwd=template, check=True, capture_output=True)
    result = dlstart("new", "demo", *GENERATE, "--template", template)
    assert result.code == 1 and "no_such_filter" in result.err
    assert list(isolated.iterdir()) == []


def test_failure_while_moving_into_place_undoes_the_moves(
    dlstart, isolated: Path, user_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(isolated)
    real_rename = os.rename
    calls = []

    def rename(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    result = dlstart("new", "demo", *GENERATE, "--force")
    assert result.code == 1 and "No space left" in result.err
    assert len(calls) == 3
    assert tree(isolated) == before
    assert sorted(p.name for p in user_folder.iterdir()) == ["README.md", "data"]
    assert [p.name for p in isolated.iterdir()] == ["demo"]


def test_ctrl_c_during_the_render_leaves_nothing(
    dlstart, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(copier, "run_copy", half_render_then(KeyboardInterrupt()))
    result = dlstart("new", "demo", *GENERATE)
    assert result.code == 130 and "nothing was written" in result.err
    assert list(isolated.iterdir()) == []
