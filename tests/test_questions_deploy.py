"""The deployment targets (`deploy`): one multiselect answer, defaulted from the goal, taken from
flags, --answers, the terminal, cookiecutter and copier, and what it decides in the project; the
README's "Why <framework>" section from the recommender's reasons for the project's answers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from dlstart import recommender
from dlstart.errors import UsageError
from dlstart.interview import Flow, Names, Resolver, ask_new
from dlstart.prompts import Option
from dlstart.questions import default_deploy, question
from dlstart.template_source import load_hooks

from .conftest import ROOT


def answers_of(project: Path) -> dict:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mobile,api", ["api", "mobile"]),
        (" browser , api ", ["api", "browser"]),
        (["browser", "browser"], ["browser"]),
        ("", []),
        ([], []),
    ],
)
def test_deploy_takes_lists_and_comma_separated_text(value, expected) -> None:
    assert question("deploy").check(value, "--deploy") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("api,desktop", "--deploy: deploy 'desktop' is not one of api, mobile, browser"),
        (["api", 3], "deploy must be a list of api, mobile, browser"),
        (7, "deploy must be a list of api, mobile, browser"),
    ],
)
def test_deploy_refuses_unknown_targets_in_one_line(value, message: str) -> None:
    with pytest.raises(UsageError) as error:
        question("deploy").check(value, "--deploy")
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("goal", "targets"),
    [
        ("serving", ["api"]),
        ("mobile", ["mobile"]),
        ("browser", ["browser"]),
        ("research", ["api"]),
        ("scale", ["api"]),
        ("numerical", ["api"]),
        (None, ["api"]),
    ],
)
def test_the_default_targets_follow_the_goal(goal, targets) -> None:
    assert default_deploy(goal) == targets


def test_the_flag_sets_the_targets_and_gates_the_server(dlstart, isolated: Path) -> None:
    result = dlstart("new", "phone", "--yes", "--goal", "mobile", "--deploy", "mobile,api")
    assert result.code == 0, result.err
    project = isolated / "phone"
    assert answers_of(project)["deploy"] == ["api", "mobile"]
    assert (project / "src/phone/serve.py").is_file()
    readme = (project / "README.md").read_text()
    # The goal's target is the first deployment section.
    assert readme.index("### On device (mobile)") < readme.index("### HTTP API")


def test_the_goal_decides_the_targets_with_yes(dlstart, isolated: Path) -> None:
    result = dlstart("new", "page", "--yes", "--goal", "browser", "--framework", "jax")
    assert result.code == 0, result.err
    project = isolated / "page"
    assert answers_of(project)["deploy"] == ["browser"]
    for path in ("src/page/serve.py", "src/page/serving", "Dockerfile.serve", "k8s"):
        assert not (project / path).exists(), path
    assert not (project / "requirements/serve.txt").exists()
    assert not (project / "tests/test_serve.py").exists()
    assert "\nserve:" not in (project / "Makefile").read_text()
    readme = (project / "README.md").read_text()
    assert "### In the browser" in readme and "### HTTP API" not in readme
    assert "make serve" not in readme


def test_unknown_target_on_the_command_line_writes_nothing(dlstart, isolated: Path) -> None:
    result = dlstart("new", "demo", "--yes", "--deploy", "api,desktop")
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "dlstart new: error: --deploy: deploy 'desktop' is not one of api, mobile, browser"
    ]
    assert list(isolated.iterdir()) == []


def test_answers_file_takes_a_list(dlstart, isolated: Path) -> None:
    (isolated / "answers.yml").write_text("goal: mobile\ndeploy: [browser, mobile]\n")
    result = dlstart("new", "both", "--yes", "--answers", "answers.yml")
    assert result.code == 0, result.err
    assert answers_of(isolated / "both")["deploy"] == ["mobile", "browser"]
    (isolated / "bad.yml").write_text("deploy: [api, watch]\n")
    result = dlstart("new", "bad", "--yes", "--answers", "bad.yml")
    assert result.code == 2 and "deploy 'watch' is not one of" in result.err


class Scripted:
    """An Asker that takes every default but the answers it is given, and records the
    questions."""

    def __init__(self, **answers):
        self.answers = answers
        self.asked: dict[str, object] = {}

    def text(self, message, default, validate):
        self.asked[message] = default
        return self.answers.get(message, default)

    def select(self, message, options: list[Option], default):
        self.asked[message] = default
        return self.answers.get(message, default)

    def count(self, message, default):
        self.asked[message] = default
        return self.answers.get(message, default)

    def checkbox(self, message, options: list[Option], default):
        self.asked[message] = (default, [o.value for o in options])
        return self.answers.get(message, default)


def test_the_terminal_question_ticks_the_goals_targets(tmp_path: Path) -> None:
    asker = Scripted(**{"Primary goal": "browser", "Where training runs": "cpu"})
    names = Names(load_hooks(), tmp_path / "demo", {})
    answers = ask_new(Flow(Resolver({}, asker, use_defaults=False)), names, show=lambda _: None)
    assert asker.asked["Deployment targets"] == (["browser"], ["api", "mobile", "browser"])
    assert answers.deploy == ["browser"]

    asker = Scripted(**{"Where training runs": "cpu", "Deployment targets": ["api", "mobile"]})
    answers = ask_new(Flow(Resolver({}, asker, use_defaults=False)), names, show=lambda _: None)
    assert answers.deploy == ["api", "mobile"]
    assert "Your team's experience" in asker.asked


def bake(tmp_path: Path, framework: str, **context: str) -> Path:
    return Path(
        cookiecutter(
            str(ROOT / "templates" / framework),
            no_input=True,
            extra_context={"project_name": "Baked", **context},
            output_dir=str(tmp_path),
        )
    )


def test_cookiecutter_takes_comma_separated_targets(tmp_path: Path) -> None:
    project = bake(tmp_path, "tensorflow", goal="mobile", deploy="mobile,api")
    assert (project / "src/baked/serve.py").is_file()
    assert (project / "scripts/tf_serving.sh").is_file()
    assert 'deploy: "mobile,api"' in (project / ".copier-answers.yml").read_text()
    project = bake(tmp_path / "goal", "tensorflow", goal="browser")
    assert not (project / "scripts/tf_serving.sh").exists()
    assert not (project / "src/baked/serving").exists()


def test_cookiecutter_refuses_an_unknown_target(tmp_path: Path, capfd) -> None:
    with pytest.raises(FailedHookException):
        bake(tmp_path, "pytorch", deploy="api,desktop")
    assert "deploy 'desktop' is not one of api, mobile, browser" in capfd.readouterr().err
    assert not (tmp_path / "baked").exists()


@pytest.mark.parametrize(
    ("framework", "goal", "hardware", "experience"),
    [
        ("pytorch", "mobile", "apple", "pytorch"),
        ("tensorflow", "browser", "tpu", "new"),
        ("jax", "serving", "cpu", "tensorflow"),
    ],
)
def test_why_section_holds_the_recommenders_reasons_for_the_answers(
    tmp_path: Path, framework: str, goal: str, hardware: str, experience: str
) -> None:
    context = {"goal": goal, "hardware": hardware, "experience": experience}
    readme = (bake(tmp_path, framework, **context) / "README.md").read_text()
    section = readme.split("\n## Why ", 1)[1].split("\n## ", 1)[0]
    score = recommender.score(framework, recommender.Profile(goal, hardware, experience))
    shown = [line for line in section.splitlines() if line.startswith(("- +", "- -"))]
    assert [line.split(") ", 1)[1] for line in shown] == [r.text for r in score.reasons]
    assert [int(line[2:].split(" ")[0]) for line in shown] == [r.points for r in score.reasons]
    assert f"--goal {goal} --hardware {hardware} --experience {experience}" in section
