"""Recommend PyTorch, TensorFlow or JAX from the goal, the hardware and the team's experience.

`WEIGHTS` is the whole policy: for each answer, the points it gives each framework and why,
after the public comparisons of the three. A framework whose template does not offer the
hardware (or the Python version) is never recommended. Ties go to the order of
`questions.FRAMEWORKS`.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from dlstart.questions import EXPERIENCE, FRAMEWORKS, GOALS, HARDWARE, question

DEFAULT_GOAL = question("goal").default
DEFAULT_EXPERIENCE = question("experience").default

Weights = dict[str, tuple[int, str]]

WEIGHTS: dict[tuple[str, str], Weights] = {
    ("goal", "research"): {
        "pytorch": (
            4,
            "the research default: most papers' reference code and the largest "
            "pretrained-model ecosystem (Hugging Face), eager code you debug with pdb",
        ),
        "jax": (2, "composable grad/jit/vmap for new methods; much of Google DeepMind's research"),
    },
    ("goal", "serving"): {
        "tensorflow": (
            4,
            "TF Serving: a mature model server for SavedModels, with versioning "
            "and request batching",
        ),
        "pytorch": (
            2,
            "serves through torch.export or ONNX with ONNX Runtime or Triton; "
            "TorchServe is no longer actively maintained",
        ),
    },
    ("goal", "mobile"): {
        "tensorflow": (
            4,
            "LiteRT (formerly TensorFlow Lite): the most mature on-device runtime, "
            "Android, iOS and microcontrollers, with quantization",
        ),
        "pytorch": (2, "ExecuTorch runs PyTorch models on device; younger than LiteRT"),
        "jax": (-1, "no on-device runtime of its own: converts through jax2tf to LiteRT"),
    },
    ("goal", "browser"): {
        "tensorflow": (
            5,
            "TensorFlow.js runs (and trains) models in the browser, converted "
            "straight from SavedModel or Keras",
        ),
        "pytorch": (1, "reaches the browser only by ONNX export to ONNX Runtime Web"),
        "jax": (-1, "no browser runtime: converts through jax2tf and the TF.js converter"),
    },
    ("goal", "scale"): {
        "jax": (
            4,
            "jit with sharded arrays (GSPMD) scales one program from a chip to a pod; "
            "how Google trains its largest models",
        ),
        "pytorch": (3, "FSDP2, DTensor and torchrun train most open large models on GPU clusters"),
    },
    ("goal", "numerical"): {
        "jax": (
            4,
            "a NumPy API with composable grad/jit/vmap and custom_vjp/custom_jvp "
            "for custom gradients",
        ),
        "pytorch": (1, "torch.func transforms and autograd.Function for custom gradients"),
    },
    ("hardware", "tpu"): {
        "jax": (3, "built on XLA with TPUs as a first-class target"),
        "tensorflow": (2, "TPUStrategy runs Keras models on TPUs"),
    },
    ("hardware", "apple"): {
        "pytorch": (1, "the MPS backend trains on Apple Silicon GPUs"),
    },
    ("experience", "new"): {
        "pytorch": (1, "Pythonic and eager, with the most tutorials and courses"),
        "tensorflow": (1, "Keras' fit() hides the training loop until you need it"),
        "jax": (
            -1,
            "its functional style (pure functions, explicit random keys and state) "
            "is a steeper first step",
        ),
    },
    **{
        ("experience", name): {name: (3, f"your team already knows {fw.title.split(' ')[0]}")}
        for name, fw in FRAMEWORKS.items()
    },
}


@dataclass(frozen=True)
class Profile:
    goal: str
    hardware: str
    experience: str
    python_version: str | None = None


@dataclass(frozen=True)
class Score:
    framework: str
    points: int
    reasons: tuple[tuple[int, str], ...]
    unavailable: str | None = None


def unavailable_reason(framework: str, hardware: str, python_version: str | None) -> str | None:
    """Why the framework's template cannot serve this hardware or Python, or None."""
    fw = FRAMEWORKS[framework]
    if hardware not in fw.hardware:
        return f"its template does not offer {HARDWARE[hardware]}"
    if python_version is not None and python_version not in fw.python_versions:
        return f"its template does not offer Python {python_version}"
    return None


def score(framework: str, profile: Profile) -> Score:
    answers = {"goal": profile.goal, "hardware": profile.hardware, "experience": profile.experience}
    reasons = tuple(
        WEIGHTS.get((criterion, answer), {}).get(framework) for criterion, answer in answers.items()
    )
    moved = tuple(r for r in reasons if r is not None)
    return Score(
        framework,
        sum(points for points, _ in moved),
        moved,
        unavailable_reason(framework, profile.hardware, profile.python_version),
    )


def rank(profile: Profile) -> list[Score]:
    """Every framework, best first; the ones whose template cannot serve the profile last."""
    order = list(FRAMEWORKS)
    scores = [score(name, profile) for name in order]
    return sorted(
        scores, key=lambda s: (s.unavailable is not None, -s.points, order.index(s.framework))
    )


def recommend(profile: Profile) -> str | None:
    """The best framework whose template serves the profile (None when none does)."""
    best = rank(profile)[0]
    return None if best.unavailable else best.framework


def format_ranking(profile: Profile, scores: list[Score]) -> str:
    lines = [
        f"Goal: {GOALS[profile.goal]}; hardware: {HARDWARE[profile.hardware]}; "
        f"team: {EXPERIENCE[profile.experience]}",
        "",
    ]
    place = 0
    for s in scores:
        title = FRAMEWORKS[s.framework].title
        if s.unavailable:
            lines.append(f"   -  {title:<24} not offered: {s.unavailable}")
            continue
        place += 1
        mark = "   recommended" if place == 1 else ""
        lines.append(f"  {place}.  {title:<24} score {s.points:>2}{mark}")
        lines += [
            textwrap.fill(
                reason, 96, initial_indent=f"      {points:+d}  ", subsequent_indent=" " * 10
            )
            for points, reason in s.reasons
        ]
        if not s.reasons:
            lines.append("      no answer favours it")
    return "\n".join(lines)
