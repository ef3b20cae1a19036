"""`dlstart new` without a terminal: flags, --answers, --yes, and every refusal."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from dlstart import hardware
from dlstart.errors import Exit
from dlstart.questions import FRAMEWORKS, TASKS

from .conftest import tree


def answers_of(project: Path) -> dict:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def commits(project: Path) -> list[str]:
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=project, capture_output=True, text=True, check=True
    )
    return log.stdout.splitlines()


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_yes_generates_every_framework_and_task(dlstart, isolated: Path, framework, task) -> None:
    result = dlstart("new", "demo", "--yes", "--framework", framework, "--task", task)
    assert result.code == 0, result.err
    project = isolated / "demo"
    answers = answers_of(project)
    assert (answers["framework"], answers["task"]) == (framework, task)
    assert answers["project_name"] == "demo" and answers["package_name"] == "demo"
    assert answers["python_version"] == FRAMEWORKS[framework].default_python
    assert (project / "src" / "demo" / "__init__.py").is_file()
    assert commits(project) == ["Start project from the dlstart template"]
    assert "make train" in result.out


def test_yes_takes_the_recommendation_for_the_detected_hardware(
    dlstart, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hardware, "detect", lambda: hardware.Detected("tpu", "a Cloud TPU VM"))
    result = dlstart("new", "--yes", "--goal", "scale", "--name", "Big Model")
    assert result.code == 0, result.err
    answers = answers_of(isolated / "big-model")
    assert (answers["framework"], answers["hardware"]) == ("jax", "tpu")
    assert answers["package_name"] == "big_model"
    assert "recommended" in result.out and "TPU" in result.out


def test_multi_gpu_counts_default_to_the_detected_gpus(
    dlstart, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = hardware.Detected("multi_gpu", "4 NVIDIA GPUs (NVIDIA L4)", 4)
    monkeypatch.setattr(hardware, "detect", lambda: found)
    assert dlstart("new", "a", "--yes", "--framework", "pytorch").code == 0
    assert answers_of(isolated / "a")["gpus_per_node"] == 4
    assert "num_nodes" not in answers_of(isolated / "a")
    args = ("--yes", "--framework", "jax", "--hardware", "cluster", "--nodes", "3")
    assert dlstart("new", "b", *args).code == 0
    cluster = answers_of(isolated / "b")
    assert (cluster["num_nodes"], cluster["gpus_per_node"]) == (3, 4)


def test_gpus_per_machine_taken_by_default_without_gpus_is_said(dlstart, isolated: Path) -> None:
    result = dlstart("new", "a", "--yes", "--framework", "jax", "--hardware", "multi_gpu")
    assert result.code == 0, result.err
    assert answers_of(isolated / "a")["gpus_per_node"] == 8
    assert "GPUs per machine: 8, a typical GPU node (none detected here)" in result.out


def test_answers_file_with_flags_overriding_it(dlstart, isolated: Path) -> None:
    (isolated / "answers.yml").write_text(
        "project_name: Speech Tagger\ndescription: Tags speech.\ntask: text\n"
        "framework: tensorflow\nhardware: multi_gpu\ngpus_per_node: 2\npython_version: '3.12'\n"
        "goal: serving\nexperience: tensorflow\ndeploy: [browser, api]\n"
    )
    result = dlstart("new", "--answers", "answers.yml", "--hardware", "gpu", "--gpus-per-node", "2")
    assert result.code == 2 and "--gpus-per-node applies only" in result.err
    result = dlstart("new", "--answers", "answers.yml", "--python", "3.11")
    assert result.code == 0, result.err
    answers = answers_of(isolated / "speech-tagger")
    assert answers["description"] == "Tags speech."
    assert (answers["hardware"], answers["gpus_per_node"]) == ("multi_gpu", 2)
    assert answers["python_version"] == "3.11"
    assert (answers["goal"], answers["experience"]) == ("serving", "tensorflow")
    assert answers["deploy"] == ["api", "browser"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("tsak: text\n", "unknown tsak"),
        ("task: video\n", "task 'video' is not one of image, text, tabular"),
        ("python_version: 3.10\n", "quoted string"),
        ("num_nodes: 0\n", "at least 1"),
        ("- task\n", "expected a mapping"),
        ("task: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_answers_file(dlstart, isolated: Path, content: str, message: str) -> None:
    (isolated / "answers.yml").write_text(content)
    result = dlstart("new", "demo", "--yes", "--answers", "answers.yml")
    assert result.code == 2 and message in result.err
    assert sorted(isolated.iterdir()) == [isolated / "answers.yml"]


def test_missing_answers_file(dlstart, isolated: Path) -> None:
    result = dlstart("new", "demo", "--answers", "nope.yml")
    assert result.code == 2 and "nope.yml: cannot read it" in result.err


def test_no_terminal_names_every_missing_flag(dlstart, isolated: Path) -> None:
    result = dlstart("new", "demo", "--task", "image")
    assert result.code == 2
    for flag in ("--goal", "--hardware", "--experience", "--framework", "--python"):
        assert flag in result.err
    assert "--task" not in result.err and "--name" not in result.err
    assert list(isolated.iterdir()) == []


def test_no_terminal_shows_the_ranking_then_asks_for_the_framework(dlstart, isolated) -> None:
    args = ("--goal", "mobile", "--task", "image", "--hardware", "gpu", "--experience", "new")
    result = dlstart("new", "demo", *args, "--python", "3.11")
    assert result.code == 2 and "pass --framework (" in result.err
    assert "recommended" in result.out and "LiteRT" in result.out
    assert dlstart("new", "demo", *args, "--python", "3.11", "--framework", "tensorflow").code == 0
    assert answers_of(isolated / "demo")["framework"] == "tensorflow"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("!!!", "empty"),
        ("123 models", "must start with a letter"),
        ("class", "keyword"),
        ("match", "keyword"),
        ("torch", "shadow"),
        ("TensorFlow", "shadow"),
        ("jax", "shadow"),
        ("keras", "shadow"),
        ("flax", "shadow"),
        ("test", "shadow"),
        ("a" * 33, "at most 32"),
    ],
)
def test_invalid_names_write_nothing(dlstart, isolated: Path, name: str, message: str) -> None:
    result = dlstart("new", "--yes", "--framework", "pytorch", "--name", name)
    assert result.code == 2 and message in result.err
    assert list(isolated.iterdir()) == []


def test_dest_folder_name_is_the_default_name_and_is_checked(dlstart, isolated: Path) -> None:
    result = dlstart("new", "build/tf", "--yes", "--framework", "pytorch")
    assert result.code == Exit.USAGE and "shadow" in result.err
    assert "came from the folder build/tf: pass --name" in result.err
    assert list(isolated.iterdir()) == []
    result = dlstart("new", "build/tf", "--yes", "--framework", "pytorch", "--name", "tf demo")
    assert result.code == 0, result.err
    assert "folder: build/tf, distribution: tf-demo, package: tf_demo" in result.out


def test_the_names_line_says_where_the_name_came_from(dlstart, isolated: Path) -> None:
    result = dlstart("new", "interactive", "--yes", "--framework", "jax", "--name", "Sentiment")
    assert result.code == 0, result.err
    assert "  folder: interactive, distribution: sentiment, package: sentiment\n" in result.out
    assert "named after the folder" not in result.out
    result = dlstart("new", "vision", "--yes", "--framework", "jax")
    assert "named after the folder vision: --name to choose another" in result.out


def test_non_ascii_names_say_what_is_dropped(dlstart, isolated: Path) -> None:
    result = dlstart("new", "--yes", "--framework", "jax", "--name", "проект")
    assert result.code == Exit.USAGE
    assert "non-ASCII letters are dropped" in result.err and "--name" in result.err
    result = dlstart("new", "--yes", "--framework", "jax", "--name", "Café Модель 2")
    assert result.code == 0, result.err
    assert "folder and distribution: cafe-2" in result.out
    assert "non-ASCII letters dropped from these names: Модель" in result.out


def test_a_destination_too_long_for_the_file_system_is_a_usage_error(dlstart, isolated) -> None:
    result = dlstart("new", "x" * 300, "--yes", "--framework", "jax", "--name", "ok")
    assert result.code == Exit.USAGE
    assert result.err.count("\n") == 1 and "255" in result.err
    result = dlstart("new", "--yes", "--framework", "jax", "--name", "y" * 300)
    assert result.code == Exit.USAGE and "at most 32" in result.err  # before the folder's length
    assert list(isolated.iterdir()) == []


def test_a_project_inside_another_repository_gets_its_own(dlstart, isolated: Path) -> None:
    subprocess.run(["git", "init", "--quiet"], cwd=isolated, check=True)
    result = dlstart("new", "models/demo", "--yes", "--framework", "pytorch")
    assert result.code == 0, result.err
    project = isolated / "models" / "demo"
    top = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=project, capture_output=True, text=True
    )
    assert Path(top.stdout.strip()) == project
    assert commits(project) == ["Start project from the dlstart template"]
    assert f"inside the git repository {isolated}" in result.out
    assert "pre-commit install" in result.out and "rm -rf" in result.out


def test_existing_non_empty_destination_is_refused(dlstart, isolated: Path) -> None:
    (isolated / "demo").mkdir()
    (isolated / "demo" / "notes.txt").write_text("mine")
    result = dlstart("new", "demo", "--yes", "--framework", "jax")
    assert result.code == Exit.REFUSED and "not empty" in result.err and "--force" in result.err
    assert tree(isolated) == {"demo/notes.txt": (b"mine", False)}
    (isolated / "other").write_text("a file")
    result = dlstart("new", "other", "--yes", "--framework", "jax")
    assert result.code == Exit.REFUSED and "not a folder" in result.err


def test_derived_destination_is_checked_before_generating(dlstart, isolated: Path) -> None:
    (isolated / "my-model").mkdir()
    (isolated / "my-model" / "keep").write_text("x")
    result = dlstart("new", "--yes", "--framework", "jax", "--name", "My Model")
    assert result.code == Exit.REFUSED and "my-model exists and is not empty" in result.err


def test_empty_destination_is_used(dlstart, isolated: Path) -> None:
    (isolated / "demo").mkdir()
    assert dlstart("new", "demo", "--yes", "--framework", "jax").code == 0
    assert commits(isolated / "demo") == ["Start project from the dlstart template"]


def test_force_adds_the_project_and_keeps_every_existing_file(dlstart, isolated: Path) -> None:
    project = isolated / "demo"
    (project / "data").mkdir(parents=True)
    (project / "data" / "train.csv").write_text("x,y\n")
    (project / "README.md").write_text("my notes\n")
    result = dlstart("new", "demo", "--yes", "--framework", "pytorch", "--force")
    assert result.code == 0, result.err
    assert (project / "README.md").read_text() == "my notes\n"
    assert (project / "data" / "train.csv").read_text() == "x,y\n"
    assert "Kept everything already in" in result.out
    assert "  README.md  (instead of the template's)\n" in result.out
    assert "  data/ (1 file)\n" in result.out
    assert "No git repository was created" in result.out
    assert answers_of(project)["framework"] == "pytorch"
    assert (project / "src" / "demo" / "__init__.py").is_file()
    assert not (project / ".git").exists()
    assert list(project.glob(".dlstart-*")) == []


def test_new_in_the_current_empty_folder(dlstart, isolated: Path) -> None:
    result = dlstart("new", ".", "--yes", "--framework", "tensorflow")
    assert result.code == 0, result.err
    assert answers_of(isolated)["project_name"] == isolated.name
    assert (isolated / "src" / isolated.name).is_dir()
    assert commits(isolated) == ["Start project from the dlstart template"]
    assert list(isolated.parent.glob(".dlstart-*")) == list(isolated.glob(".dlstart-*")) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--framework", "tensorflow", "--hardware", "apple"), "does not offer --hardware apple"),
        (("--framework", "tensorflow", "--python", "3.13"), "does not offer --python 3.13"),
        (("--framework", "jax", "--hardware", "gpu", "--nodes", "2"), "--nodes applies only"),
    ],
)
def test_contradicting_answers_are_refused(dlstart, isolated: Path, args, message) -> None:
    result = dlstart("new", "demo", "--yes", *args)
    assert result.code == 2 and message in result.err
    assert list(isolated.iterdir()) == []


def test_bad_flag_values_are_refused_by_argparse(dlstart, isolated: Path) -> None:
    assert dlstart("new", "demo", "--task", "video").code == 2
    assert dlstart("new", "demo", "--nodes", "0").code == 2
    assert list(isolated.iterdir()) == []


def test_template_that_is_not_a_git_repository_is_refused(dlstart, isolated: Path) -> None:
    (isolated / "tpl").mkdir()
    (isolated / "tpl" / "copier.yml").write_text("a: 1\n")
    result = dlstart("new", "demo", "--yes", "--template", "tpl")
    assert result.code == Exit.USAGE and "not the root of a git checkout" in result.err
    assert not (isolated / "demo").exists()
