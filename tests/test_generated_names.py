"""Generated code passes ruff whatever the package name: the longest one dlstart accepts (32
characters) and one that sorts before `conftest` (isort places the tests' `conftest` import by
name otherwise), for every framework x task with every deployment target."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from tests.harness import DEPLOY, FRAMEWORKS, TASKS, TEMPLATES, answers, framework_env

LONGEST = "a" + "_long_name" * 3 + "x"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_longest_package_name_passes_ruff(framework: str, tmp_path: Path) -> None:
    assert len(LONGEST) == 32
    ruff = str(framework_env(framework).root / "bin" / "ruff")
    for task in TASKS:
        project = cookiecutter(
            str(TEMPLATES / framework),
            no_input=True,
            output_dir=str(tmp_path),
            extra_context=answers(
                task, project_slug=f"p-{task}", package_name=LONGEST, deploy=",".join(DEPLOY)
            ),
            accept_hooks=False,
        )
        for command in ([ruff, "check", "."], [ruff, "format", "--check", "."]):
            result = subprocess.run(command, cwd=project, capture_output=True, text=True)
            assert result.returncode == 0, f"{task}: {result.stdout[-3000:]}{result.stderr}"
