from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from dlstart.questions import FRAMEWORKS, HARDWARE
from dlstart.recommender import (
    EXPERIENCE,
    GOALS,
    WEIGHTS,
    Profile,
    format_ranking,
    rank,
    recommend,
)

from .conftest import ROOT

ALL_PROFILES = [
    Profile(goal, hardware, experience)
    for goal, hardware, experience in itertools.product(GOALS, HARDWARE, EXPERIENCE)
]


@pytest.mark.parametrize(
    ("goal", "hardware", "experience", "expected"),
    [
        ("mobile", "cpu", "new", "tensorflow"),
        ("mobile", "gpu", "tensorflow", "tensorflow"),
        ("mobile", "gpu", "jax", "tensorflow"),
        ("browser", "cpu", "new", "pytorch"),
        ("browser", "gpu", "pytorch", "pytorch"),
        ("browser", "gpu", "tensorflow", "tensorflow"),
        ("serving", "gpu", "new", "tensorflow"),
        ("scale", "tpu", "new", "jax"),
        ("scale", "tpu", "pytorch", "jax"),
        ("numerical", "cpu", "new", "jax"),
        ("research", "tpu", "new", "jax"),
        ("research", "cpu", "new", "pytorch"),
        ("research", "gpu", "new", "pytorch"),
        ("research", "gpu", "jax", "jax"),
        ("research", "multi_gpu", "jax", "jax"),
        ("research", "cluster", "jax", "jax"),
        ("scale", "cluster", "pytorch", "pytorch"),
        ("research", "apple", "tensorflow", "pytorch"),
        ("mobile", "apple", "new", "pytorch"),
    ],
)
def test_guidance(goal: str, hardware: str, experience: str, expected: str) -> None:
    assert recommend(Profile(goal, hardware, experience)) == expected


@pytest.mark.parametrize("profile", ALL_PROFILES, ids=str)
def test_never_recommends_a_template_that_lacks_the_hardware(profile: Profile) -> None:
    assert profile.hardware in FRAMEWORKS[recommend(profile)].hardware


def test_python_version_the_template_lacks_rules_a_framework_out() -> None:
    assert recommend(Profile("mobile", "cpu", "new")) == "tensorflow"
    assert "3.13" not in FRAMEWORKS["tensorflow"].python_versions
    with_313 = Profile("mobile", "cpu", "new", python_version="3.13")
    assert recommend(with_313) != "tensorflow"
    unavailable = {s.framework: s.unavailable for s in rank(with_313) if s.unavailable}
    assert "Python 3.13" in unavailable["tensorflow"]


@pytest.mark.parametrize("profile", [p for p in ALL_PROFILES if p.experience == "new"], ids=str)
def test_team_experience_raises_that_framework(profile: Profile) -> None:
    for framework in FRAMEWORKS:
        knows = Profile(profile.goal, profile.hardware, framework)
        before = next(s for s in rank(profile) if s.framework == framework)
        after = next(s for s in rank(knows) if s.framework == framework)
        assert after.points > before.points


def test_ranking_is_ordered_and_unavailable_last() -> None:
    for profile in ALL_PROFILES:
        scores = rank(profile)
        assert sorted(s.framework for s in scores) == sorted(FRAMEWORKS)
        available = [s for s in scores if not s.unavailable]
        assert [s.points for s in available] == sorted((s.points for s in available), reverse=True)
        assert scores[: len(available)] == available


def test_every_weight_has_a_reason_and_a_known_framework() -> None:
    answers = {"goal": GOALS, "hardware": HARDWARE, "experience": EXPERIENCE}
    for (criterion, answer), weights in WEIGHTS.items():
        assert answer in answers[criterion]
        for framework, reason in weights.items():
            assert framework in FRAMEWORKS
            assert reason.points != 0 and len(reason.text) > 20 and reason.ships


def test_scores_sum_the_reasons_shown() -> None:
    profile = Profile("mobile", "gpu", "jax")
    for score in rank(profile):
        assert score.points == sum(reason.points for reason in score.reasons)
    tensorflow = next(s for s in rank(profile) if s.framework == "tensorflow")
    assert any("LiteRT" in reason.text for reason in tensorflow.reasons)


def test_format_ranking_shows_scores_reasons_and_the_pick() -> None:
    profile = Profile("scale", "tpu", "new")
    scores = rank(profile)
    text = format_ranking(profile, scores)
    lines = text.splitlines()
    first = next(line for line in lines if line.lstrip().startswith("1."))
    assert "JAX" in first and "recommended" in first and f"score {scores[0].points:>2}" in first
    assert "+3  built on XLA" in text
    assert "not offered" in text and "PyTorch" in text
    assert GOALS["scale"] in lines[0] and HARDWARE["tpu"] in lines[0]


def test_no_reason_names_a_runtime_no_template_ships() -> None:
    texts = " ".join(r.text for weights in WEIGHTS.values() for r in weights.values())
    for absent in ("TensorFlow.js", "TF.js", "TorchServe", "Triton"):
        assert absent not in texts


SHIPPED_CASES = [
    (criterion, answer, framework)
    for (criterion, answer), weights in WEIGHTS.items()
    for framework in weights
]


@pytest.mark.parametrize(("criterion", "answer", "framework"), SHIPPED_CASES, ids=str)
def test_every_reason_is_shipped_by_the_project_it_recommends(
    tmp_path: Path, criterion: str, answer: str, framework: str
) -> None:
    """A project baked with the reason's answer (the rest default, deploy from the goal)
    holds what the reason promises."""
    context = {"project_name": "Why Demo", criterion: answer}
    if criterion == "hardware":
        context["gpus_per_node"] = "2"
    project = Path(
        cookiecutter(
            str(ROOT / "templates" / framework),
            no_input=True,
            extra_context=context,
            output_dir=str(tmp_path),
            accept_hooks=False,
        )
    )
    for item in WEIGHTS[criterion, answer][framework].ships:
        path, _, text = item.format(package="why_demo").partition(":")
        assert (project / path).exists(), f"{item} missing for {criterion}={answer}"
        if text:
            assert text in (project / path).read_text(), f"{item}: no {text!r}"
