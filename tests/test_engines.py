"""Cookiecutter, copier and `dlstart new` make the same project from the same answers."""

from __future__ import annotations

from pathlib import Path

import copier
import pytest
import yaml

from dlstart.questions import FRAMEWORKS, TASKS

from .conftest import ROOT, tree

ANSWERS_FILE = ".copier-answers.yml"


def answers(framework: str, task: str, hardware: str) -> dict:
    base = {
        "project_name": "Same Tree",
        "project_slug": "same-tree",
        "package_name": "same_tree",
        "description": "One tree, two engines.",
        "goal": "mobile",
        "task": task,
        "hardware": hardware,
        "experience": "jax",
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
# Deployment targets: cookiecutter takes them as comma-separated text, copier as a list.
DEPLOYS = ["api,browser", "mobile", ""]


@pytest.mark.parametrize(
    ("framework", "task", "hardware", "deploy"),
    [(*case, DEPLOYS[i % len(DEPLOYS)]) for i, case in enumerate(CASES)],
)
def test_cookiecutter_copier_and_dlstart_make_the_same_tree(
    cookies, dlstart, tmp_path: Path, framework: str, task: str, hardware: str, deploy: str
) -> None:
    data = answers(framework, task, hardware)
    template = ROOT / "templates" / framework
    baked = cookies.bake(extra_context={**data, "deploy": deploy}, template=str(template))
    assert baked.exit_code == 0, baked.exception
    copied = tmp_path / "copied"
    targets = [t for t in deploy.split(",") if t]
    copier.run_copy(
        str(template),
        copied,
        data={**data, "deploy": targets},
        defaults=True,
        unsafe=True,
        quiet=True,
    )
    flags = [
        "--framework",
        framework,
        "--name",
        data["project_name"],
        "--goal",
        data["goal"],
        "--task",
        task,
        "--hardware",
        hardware,
        "--experience",
        data["experience"],
        "--python",
        data["python_version"],
        "--description",
        data["description"],
        "--deploy",
        deploy,
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
    assert ("src/same_tree/serve.py" in expected) == ("api" in targets)
    assert ("Dockerfile.serve" in expected) == ("api" in targets)
    assert (b"\nserve:" in expected["Makefile"][0]) == ("api" in targets)
    for project in (baked.project_path, copied, tmp_path / "dlstart"):
        assert (project / ".git").is_dir()
        folders = [p for p in project.rglob("*") if p.is_dir() and ".git" not in p.parts]
        assert all(any(folder.iterdir()) for folder in folders)
        recorded = yaml.safe_load((project / ANSWERS_FILE).read_text())
        assert (recorded["goal"], recorded["experience"]) == ("mobile", "jax")
    assert yaml.safe_load((copied / ANSWERS_FILE).read_text())["deploy"] == targets
