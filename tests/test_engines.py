"""Cookiecutter, copier and `dlstart new` make the same project from the same answers."""

from __future__ import annotations

from pathlib import Path

import copier
import pytest

from dlstart.questions import FRAMEWORKS, TASKS

from .conftest import ROOT, tree

ANSWERS_FILE = ".copier-answers.yml"


def answers(framework: str, task: str, hardware: str) -> dict:
    base = {
        "project_name": "Same Tree",
        "project_slug": "same-tree",
        "package_name": "same_tree",
        "description": "One tree, two engines.",
        "task": task,
        "hardware": hardware,
        "python_version": FRAMEWORKS[framework].python_versions[-1],
    }
    if hardware == "cluster":
        base |= {"num_nodes": 3, "gpus_per_node": 4}
    return base


def without_answers_file(files: dict) -> dict:
    assert ANSWERS_FILE in files
    return {path: content for path, content in files.items() if path != ANSWERS_FILE}


CASES = [(fw, task, "cpu") for fw in FRAMEWORKS for task in TASKS]
CASES += [(fw, "image", "cluster") for fw in FRAMEWORKS]


@pytest.mark.parametrize(("framework", "task", "hardware"), CASES)
def test_cookiecutter_copier_and_dlstart_make_the_same_tree(
    cookies, dlstart, tmp_path: Path, framework: str, task: str, hardware: str
) -> None:
    data = answers(framework, task, hardware)
    template = ROOT / "templates" / framework
    baked = cookies.bake(extra_context=data, template=str(template))
    assert baked.exit_code == 0, baked.exception
    copied = tmp_path / "copied"
    copier.run_copy(str(template), copied, data=data, defaults=True, unsafe=True, quiet=True)
    flags = [
        "--framework",
        framework,
        "--name",
        data["project_name"],
        "--task",
        task,
        "--hardware",
        hardware,
        "--python",
        data["python_version"],
        "--description",
        data["description"],
    ]
    if hardware == "cluster":
        flags += ["--nodes", "3", "--gpus-per-node", "4"]
    result = dlstart("new", tmp_path / "dlstart", *flags)
    assert result.code == 0, result.err

    expected = without_answers_file(tree(baked.project_path))
    assert b"Same Tree" in expected["README.md"][0]
    assert expected[".python-version"][0].strip() == data["python_version"].encode()
    assert without_answers_file(tree(copied)) == expected
    assert without_answers_file(tree(tmp_path / "dlstart")) == expected
    for project in (baked.project_path, copied, tmp_path / "dlstart"):
        assert (project / ".git").is_dir()
