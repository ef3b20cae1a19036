"""The question table: the one definition of every question, for cookiecutter.json, copier.yml,
the CLI's flags and questions, and the checks of every answer.

`tools/sync_templates.py` writes every template's `cookiecutter.json` and `copier.yml` (and the
repository's root `copier.yml`) from these definitions; a test fails when they drift.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dlstart.errors import UsageError

ANSWERS_FILE = ".copier-answers.yml"
# Where an update writes the notices of the migrations it crosses (`Migration.notice`).
NOTES_FILE = "UPDATE-NOTES.md"
CANONICAL_TEMPLATE_URL = "https://github.com/dlstart/dlstart.git"

TASKS = {
    "image": "image classification (a folder per class)",
    "text": "text classification (CSV or JSONL with text and label)",
    "tabular": "tabular classification or regression (CSV with a target column)",
}

GOALS = {
    "research": "research prototyping",
    "serving": "production API serving",
    "mobile": "mobile / edge deployment",
    "browser": "in-browser deployment",
    "scale": "large-scale multi-node training",
    "numerical": "scientific / numerical computing with custom gradients",
}

EXPERIENCE = {
    "new": "new to deep learning",
    "pytorch": "knows PyTorch",
    "tensorflow": "knows TensorFlow / Keras",
    "jax": "knows JAX",
}

DEPLOY_TARGETS = {
    "api": "an HTTP API server (make serve, Docker, Kubernetes)",
    "mobile": "an on-device model for phones and edge devices, float and int8",
    "browser": "a web page that runs the model in the browser (ONNX Runtime Web)",
}

# The deployment targets a goal calls for. A new project's `deploy` defaults to them, and goals
# without a target of their own get the API (what every project had before `deploy` existed, so
# a project made before it keeps its server: its goal is unrecorded and defaults to research).
# `dlstart update --data goal=...` adds the new goal's targets to the project's.
GOAL_TARGETS: dict[str, tuple[str, ...]] = {
    "serving": ("api",),
    "mobile": ("mobile",),
    "browser": ("browser",),
}
OTHER_GOALS_TARGETS = ("api",)


def default_deploy(goal: str | None) -> list[str]:
    """The deployment targets a project with `goal` gets unless told otherwise."""
    return list(GOAL_TARGETS.get(goal or "", OTHER_GOALS_TARGETS))


def with_targets(deploy: list[str], added: tuple[str, ...] | list[str]) -> list[str]:
    """`deploy` and `added`, in the order of DEPLOY_TARGETS."""
    return [t for t in DEPLOY_TARGETS if t in deploy or t in added]


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
    """One question: its type, values, default, help and checks, for every place that uses it.

    `tools/sync_templates.py` writes the templates' `copier.yml` and `cookiecutter.json` from
    the questions with `template=True` (copier's validators included); the CLI builds its flags,
    their help and the terminal questions from all of them, and checks every answer with
    `check` and `check_combination`, wherever it came from (flag, --answers, --data).

    `copier_default` and `cookiecutter_default` hold computed defaults as Jinja expressions for
    each engine (cookiecutter prefixes answers with `cookiecutter.`); plain defaults go in
    `default`. `follows` lists the hardware answers a follow-up question applies to (copier's
    `when`; cookiecutter always asks). `names` is a name check of `hooks/dlstart_hooks.py`.
    `flag`, `explain`, `list_choices` and `default_help` make the flag's --help. A
    `multiselect` question takes a list of its choices (copier's `multiselect`; under cookiecutter,
    which has no such prompt, comma-separated text): templates test it with
    `{% if "x" in cookiecutter.name %}`, never by iterating, which works on both.
    """

    name: str
    help: str
    flag: str
    explain: str = ""
    type: str = "str"
    default: Any = None
    choices: Mapping[str, str] = field(default_factory=dict)
    per_framework: dict[str, dict[str, Any]] = field(default_factory=dict)
    follows: tuple[str, ...] = ()
    template: bool = True
    metavar: str | None = None
    list_choices: bool = False
    default_help: str | None = None
    multiselect: bool = False
    copier_default: str | None = None
    cookiecutter_default: str | None = None
    names: str | None = None

    def choices_for(self, framework: str | None) -> tuple[str, ...]:
        if framework is None:
            return tuple(self.choices)
        return tuple(self.per_framework.get(framework, {}).get("choices", self.choices))

    def default_for(self, framework: str) -> Any:
        return self.per_framework.get(framework, {}).get("default", self.default)

    @property
    def when(self) -> str | None:
        if not self.follows:
            return None
        if len(self.follows) == 1:
            return f"{{{{ hardware == '{self.follows[0]}' }}}}"
        return f"{{{{ hardware in {list(self.follows)} }}}}"

    def check(self, value: Any, origin: str, framework: str | None = None) -> Any:
        """`value` as this question takes it (text from --data or a flag converted), or a
        UsageError that names `origin`; with `framework`, only that template's choices."""
        if self.type == "int":
            if isinstance(value, str) and value.isdigit():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(
                    f"{origin}: {self.name} must be a whole number of at least 1, not {value!r}"
                )
            return value
        if self.multiselect:
            return self._check_list(value, origin)
        if self.name == "python_version" and isinstance(value, float):
            raise UsageError(f"{origin}: write python_version as a quoted string, e.g. '3.11'")
        if not isinstance(value, str):
            raise UsageError(f"{origin}: {self.name} must be text, not {value!r}")
        offered = self.choices_for(framework)
        if offered and value not in offered:
            if framework is None or not self.per_framework:
                raise UsageError(
                    f"{origin}: {self.name} {value!r} is not one of {', '.join(offered)}"
                )
            raise UsageError(
                f"{origin}: {self.name} {value!r}: the {framework} template offers "
                f"{', '.join(offered)}"
            )
        return value

    def _check_list(self, value: Any, origin: str) -> list[str]:
        """A list of choices, or comma-separated text, as the choices in table order."""
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise UsageError(
                f"{origin}: {self.name} must be a list of {', '.join(self.choices)} "
                f"(or comma-separated text), not {value!r}"
            )
        items = [item.strip() for item in items if item.strip()]
        for item in items:
            if item not in self.choices:
                raise UsageError(
                    f"{origin}: {self.name} {item!r} is not one of {', '.join(self.choices)}"
                )
        return [choice for choice in self.choices if choice in items]


PYTHON_VERSIONS = tuple(sorted({v for fw in FRAMEWORKS.values() for v in fw.python_versions}))

QUESTIONS: tuple[Question, ...] = (
    Question(
        name="project_name",
        help="Human-readable project name",
        flag="--name",
        metavar="NAME",
        explain="project name; the folder and package names derive from it",
        default="My Project",
        default_help="DEST's folder name",
    ),
    Question(
        name="project_slug",
        help="Folder and distribution name (lowercase, dashes)",
        flag="",
        copier_default=(
            "{{ project_name | lower | regex_replace('[^a-z0-9]+', '-') "
            "| regex_replace('^-+|-+$', '') }}"
        ),
        cookiecutter_default="{{ cookiecutter.project_name|slugify }}",
        names="slug",
    ),
    Question(
        name="package_name",
        help="Python package name (import name)",
        flag="",
        copier_default="{{ project_slug | replace('-', '_') }}",
        cookiecutter_default="{{ cookiecutter.project_slug|replace('-', '_') }}",
        names="package",
    ),
    Question(
        name="description",
        help="One-line description",
        flag="--description",
        metavar="TEXT",
        explain="one-line description",
        default="A deep-learning project started with dlstart.",
    ),
    Question(
        name="goal",
        help="Primary goal",
        flag="--goal",
        explain="primary goal: it ranks the frameworks and sets the default --deploy",
        list_choices=True,
        choices=GOALS,
        default="research",
    ),
    Question(
        name="task",
        help="What the model learns",
        flag="--task",
        explain="what the model learns",
        list_choices=True,
        choices=TASKS,
        default="image",
    ),
    Question(
        name="hardware",
        help="Where training runs",
        flag="--hardware",
        explain="where training runs",
        list_choices=True,
        default_help="this machine's, detected",
        choices=HARDWARE,
        default="cpu",
        per_framework={name: {"choices": fw.hardware} for name, fw in FRAMEWORKS.items()},
    ),
    Question(
        name="num_nodes",
        help="Number of machines in the cluster",
        flag="--nodes",
        metavar="N",
        explain="machines in the cluster",
        type="int",
        default=2,
        follows=("cluster",),
    ),
    Question(
        name="gpus_per_node",
        help="GPUs (or TPU chips) per machine",
        flag="--gpus-per-node",
        metavar="N",
        explain="GPUs per machine",
        default_help="the detected count if more than one, else 8",
        type="int",
        default=8,
        follows=("multi_gpu", "cluster"),
    ),
    Question(
        name="experience",
        help="Your team's experience",
        flag="--experience",
        explain="what your team knows, for the ranking and the README's Why section",
        list_choices=True,
        choices=EXPERIENCE,
        default="new",
    ),
    Question(
        name="framework",
        help="Deep-learning framework",
        flag="--framework",
        explain="the framework to generate for",
        default_help="the recommended one",
        choices={name: fw.title for name, fw in FRAMEWORKS.items()},
        template=False,
    ),
    Question(
        name="python_version",
        help="Python version of the project",
        flag="--python",
        metavar="VERSION",
        explain="Python version of the project",
        default_help="the framework's default, "
        + ", ".join(sorted({fw.default_python for fw in FRAMEWORKS.values()})),
        choices={v: f"Python {v}" for v in PYTHON_VERSIONS},
        per_framework={
            name: {"choices": fw.python_versions, "default": fw.default_python}
            for name, fw in FRAMEWORKS.items()
        },
    ),
    Question(
        name="deploy",
        help="Deployment targets",
        flag="--deploy",
        metavar="TARGETS",
        explain="where the trained model goes, comma-separated (--deploy api,mobile)",
        list_choices=True,
        choices=DEPLOY_TARGETS,
        multiselect=True,
        default_help="from the goal: "
        + ", ".join(f"{goal}: {','.join(t)}" for goal, t in GOAL_TARGETS.items())
        + f", others: {','.join(OTHER_GOALS_TARGETS)}",
        copier_default="{{ "
        + json.dumps({goal: list(t) for goal, t in GOAL_TARGETS.items()})
        + f".get(goal, {list(OTHER_GOALS_TARGETS)}) | tojson }}}}",
        cookiecutter_default="{{ "
        + json.dumps({goal: ",".join(t) for goal, t in GOAL_TARGETS.items()})
        + f'.get(cookiecutter.goal, "{",".join(OTHER_GOALS_TARGETS)}") }}}}',
    ),
)
BY_NAME = {q.name: q for q in QUESTIONS}
TEMPLATE_QUESTIONS = tuple(q for q in QUESTIONS if q.template)
# The answers a project records: the framework (the root copier.yml's first question) and the
# template questions.
ANSWER_NAMES = ("framework", *(q.name for q in TEMPLATE_QUESTIONS))


def question(name: str) -> Question:
    return BY_NAME[name]


def check_combination(given: Mapping[str, Any]) -> None:
    """Refuse answers that contradict each other: a follow-up for hardware it does not follow,
    a choice the framework's template does not offer."""
    hardware = given.get("hardware")
    framework = given.get("framework")
    for q in QUESTIONS:
        if q.name not in given:
            continue
        if q.follows and hardware is not None and hardware not in q.follows:
            raise UsageError(
                f"{q.flag} applies only to --hardware {' or '.join(q.follows)}, not {hardware}"
            )
        if q.per_framework and framework is not None:
            offered = q.choices_for(framework)
            if given[q.name] not in offered:
                raise UsageError(
                    f"the {framework} template does not offer {q.flag} {given[q.name]} "
                    f"(it offers {', '.join(offered)})"
                )


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

    It runs once, in the project, when `dlstart update` crosses `version` (the release that
    introduces the change: a tag, or the `v<package version>` a checkout's commits count from):
    before the merge, `migrations/rename.py` renames user-owned files (paths may hold
    `{package_name}`) and dotted config keys within their section, in every YAML file under
    `configs/`, the user's own included; after the merge, `migrations/notice.py` appends
    `notice` to `NOTES_FILE` at the project root and `dlstart update` prints it. A notice is one
    short paragraph for what no script can do for the user, such as a user-owned file whose
    template version changed: the file, what changed, how to see the new version. It may hold
    `{package_name}`, `{framework}`, `{task}` (the project's answers), never Jinja markup.
    """

    version: str
    rename_files: dict[str, str] = field(default_factory=dict)
    rename_keys: dict[str, str] = field(default_factory=dict)
    notice: str = ""

    def __post_init__(self) -> None:
        for old, new in self.rename_keys.items():
            if old.rpartition(".")[0] != new.rpartition(".")[0]:
                raise ValueError(f"{self.version}: {old} -> {new} leaves its section")
        if any(mark in self.notice for mark in ("{{", "{%", "{#")):
            raise ValueError(f"{self.version}: a notice holds no Jinja markup (copier renders it)")


MODEL_NOTICE = (
    "src/{package_name}/model.py is yours, so this update left it as it was, but the template's "
    "model changed in this release: explicit weight initialisation; batch-norm and layer-norm "
    "constants read from recipe.py (which updates bring from now on); TensorFlow's model built "
    "on the new blocks.py; JAX's attribute names follow PyTorch's (a checkpoint loads only into "
    "a model with the names it was saved under). To see the new version, generate a fresh "
    "project with the same answers, e.g. `dlstart new /tmp/fresh --yes --framework {framework} "
    "--task {task}`, and compare its src/fresh/model.py with yours; port what you want."
)

# Add an entry in the release that renames a user-owned file or a config key, e.g.
# Migration("v0.3.0", rename_keys={"trainer.max_epochs": "trainer.epochs"}), or whose change to
# a user-owned file projects should hear about (`notice`). `version` is the release the change
# ships in: `__version__` (src/dlstart/__init__.py) bumped in the same commit, so projects made
# before it (`v0.1.0`, `v0.1.0.post<N>+g...`) cross it and projects made after (`v0.2.0`,
# `v0.2.0.post<N>+g...`) do not.
MIGRATIONS: tuple[Migration, ...] = (Migration("v0.2.0", notice=MODEL_NOTICE),)
