from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from _pytest.nodeid import NodeId

from dlstart import cli, hardware

from .harness import TEMPLATES, Project, answers, framework_env

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test runs in an empty folder, with its own cache, on a described machine."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "dlstart tests")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "tests@example.com")
    monkeypatch.setattr(hardware, "detect", lambda: hardware.Detected("cpu", "no GPU or TPU found"))
    return work


@pytest.fixture
def dlstart(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run the CLI in this process, as `dlstart ARGS`."""

    def run(*args: str | os.PathLike[str]) -> Result:
        capsys.readouterr()
        try:
            code = cli.main([str(a) for a in args])
        except SystemExit as exit_:  # argparse: --help, --version, bad flags
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def tree(folder: Path) -> dict[str, tuple[bytes, bool]]:
    """Every file under `folder` (but .git) by relative path: its content and executable bit."""
    return {
        path.relative_to(folder).as_posix(): (path.read_bytes(), os.access(path, os.X_OK))
        for path in sorted(folder.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(folder).parts
    }


@pytest.fixture(scope="session")
def baked_project(cookies_session) -> Callable[[str, str], Project]:
    """Bake `templates/<framework>` for a task with pytest-cookies, with its environment."""

    def bake(framework: str, task: str, **extra: object) -> Project:
        result = cookies_session.bake(
            extra_context=answers(task, **extra), template=str(TEMPLATES / framework)
        )
        assert result.exit_code == 0, result.exception
        return Project(result.project_path, framework, task, framework_env(framework))

    return bake


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep each framework x task's tests on one xdist worker, so its fixtures are built once.

    pytest-xdist 3.8 marks a group by appending it to `item._nodeid`, which pytest 9.2 no longer
    reads (a node's id lives in `_id`), so groups were split across workers: the `@group` ids are
    set here instead.
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "project" in callspec.params:
            framework, task = callspec.params["project"]
            item.add_marker(pytest.mark.xdist_group(f"{framework}-{task}"))
    if not hasattr(config, "workerinput") or not config.getvalue("loadgroup"):
        return
    for item in items:
        groups = sorted({str(mark.args[0]) for mark in item.iter_markers("xdist_group")})
        if groups and "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")
