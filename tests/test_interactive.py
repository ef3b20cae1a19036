"""`dlstart new` and `dlstart recommend` on a terminal, driven through questionary with keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from dlstart import hardware, prompts
from dlstart.interview import Flow, Resolver
from dlstart.prompts import Option

ENTER, DOWN, CTRL_C = "\r", "\x1b[B", "\x03"
CLEAR = "\x15"  # Ctrl-U: erase the default the text question starts with


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Type into the questions: each call sends keys for the next prompts."""
    monkeypatch.setattr(prompts, "on_terminal", lambda: True)
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        yield pipe.send_text


def test_questions_recommend_and_generate(
    dlstart, isolated: Path, keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hardware, "detect", lambda: hardware.Detected("gpu", "NVIDIA L4", 1))
    keys(CLEAR + "Vision Demo" + ENTER)  # project name
    keys(DOWN * 2 + ENTER)  # goal: research, serving, [mobile]
    keys(DOWN + ENTER)  # task: image, [text]
    keys(ENTER)  # hardware: the detected one
    keys(ENTER)  # experience: new to deep learning
    keys(ENTER)  # framework: the recommended one
    keys(DOWN + ENTER)  # Python: the framework's default, [the next one]
    keys(" " + ENTER)  # deploy: [api] ticked too, beside mobile, the goal's
    result = dlstart("new")
    assert result.code == 0, result.err
    answers = yaml.safe_load((isolated / "vision-demo" / ".copier-answers.yml").read_text())
    assert answers["framework"] == "tensorflow"
    assert (answers["goal"], answers["experience"]) == ("mobile", "new")
    assert answers["deploy"] == ["api", "mobile"]
    assert (answers["task"], answers["hardware"]) == ("text", "gpu")
    assert answers["python_version"] == "3.12"
    assert "folder and distribution: vision-demo, package: vision_demo" in result.out
    assert "LiteRT" in result.out


def test_picking_another_framework_than_the_recommended(dlstart, isolated: Path, keys) -> None:
    keys(ENTER * 5)  # the name from DEST, research, image, CPU (detected), new to DL
    keys(DOWN * 2 + ENTER)  # framework: PyTorch (recommended), TensorFlow, [JAX]
    keys(ENTER * 2)  # Python, deploy
    result = dlstart("new", "proto")
    assert result.code == 0, result.err
    answers = yaml.safe_load((isolated / "proto" / ".copier-answers.yml").read_text())
    assert (answers["framework"], answers["project_name"]) == ("jax", "proto")


def test_flags_given_are_not_asked(dlstart, isolated: Path, keys) -> None:
    keys(ENTER * 2)  # the name, the goal
    keys(DOWN * 3 + ENTER)  # hardware, of the JAX template: cpu gpu multi_gpu [cluster] tpu
    keys(CLEAR + "4" + ENTER)  # machines
    keys(ENTER)  # GPUs per machine
    keys(ENTER * 3)  # experience, Python, deploy
    result = dlstart("new", "grid", "--framework", "jax", "--task", "tabular")
    assert result.code == 0, result.err
    answers = yaml.safe_load((isolated / "grid" / ".copier-answers.yml").read_text())
    counts = (answers["hardware"], answers["num_nodes"], answers["gpus_per_node"])
    assert counts == ("cluster", 4, 8)


def test_ctrl_c_during_the_questions_writes_nothing(dlstart, isolated: Path, keys) -> None:
    keys(CLEAR + "demo" + ENTER + CTRL_C)  # Ctrl-C at the second question
    result = dlstart("new")
    assert result.code == 130
    assert result.err.strip() == "dlstart new: interrupted: nothing was written"
    assert list(isolated.iterdir()) == []


def test_an_invalid_name_is_refused_until_corrected(dlstart, isolated: Path, keys) -> None:
    keys(CLEAR + "torch" + ENTER)  # refused: it would shadow torch; the question stays
    keys(CLEAR + "Torch Light" + ENTER)
    keys(ENTER * 6)  # goal, task, hardware, experience, Python, deploy
    result = dlstart("new", "--framework", "pytorch")
    assert result.code == 0, result.err
    assert (isolated / "torch-light" / "src" / "torch_light").is_dir()
    assert [p.name for p in isolated.iterdir()] == ["torch-light"]


def test_recommend_asks_and_prints_the_ranking(dlstart, isolated: Path, keys) -> None:
    keys(DOWN * 4 + ENTER)  # goal: scale
    keys(DOWN * 4 + ENTER)  # hardware: tpu
    keys(DOWN * 3 + ENTER)  # experience: JAX
    result = dlstart("recommend")
    assert result.code == 0, result.err
    first = next(line for line in result.out.splitlines() if line.lstrip().startswith("1."))
    assert "JAX" in first and "recommended" in first
    assert list(isolated.iterdir()) == []


class Scripted:
    """An Asker that answers from a script and records what it was asked."""

    def __init__(self, **answers):
        self.answers = answers
        self.asked: list[str] = []

    def text(self, message, default, validate):
        self.asked.append(message)
        return self.answers.get(message, default)

    def select(self, message, options: list[Option], default):
        self.asked.append(message)
        self.options = {o.value: o for o in options}
        return self.answers.get(message, default)

    def count(self, message, default):
        self.asked.append(message)
        return self.answers.get(message, default)


@pytest.mark.parametrize(
    ("choice", "follow_ups"),
    [
        ("cpu", []),
        ("gpu", []),
        ("multi_gpu", ["GPUs per machine"]),
        ("cluster", ["Number of machines in the cluster", "GPUs per machine"]),
    ],
)
def test_follow_ups_only_where_relevant(choice: str, follow_ups: list[str]) -> None:
    asker = Scripted(**{"Where training runs": choice})
    flow = Flow(Resolver({}, asker, use_defaults=False))
    flow.counts(flow.hardware())
    assert [message.split(" (")[0] for message in asker.asked[1:]] == follow_ups


def test_detected_hardware_is_said_once() -> None:
    asker = Scripted()
    assert Flow(Resolver({}, asker, use_defaults=False)).hardware() == "cpu"
    assert "detected" not in asker.asked[0]
    titles = [option.title for option in asker.options.values()]
    assert titles.count("CPU only (detected: no GPU or TPU found)") == 1
    assert sum("detected" in title for title in titles) == 1


@pytest.mark.parametrize(
    ("gpus", "default", "said"), [(0, 8, "none detected here"), (4, 4, "4 detected")]
)
def test_gpus_per_machine_default_says_where_it_comes_from(
    monkeypatch, gpus: int, default: int, said: str
) -> None:
    found = hardware.Detected("multi_gpu" if gpus else "cpu", "test", gpus)
    monkeypatch.setattr(hardware, "detect", lambda: found)
    asker = Scripted()
    flow = Flow(Resolver({}, asker, use_defaults=False))
    assert flow.counts("multi_gpu") == (None, default)
    assert said in asker.asked[0]


def test_detected_hardware_is_the_default_and_said_to_be(monkeypatch) -> None:
    found = hardware.Detected("apple", "Apple Silicon")
    monkeypatch.setattr(hardware, "detect", lambda: found)
    asker = Scripted()
    assert Flow(Resolver({}, asker, use_defaults=False)).hardware() == "apple"
    assert "(detected: Apple Silicon)" in asker.options["apple"].title


def test_detected_hardware_the_framework_lacks_is_not_the_default(monkeypatch) -> None:
    monkeypatch.setattr(hardware, "detect", lambda: hardware.Detected("apple", "Apple Silicon"))
    asker = Scripted()
    allowed = ("cpu", "gpu", "tpu")
    assert Flow(Resolver({}, asker, use_defaults=False)).hardware(allowed) == "cpu"
    assert list(asker.options) == list(allowed)
    assert "detected: Apple Silicon, not offered here" in asker.asked[0]
