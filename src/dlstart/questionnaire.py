"""The questions of `dlstart new` and `dlstart recommend`, and where their answers come from.

Each answer comes from, in this order: its command-line flag, the `--answers` YAML file, the
default (with `--yes`), or a question on the terminal. Without a terminal a missing answer is an
error that names its flag; nothing waits for input that cannot come.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from dlstart import hardware as hw
from dlstart import recommender as rec
from dlstart.errors import UserError
from dlstart.questions import FRAMEWORKS, HARDWARE, TASKS, question

FLAGS = {
    "project_name": "--name",
    "description": "--description",
    "goal": "--goal",
    "task": "--task",
    "hardware": "--hardware",
    "num_nodes": "--nodes",
    "gpus_per_node": "--gpus-per-node",
    "experience": "--experience",
    "framework": "--framework",
    "python_version": "--python",
}
NEW_KEYS = tuple(FLAGS)
RECOMMEND_KEYS = ("goal", "hardware", "experience", "python_version")
PYTHON_VERSIONS = tuple(sorted({v for fw in FRAMEWORKS.values() for v in fw.python_versions}))
CHOICES: dict[str, dict[str, str]] = {
    "goal": rec.GOALS,
    "task": TASKS,
    "hardware": HARDWARE,
    "experience": rec.EXPERIENCE,
    "framework": {name: fw.title for name, fw in FRAMEWORKS.items()},
    "python_version": {v: f"Python {v}" for v in PYTHON_VERSIONS},
}
COUNTS = ("num_nodes", "gpus_per_node")
MULTI_DEVICE = ("multi_gpu", "cluster")


def _described(choices: dict[str, str]) -> str:
    return "; ".join(f"{key}: {text}" for key, text in choices.items())


HELP = {
    "project_name": "project name; the folder and package names derive from it "
    "(default: DEST's folder name)",
    "description": f"one-line description (default: {question('description').default!r})",
    "goal": f"primary goal, for the recommendation ({_described(rec.GOALS)}; "
    f"default: {rec.DEFAULT_GOAL})",
    "task": f"what the model learns ({_described(TASKS)}; default: {question('task').default})",
    "hardware": f"where training runs ({_described(HARDWARE)}; default: this machine's, detected)",
    "num_nodes": "machines in the cluster (only with --hardware cluster; "
    f"default: {question('num_nodes').default})",
    "gpus_per_node": "GPUs per machine (only with --hardware multi_gpu or cluster; "
    f"default: the detected count, else {question('gpus_per_node').default})",
    "experience": f"what your team knows ({_described(rec.EXPERIENCE)}; "
    f"default: {rec.DEFAULT_EXPERIENCE})",
    "framework": "generate for this framework instead of the recommended one",
    "python_version": "Python version of the project (default: the framework's default, "
    f"{', '.join(sorted({fw.default_python for fw in FRAMEWORKS.values()}))})",
    "yes": "ask nothing: take the defaults and the recommended framework",
}
METAVARS = {"project_name": "NAME", "description": "TEXT", "num_nodes": "N", "gpus_per_node": "N"}


def add_options(
    parser: argparse.ArgumentParser, keys: tuple[str, ...], helps: dict[str, str] | None = None
) -> None:
    """The flags of `keys` (with `helps` replacing their usual help), plus --answers and --yes."""
    helps = {**HELP, **(helps or {})}
    group = parser.add_argument_group("answers (asked on a terminal when not given)")
    for key in keys:
        kind: dict[str, Any] = {"type": _count} if key in COUNTS else {"choices": CHOICES.get(key)}
        group.add_argument(FLAGS[key], dest=key, metavar=METAVARS.get(key), help=helps[key], **kind)
    group.add_argument(
        "--answers",
        metavar="FILE",
        type=Path,
        help=f"YAML file of answers with the keys {', '.join(keys)}; flags override it",
    )
    group.add_argument("-y", "--yes", action="store_true", help=helps["yes"])


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def check_value(key: str, value: Any, origin: str) -> Any:
    """The value if it is a valid answer to `key`; `origin` names where it came from."""
    if key in COUNTS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{origin}: {key} must be a whole number of at least 1, not {value!r}")
        return value
    if key == "python_version" and isinstance(value, float):
        raise UserError(f"{origin}: write python_version as a quoted string, e.g. '3.11'")
    if not isinstance(value, str):
        raise UserError(f"{origin}: {key} must be text, not {value!r}")
    if key in CHOICES and value not in CHOICES[key]:
        raise UserError(f"{origin}: {key} {value!r} is not one of {', '.join(CHOICES[key])}")
    return value


def given_answers(args: argparse.Namespace, keys: tuple[str, ...]) -> dict[str, Any]:
    """The answers given by --answers FILE and the flags (which win), validated."""
    given: dict[str, Any] = {}
    if args.answers is not None:
        given = _read_answers_file(args.answers, keys)
    for key in keys:
        if getattr(args, key) is not None:
            given[key] = check_value(key, getattr(args, key), FLAGS[key])
    return given


def _read_answers_file(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UserError(f"--answers {path}: cannot read it ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise UserError(f"--answers {path}: not valid YAML ({error})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"--answers {path}: expected a mapping of answers, like 'task: text'")
    unknown = sorted(set(map(str, data)) - set(keys))
    if unknown:
        raise UserError(f"--answers {path}: unknown {', '.join(unknown)}; known: {', '.join(keys)}")
    return {key: check_value(key, value, f"--answers {path}") for key, value in data.items()}


@dataclass(frozen=True)
class Option:
    value: str
    title: str
    disabled: str | None = None


class Asker(Protocol):
    """Asks one question on the terminal."""

    def text(self, message: str, default: str, validate: Callable[[str], str | None]) -> str: ...

    def select(self, message: str, options: list[Option], default: str) -> str: ...

    def count(self, message: str, default: int) -> int: ...


class TerminalAsker:
    """Questions with questionary; Ctrl-C or Ctrl-D raises KeyboardInterrupt."""

    def text(self, message: str, default: str, validate: Callable[[str], str | None]) -> str:
        import questionary

        prompt = questionary.text(message, default=default, validate=lambda v: validate(v) or True)
        return self._ask(prompt)

    def select(self, message: str, options: list[Option], default: str) -> str:
        import questionary

        choices = [questionary.Choice(o.title, o.value, disabled=o.disabled) for o in options]
        return self._ask(questionary.select(message, choices, default=default))

    def count(self, message: str, default: int) -> int:
        def problem(text: str) -> str | None:
            return None if text.isdigit() and int(text) >= 1 else "a whole number of at least 1"

        return int(self.text(message, str(default), problem))

    @staticmethod
    def _ask(prompt: Any) -> Any:
        try:
            return prompt.unsafe_ask()
        except EOFError:
            raise KeyboardInterrupt from None


def on_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


class Resolver:
    """One answer at a time: given, else the default (--yes), else asked, else missing."""

    def __init__(self, given: dict[str, Any], asker: Asker | None, use_defaults: bool):
        self.given = given
        self.asker = asker
        self.use_defaults = use_defaults
        self.missing: list[str] = []

    def get(self, key: str, default: Any, ask: Callable[[Asker, Any], Any]) -> Any:
        if key in self.given:
            return self.given[key]
        if self.use_defaults:
            return default
        if self.asker is None:
            self.missing.append(FLAGS[key])
            return default
        return ask(self.asker, default)

    def select(self, key: str, message: str, options: list[Option], default: str) -> str:
        return self.get(key, default, lambda a, d: a.select(message, options, d))

    @property
    def complete(self) -> bool:
        return not self.missing

    def done(self) -> None:
        if self.missing:
            raise UserError(
                f"no terminal to ask on: pass {', '.join(self.missing)} "
                "(or --answers FILE, or --yes to take the defaults)"
            )


def _options(choices: dict[str, str], allowed: tuple[str, ...] | None = None) -> list[Option]:
    return [Option(key, text) for key, text in choices.items() if allowed is None or key in allowed]


class Flow:
    """The questions in order; follow-ups only where an earlier answer makes them relevant."""

    def __init__(self, resolver: Resolver):
        self.r = resolver

    @cached_property
    def detected(self) -> hw.Detected:
        return hw.detect()

    def goal(self) -> str:
        return self.r.select("goal", "Primary goal", _options(rec.GOALS), rec.DEFAULT_GOAL)

    def task(self) -> str:
        return self.r.select("task", "Task", _options(TASKS), question("task").default)

    def experience(self) -> str:
        return self.r.select(
            "experience", "Your team's experience", _options(rec.EXPERIENCE), rec.DEFAULT_EXPERIENCE
        )

    def hardware(self, allowed: tuple[str, ...] | None = None) -> str:
        """Asked with this machine's hardware as the default (if `allowed`, else CPU)."""
        if "hardware" in self.r.given:  # no detection needed
            return self.r.given["hardware"]
        found = self.detected
        options = [
            Option(o.value, f"{o.title} (detected: {found.detail})")
            if o.value == found.hardware
            else o
            for o in _options(HARDWARE, allowed)
        ]
        default = found.hardware if allowed is None or found.hardware in allowed else "cpu"
        return self.r.select(
            "hardware", f"Training hardware (detected: {found.detail})", options, default
        )

    def counts(self, hardware: str) -> tuple[int | None, int | None]:
        """Machines and GPUs per machine, asked only for a cluster or several GPUs."""
        nodes = gpus = None
        if hardware == "cluster":
            nodes = self.r.get(
                "num_nodes",
                question("num_nodes").default,
                lambda a, d: a.count("Machines in the cluster", d),
            )
        if hardware in MULTI_DEVICE:
            default = question("gpus_per_node").default
            if "gpus_per_node" not in self.r.given and self.detected.gpu_count > 1:
                default = self.detected.gpu_count
            gpus = self.r.get("gpus_per_node", default, lambda a, d: a.count("GPUs per machine", d))
        return nodes, gpus


@dataclass(frozen=True)
class Project:
    """The answers the template gets."""

    framework: str
    project_name: str
    project_slug: str
    package_name: str
    description: str
    task: str
    hardware: str
    python_version: str
    num_nodes: int | None = None
    gpus_per_node: int | None = None

    def template_data(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if value is not None}


def check_combination(given: dict[str, Any]) -> None:
    """Refuse given answers that contradict each other, before any question is asked."""
    if "hardware" in given:
        check_follow_ups(given, given["hardware"])
    if "framework" not in given:
        return
    fw = FRAMEWORKS[given["framework"]]
    for key, offered in (("hardware", fw.hardware), ("python_version", fw.python_versions)):
        if key in given and given[key] not in offered:
            raise UserError(
                f"the {fw.name} template does not offer {FLAGS[key]} {given[key]} "
                f"(it offers {', '.join(offered)})"
            )


def check_follow_ups(given: dict[str, Any], hardware: str) -> None:
    if "num_nodes" in given and hardware != "cluster":
        raise UserError(f"--nodes applies only to --hardware cluster, not {hardware}")
    if "gpus_per_node" in given and hardware not in MULTI_DEVICE:
        raise UserError(
            f"--gpus-per-node applies only to --hardware multi_gpu or cluster, not {hardware}"
        )


def choose_framework(flow: Flow, profile: rec.Profile, show: Callable[[str], None]) -> str:
    """Print the ranking (once every answer it needs is known), then take the recommendation
    or the framework the user picks."""
    scores = rec.rank(profile)
    best = scores[0]
    if flow.r.complete:
        show(rec.format_ranking(profile, scores) + "\n")
        if best.unavailable:
            raise UserError("no framework's template offers this hardware and Python version")
    options = [
        Option(
            s.framework,
            FRAMEWORKS[s.framework].title + (" (recommended)" if s is best else ""),
            s.unavailable and f"not offered: {s.unavailable}",
        )
        for s in scores
    ]
    return flow.r.select("framework", "Framework", options, best.framework)


def ask_profile(flow: Flow) -> rec.Profile:
    """The answers of `dlstart recommend`."""
    check_combination(flow.r.given)
    profile = rec.Profile(
        goal=flow.goal(),
        hardware=flow.hardware(),
        experience=flow.experience(),
        python_version=flow.r.given.get("python_version"),
    )
    flow.r.done()
    return profile


def ask_project(
    flow: Flow,
    hooks: ModuleType,
    default_name: str,
    name_problem: Callable[[str], str | None],
    show: Callable[[str], None] = print,
) -> Project:
    """The answers of `dlstart new`; `name_problem` says what is wrong with a project name."""
    given = flow.r.given
    check_combination(given)
    name = flow.r.get(
        "project_name", default_name, lambda a, d: a.text("Project name", d, name_problem)
    )
    if problem := name_problem(name):
        raise UserError(problem)
    slug = hooks.slugify(name)
    if flow.r.complete:
        show(f"  folder and distribution: {slug}, package: {hooks.package_name(slug)}")
    framework = given.get("framework")
    goal = flow.goal() if framework is None else None
    task = flow.task()
    hardware = flow.hardware(None if framework is None else FRAMEWORKS[framework].hardware)
    check_follow_ups(given, hardware)
    nodes, gpus = flow.counts(hardware)
    if framework is None:
        profile = rec.Profile(goal, hardware, flow.experience(), given.get("python_version"))
        framework = choose_framework(flow, profile, show)
    fw = FRAMEWORKS[framework]
    python = flow.r.select(
        "python_version",
        "Python version",
        [Option(v, f"Python {v}") for v in fw.python_versions],
        fw.default_python,
    )
    flow.r.done()
    return Project(
        framework=framework,
        project_name=name,
        project_slug=slug,
        package_name=hooks.package_name(slug),
        description=given.get("description", question("description").default),
        task=task,
        hardware=hardware,
        python_version=python,
        num_nodes=nodes,
        gpus_per_node=gpus,
    )
