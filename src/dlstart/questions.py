"""The template questions: the single source for cookiecutter.json, copier.yml and the CLI flags.

`tools/sync_templates.py` writes every template's `cookiecutter.json` and `copier.yml` (and the
repository's root `copier.yml`) from these definitions; a test fails when they drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ANSWERS_FILE = ".copier-answers.yml"
CANONICAL_TEMPLATE_URL = "https://github.com/dlstart/dlstart.git"

TASKS = {
    "image": "image classification (a folder per class)",
    "text": "text classification (CSV or JSONL with text and label)",
    "tabular": "tabular classification or regression (CSV with a target column)",
}

HARDWARE = {
    "cpu": "CPU only",
    "gpu": "one NVIDIA GPU",
    "multi_gpu": "several NVIDIA GPUs on one machine",
    "cluster": "a multi-node GPU cluster",
    "tpu": "Google Cloud TPU",
    "apple": "Apple Silicon (Metal)",
}


@dataclass(frozen=True)
class Framework:
    name: str
    title: str
    hardware: tuple[str, ...]
    python_versions: tuple[str, ...]
    default_python: str


FRAMEWORKS = {
    "pytorch": Framework(
        name="pytorch",
        title="PyTorch",
        hardware=("cpu", "gpu", "multi_gpu", "cluster", "apple"),
        python_versions=("3.11", "3.12", "3.13"),
        default_python="3.11",
    ),
    "tensorflow": Framework(
        name="tensorflow",
        title="TensorFlow / Keras",
        hardware=("cpu", "gpu", "multi_gpu", "cluster", "tpu"),
        python_versions=("3.11", "3.12"),
        default_python="3.11",
    ),
    "jax": Framework(
        name="jax",
        title="JAX (Flax NNX + Optax)",
        hardware=("cpu", "gpu", "multi_gpu", "cluster", "tpu"),
        # JAX 0.10.2, the newest whose jax2tf exports TensorFlow 2.21 loads, tested on 3.11 only.
        python_versions=("3.11",),
        default_python="3.11",
    ),
}


@dataclass(frozen=True)
class Question:
    """One template question.

    `copier_default` and `cookiecutter_default` hold computed defaults as Jinja expressions for
    each engine (cookiecutter prefixes answers with `cookiecutter.`); plain defaults go in
    `default`. `when` is a copier condition; cookiecutter always asks.
    """

    name: str
    help: str
    type: str = "str"
    default: Any = None
    choices: tuple[str, ...] = ()
    copier_default: str | None = None
    cookiecutter_default: str | None = None
    when: str | None = None
    validator: str | None = None
    per_framework: dict[str, Any] = field(default_factory=dict)

    def choices_for(self, framework: str) -> tuple[str, ...]:
        return self.per_framework.get(framework, {}).get("choices", self.choices)

    def default_for(self, framework: str) -> Any:
        return self.per_framework.get(framework, {}).get("default", self.default)


QUESTIONS: tuple[Question, ...] = (
    Question(
        name="project_name",
        help="Human-readable project name",
        default="My Project",
    ),
    Question(
        name="project_slug",
        help="Folder and distribution name (lowercase, dashes)",
        copier_default=(
            "{{ project_name | lower | regex_replace('[^a-z0-9]+', '-') "
            "| regex_replace('^-+|-+$', '') }}"
        ),
        cookiecutter_default="{{ cookiecutter.project_name|slugify }}",
        validator="slug",
    ),
    Question(
        name="package_name",
        help="Python package name (import name)",
        copier_default="{{ project_slug | replace('-', '_') }}",
        cookiecutter_default="{{ cookiecutter.project_slug|replace('-', '_') }}",
        validator="package",
    ),
    Question(
        name="description",
        help="One-line description",
        default="A deep-learning project started with dlstart.",
    ),
    Question(
        name="task",
        help="What the model learns",
        choices=tuple(TASKS),
        default="image",
    ),
    Question(
        name="hardware",
        help="Where training runs",
        choices=tuple(HARDWARE),
        default="cpu",
        per_framework={name: {"choices": fw.hardware} for name, fw in FRAMEWORKS.items()},
    ),
    Question(
        name="num_nodes",
        help="Number of machines in the cluster",
        type="int",
        default=2,
        when="{{ hardware == 'cluster' }}",
    ),
    Question(
        name="gpus_per_node",
        help="GPUs (or TPU chips) per machine",
        type="int",
        default=8,
        when="{{ hardware in ['multi_gpu', 'cluster'] }}",
    ),
    Question(
        name="python_version",
        help="Python version of the project",
        per_framework={
            name: {"choices": fw.python_versions, "default": fw.default_python}
            for name, fw in FRAMEWORKS.items()
        },
    ),
)


def question(name: str) -> Question:
    return next(q for q in QUESTIONS if q.name == name)


# Files that are the user's from the start: generated once, then never rewritten by
# `dlstart update` (copier's `_skip_if_exists`, gitignore-style patterns relative to the project).
# The model is research code the user replaces; configs other than `configs/default.yaml` hold
# the values they tune, and a later template version that ships a config of the same name must not
# overwrite theirs. `configs/default.yaml` stays the template's: it documents every knob of the
# config schema in step with `config.py`, and the three-way merge keeps the user's edits to it.
# Each pattern holds a `/`, so copier and git both anchor it at the project root.
USER_OWNED: tuple[str, ...] = (
    "src/*/model.py",
    "configs/*.yaml",
    "!configs/default.yaml",
)


@dataclass(frozen=True)
class Migration:
    """A change between template versions that a three-way merge cannot carry.

    It runs once, in the project, when `dlstart update` crosses `version` (the release tag that
    introduces the change), before the merge: `migrations/rename.py` renames user-owned files
    (paths may hold `{package_name}`) and dotted config keys within their section, in every YAML
    file under `configs/`, the user's own included.
    """

    version: str
    rename_files: dict[str, str] = field(default_factory=dict)
    rename_keys: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for old, new in self.rename_keys.items():
            if old.rpartition(".")[0] != new.rpartition(".")[0]:
                raise ValueError(f"{self.version}: {old} -> {new} leaves its section")


# Add an entry in the release that renames a user-owned file or a config key, e.g.
# Migration("v0.3.0", rename_keys={"trainer.max_epochs": "trainer.epochs"}).
MIGRATIONS: tuple[Migration, ...] = ()
