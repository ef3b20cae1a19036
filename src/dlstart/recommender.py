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


@dataclass(frozen=True)
class Reason:
    """Points an answer gives a framework, why, and what the generated project ships for it.

    `ships` names what a project generated with that answer contains for the reason: a path
    (`{package}` for the package name; a folder ends with `/`), or `path:text` for a file that
    holds `text`. A test bakes each and checks; no reason may promise what the project lacks.
    """

    points: int
    text: str
    ships: tuple[str, ...]


Weights = dict[str, Reason]

TRAIN = "src/{package}/train.py"
EXPORT = "src/{package}/export.py"
SERVE = "src/{package}/serve.py"
MOBILE = "src/{package}/mobile.py"
WEB = ("web/index.html", "src/{package}/web_export.py", "Makefile:web-test:")

WEIGHTS: dict[tuple[str, str], Weights] = {
    ("goal", "research"): {
        "pytorch": Reason(
            4,
            "the research default: most papers' reference code and the largest "
            "pretrained-model ecosystem; train.py is a plain eager loop you step through with pdb",
            (TRAIN,),
        ),
        "jax": Reason(
            2,
            "composable grad/jit/vmap for new methods, as in much of Google DeepMind's "
            "research; train.py is one jitted step you can transform",
            (TRAIN + ":jit",),
        ),
    },
    ("goal", "serving"): {
        "tensorflow": Reason(
            4,
            "two servers: the project's HTTP API on the SavedModel, and TF Serving (versioning, "
            "request batching) on the same export with scripts/tf_serving.sh",
            (SERVE, "scripts/tf_serving.sh"),
        ),
        "pytorch": Reason(
            3,
            "the HTTP API runs the ONNX export with ONNX Runtime: the serving image holds no "
            "PyTorch",
            (SERVE, "requirements/serve.txt:onnxruntime=="),
        ),
        "jax": Reason(
            2,
            "the HTTP API runs the jax.export (StableHLO) artifact with JAX alone, no model code",
            (SERVE, "requirements/serve.txt:jax=="),
        ),
    },
    ("goal", "mobile"): {
        "tensorflow": Reason(
            4,
            "LiteRT (formerly TensorFlow Lite), the most mature on-device runtime (Android, iOS, "
            "microcontrollers): make mobile writes .tflite in float32 and full-integer int8",
            (MOBILE + ":tflite",),
        ),
        "pytorch": Reason(
            2,
            "ExecuTorch runs the .pte make mobile writes (XNNPACK) on Android and iOS, float and "
            "int8 (PT2E quantization); younger than LiteRT",
            (MOBILE + ":executorch", "requirements/mobile.txt:executorch=="),
        ),
        "jax": Reason(
            1,
            "no on-device runtime of its own: make mobile reaches LiteRT (.tflite) through jax2tf, "
            "one conversion more than TensorFlow",
            (MOBILE + ":tflite",),
        ),
    },
    ("goal", "browser"): {
        "pytorch": Reason(
            3,
            "web/ runs the ONNX export PyTorch writes itself (torch.onnx) with ONNX Runtime Web",
            WEB,
        ),
        "tensorflow": Reason(
            2,
            "web/ runs an ONNX export converted with tf2onnx, with ONNX Runtime Web",
            WEB,
        ),
        "jax": Reason(
            1,
            "web/ runs an ONNX export converted from the JAX model, with ONNX Runtime Web; "
            "the youngest converter of the three",
            WEB,
        ),
    },
    ("goal", "scale"): {
        "jax": Reason(
            4,
            "jit with sharded arrays (GSPMD) scales one program from a chip to a pod: devices.py "
            "lays a data and model mesh; how Google trains its largest models",
            ("src/{package}/devices.py:make_mesh",),
        ),
        "pytorch": Reason(
            3,
            "FSDP2 and torchrun train most open large models on GPU clusters; devices.py shards "
            "with trainer.strategy=fsdp",
            ("src/{package}/devices.py:fully_shard",),
        ),
    },
    ("goal", "numerical"): {
        "jax": Reason(
            4,
            "a NumPy API with composable grad/jit/vmap and custom_vjp/custom_jvp for custom "
            "gradients",
            ("requirements/cpu.txt:jax==",),
        ),
        "pytorch": Reason(
            1,
            "torch.func transforms and autograd.Function for custom gradients",
            ("requirements/cpu.txt:torch==",),
        ),
    },
    ("hardware", "tpu"): {
        "jax": Reason(
            3,
            "built on XLA with TPUs as a first-class target; scripts/tpu_vm.sh launches on a "
            "TPU VM",
            ("scripts/tpu_vm.sh", "requirements/tpu.txt"),
        ),
        "tensorflow": Reason(
            2,
            "TPUStrategy runs the Keras model on TPUs; scripts/tpu_vm.sh launches on a TPU VM",
            ("scripts/tpu_vm.sh", "src/{package}/devices.py:TPUStrategy"),
        ),
    },
    ("hardware", "apple"): {
        "pytorch": Reason(
            1, "the MPS backend trains on Apple Silicon GPUs", ("requirements/apple.txt",)
        ),
    },
    ("experience", "new"): {
        "pytorch": Reason(1, "Pythonic and eager, with the most tutorials and courses", (TRAIN,)),
        "tensorflow": Reason(
            1,
            "Keras layers, a functional model.py that reads like the Keras guides",
            ("src/{package}/model.py:keras",),
        ),
        "jax": Reason(
            -1,
            "its functional style (pure functions, explicit random keys and state) "
            "is a steeper first step",
            ("src/{package}/model.py:nnx",),
        ),
    },
    **{
        ("experience", name): {
            name: Reason(
                3,
                f"your team already knows {fw.title.split(' ')[0]}",
                (f"requirements/cpu.txt:{pin}",),
            )
        }
        for name, fw, pin in (
            ("pytorch", FRAMEWORKS["pytorch"], "torch=="),
            ("tensorflow", FRAMEWORKS["tensorflow"], "tensorflow"),
            ("jax", FRAMEWORKS["jax"], "jax=="),
        )
    },
}

CRITERIA = ("goal", "hardware", "experience")


def reasons_for(framework: str) -> dict[str, dict[str, tuple[int, str]]]:
    """The framework's reasons by criterion and answer, as its template renders them."""
    table: dict[str, dict[str, tuple[int, str]]] = {criterion: {} for criterion in CRITERIA}
    for (criterion, answer), weights in WEIGHTS.items():
        if framework in weights:
            table[criterion][answer] = (weights[framework].points, weights[framework].text)
    return table


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
    reasons: tuple[Reason, ...]
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
        sum(r.points for r in moved),
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
                r.text, 96, initial_indent=f"      {r.points:+d}  ", subsequent_indent=" " * 10
            )
            for r in s.reasons
        ]
        if not s.reasons:
            lines.append("      no answer favours it")
    return "\n".join(lines)
