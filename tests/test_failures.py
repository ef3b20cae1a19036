"""A render that fails, or is interrupted, leaves nothing behind but what was there before."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import copier
import pytest

from dlstart import generate
from dlstart.errors import Exit

from .conftest import tree

GENERATE = ("--yes", "--framework", "pytorch", "--task", "image")


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Python's own SIGINT handler, which a `dlstart` process starts with, whatever another test
    on this xdist worker left in place (CI saw SIGINT ignored there, and a child process inherits
    an ignored signal)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


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


def interrupt_at(phase: str):
    """Ctrl-C at `phase` of generation, as the signal arrives: through the SIGINT handler in
    force then (Python's raises KeyboardInterrupt; a held-off section's records it)."""

    def reached(name: str) -> None:
        if name == phase:
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)

    return reached


def staging_folders(root: Path) -> list[Path]:
    return [p for p in root.rglob(".dlstart-*")]


@pytest.fixture(scope="module")
def complete(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What an uninterrupted `dlstart new demo` writes (the reference)."""
    from dlstart.cli import main

    work = tmp_path_factory.mktemp("reference")
    cwd = Path.cwd()
    os.chdir(work)
    try:
        assert main(["new", "demo", *GENERATE]) == 0
    finally:
        os.chdir(cwd)
    return tree(work / "demo")


@pytest.mark.parametrize("phase", generate.PHASES)
def test_ctrl_c_at_each_phase_leaves_nothing_or_the_whole_project(
    dlstart, isolated: Path, monkeypatch: pytest.MonkeyPatch, complete: dict, phase: str
) -> None:
    monkeypatch.setattr(generate, "reached", interrupt_at(phase))
    result = dlstart("new", "deep/demo", *GENERATE)
    assert result.code == Exit.INTERRUPTED
    assert len(result.err.strip().splitlines()) == 1
    assert staging_folders(isolated) == []
    if phase in ("rendered", "committed"):
        assert "nothing was written" in result.err
        assert list(isolated.iterdir()) == []
    else:
        assert "was complete: the whole project is there" in result.err
        assert "nothing was written" not in result.err
        project = isolated / "deep" / "demo"
        assert tree(project) == complete
        log = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True)
        assert log.returncode == 0 and log.stdout == b""


@pytest.mark.parametrize("phase", generate.PHASES)
def test_ctrl_c_at_each_phase_with_force_leaves_the_folder_as_it_was_or_complete(
    dlstart, isolated: Path, user_folder: Path, monkeypatch: pytest.MonkeyPatch,
    complete: dict, phase: str,
) -> None:  # fmt: skip
    before = tree(isolated)
    monkeypatch.setattr(generate, "reached", interrupt_at(phase))
    result = dlstart("new", "demo", *GENERATE, "--force")
    assert result.code == Exit.INTERRUPTED
    assert staging_folders(isolated) == []
    after = tree(isolated)
    if phase in ("rendered", "committed"):
        assert "nothing was written" in result.err
        assert after == before
    else:
        assert "was complete" in result.err
        assert {k: v for k, v in after.items() if k in before} == before
        added = {k.removeprefix("demo/") for k in after.keys() - before.keys()}
        assert added == complete.keys() - {"README.md"}


def test_a_failed_rollback_move_is_taken_back_under_force(
    dlstart, isolated: Path, user_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(isolated)
    real_rename = os.rename

    def rename(src, dst):
        if str(dst).endswith("pyproject.toml"):
            raise OSError(13, "Permission denied")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    result = dlstart("new", "demo", *GENERATE, "--force")
    assert result.code == Exit.FAILED and "the folder is as it was" in result.err
    assert tree(isolated) == before and staging_folders(isolated) == []


@pytest.mark.parametrize(("phase", "left"), [("committed", False), ("placing", True)])
def test_a_real_sigint_in_a_real_process(isolated: Path, phase: str, left: bool) -> None:
    """The signal itself, sent to a `dlstart new` process at a phase: held off while the
    project is put in place, an interrupt before that."""
    code = (
        "import os, signal, sys\n"
        "from dlstart import generate\n"
        "from dlstart.cli import main\n"
        "def reached(name):\n"
        f"    if name == {phase!r}:\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "generate.reached = reached\n"
        f"sys.exit(main(['new', 'demo', *{list(GENERATE)!r}]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=isolated, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    assert (isolated / "demo" / ".copier-answers.yml").is_file() is left
    assert ("nothing was written" in result.stderr) is not left
    assert staging_folders(isolated) == []
