"""The questions of `dlstart new` and `dlstart recommend`, in order, and where answers come from.

Each answer comes from, in this order: its flag, the `--answers` file, the default (with
`--yes`), or a question on the terminal. Without a terminal a missing answer is an error that
names its flag; nothing waits for input that cannot come. Follow-up questions are asked only
where an earlier answer makes them relevant.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

from dlstart import hardware as hw
from dlstart import recommender as rec
from dlstart.errors import DlstartError, UsageError
from dlstart.prompts import Asker, Option
from dlstart.questions import FRAMEWORKS, check_combination, default_deploy, question


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
            self.missing.append(question(key).flag)
            return default
        return ask(self.asker, default)

    def select(self, key: str, options: list[Option], default: str, message: str = "") -> str:
        message = message or question(key).help
        return self.get(key, default, lambda a, d: a.select(message, options, d))

    @property
    def complete(self) -> bool:
        return not self.missing

    def done(self) -> None:
        if self.missing:
            raise UsageError(
                f"no terminal to ask on: pass {', '.join(self.missing)} "
                "(or --answers FILE, or --yes to take the defaults)"
            )


def options(key: str, allowed: tuple[str, ...] | None = None) -> list[Option]:
    choices = question(key).choices
    return [Option(k, text) for k, text in choices.items() if allowed is None or k in allowed]


class Flow:
    """The questions in order; follow-ups only where an earlier answer makes them relevant."""

    def __init__(self, resolver: Resolver):
        self.r = resolver
        self.notes: list[str] = []

    @cached_property
    def detected(self) -> hw.Detected:
        return hw.detect()

    def ask(self, key: str) -> str:
        return self.r.select(key, options(key), question(key).default)

    def deploy(self, goal: str) -> list[str]:
        """The deployment targets, ticked by default as the goal calls for; taken without asking
        when no one can be asked (they derive from the goal, which was)."""
        q, default = question("deploy"), default_deploy(goal)
        if "deploy" not in self.r.given and self.r.asker is None:
            return default
        return self.r.get("deploy", default, lambda a, d: a.checkbox(q.help, options("deploy"), d))

    def hardware(self, allowed: tuple[str, ...] | None = None) -> str:
        """Asked with this machine's hardware as the default (when offered), said once."""
        if "hardware" in self.r.given:  # no detection needed
            return self.r.given["hardware"]
        found = self.detected
        offered = options("hardware", allowed)
        if any(o.value == found.hardware for o in offered):
            marked = f" (detected: {found.detail})"
            offered = [
                Option(o.value, o.title + marked) if o.value == found.hardware else o
                for o in offered
            ]
            return self.r.select("hardware", offered, found.hardware)
        message = f"{question('hardware').help} (detected: {found.detail}, not offered here)"
        return self.r.select("hardware", offered, "cpu", message)

    def counts(self, hardware: str) -> tuple[int | None, int | None]:
        """Machines and GPUs per machine, asked only where they apply."""
        nodes = gpus = None
        if hardware in question("num_nodes").follows:
            nodes = self.r.get(
                "num_nodes",
                question("num_nodes").default,
                lambda a, d: a.count(question("num_nodes").help, d),
            )
        if hardware in question("gpus_per_node").follows:
            default, message = question("gpus_per_node").default, "GPUs per machine"
            if "gpus_per_node" not in self.r.given:
                found = self.detected.gpu_count
                if found > 1:
                    default, message = found, f"GPUs per machine ({found} detected here)"
                else:
                    message = f"GPUs per machine ({found or 'none'} detected here; {default} is "
                    message += "a typical GPU node)"
                    if self.r.use_defaults:
                        self.notes.append(
                            f"  GPUs per machine: {default}, a typical GPU node ({found or 'none'} "
                            "detected here); --gpus-per-node N to set it"
                        )
            gpus = self.r.get("gpus_per_node", default, lambda a, d: a.count(message, d))
        return nodes, gpus


@dataclass(frozen=True)
class Answers:
    """The answers a new project's template gets."""

    framework: str
    project_name: str
    project_slug: str
    package_name: str
    description: str
    goal: str
    task: str
    hardware: str
    experience: str
    python_version: str
    deploy: list[str]
    num_nodes: int | None = None
    gpus_per_node: int | None = None

    def template_data(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if value is not None}


def choose_framework(flow: Flow, profile: rec.Profile, show: Callable[[str], None]) -> str:
    """Print the ranking (once every answer it needs is known), then take the recommendation
    or the framework the user picks."""
    scores = rec.rank(profile)
    best = scores[0]
    if flow.r.complete:
        show(rec.format_ranking(profile, scores) + "\n")
        if best.unavailable:
            raise UsageError("no framework's template offers this hardware and Python version")
    offered = [
        Option(
            s.framework,
            FRAMEWORKS[s.framework].title + (" (recommended)" if s is best else ""),
            s.unavailable and f"not offered: {s.unavailable}",
        )
        for s in scores
    ]
    return flow.r.select("framework", offered, best.framework)


def ask_profile(flow: Flow) -> rec.Profile:
    """The answers of `dlstart recommend`."""
    check_combination(flow.r.given)
    profile = rec.Profile(
        goal=flow.ask("goal"),
        hardware=flow.hardware(),
        experience=flow.ask("experience"),
        python_version=flow.r.given.get("python_version"),
    )
    flow.r.done()
    return profile


def dropped_letters(name: str) -> str:
    """The letters of `name` that folder and package names drop (no ASCII form)."""
    return "".join(
        c
        for c in name
        if c.isalpha() and not unicodedata.normalize("NFKD", c).encode("ascii", "ignore")
    )


class Names:
    """The project name and what derives from it: checks and messages that say where it came
    from (the folder DEST, when no name was given)."""

    def __init__(
        self,
        hooks: ModuleType,
        dest: Path | None,
        given: dict[str, Any],
        dest_error: Callable[[Path], DlstartError | None] = lambda path: None,
    ):
        self.hooks = hooks
        self.dest = dest
        self.folder_name = dest.resolve().name if dest is not None else None
        self.from_folder = dest is not None and "project_name" not in given
        self.dest_error = dest_error

    @property
    def default(self) -> str:
        return self.folder_name or question("project_name").default

    def slug(self, name: str) -> str:
        return self.hooks.slugify(name)

    def problem(self, name: str) -> str | None:
        error = self.error(name)
        return str(error) if error else None

    def error(self, name: str) -> DlstartError | None:
        """What is wrong with `name`: a UsageError, or Refused for a destination in use."""
        slug = self.slug(name)
        kind: type[DlstartError] = UsageError
        problem = self.hooks.check_names(slug, self.hooks.package_name(slug))
        if problem and not slug and dropped_letters(name):
            problem = (
                f"the project name {name!r} has no ASCII letters or digits: folder and package "
                "names keep only those (non-ASCII letters are dropped); pass --name with Latin "
                "letters"
            )
        if problem is None and self.dest is None and (error := self.dest_error(Path(slug))):
            problem, kind = str(error), type(error)
        if problem and self.from_folder and name == self.folder_name:
            problem += (
                f" (the project name {name!r} came from the folder {self.dest}: pass "
                "--name to choose another)"
            )
        return kind(problem) if problem else None

    def line(self, name: str) -> str:
        slug = self.slug(name)
        package = self.hooks.package_name(slug)
        if self.dest is None:
            text = f"  folder and distribution: {slug}, package: {package}"
        else:
            text = f"  folder: {self.dest}, distribution: {slug}, package: {package}"
        if self.from_folder and name == self.folder_name:
            text += f"\n  (named after the folder {self.dest}: --name to choose another)"
        if dropped := dropped_letters(name):
            text += f"\n  (non-ASCII letters dropped from these names: {dropped})"
        return text


def ask_new(flow: Flow, names: Names, show: Callable[[str], None] = print) -> Answers:
    """The answers of `dlstart new`."""
    given = flow.r.given
    check_combination(given)
    name = flow.r.get(
        "project_name",
        names.default,
        lambda a, d: a.text(question("project_name").help, d, names.problem),
    )
    if error := names.error(name):
        raise error
    slug = names.slug(name)
    if flow.r.complete:
        show(names.line(name))
    framework = given.get("framework")
    goal = flow.ask("goal")
    task = flow.ask("task")
    hardware = flow.hardware(None if framework is None else FRAMEWORKS[framework].hardware)
    check_combination({**given, "hardware": hardware})
    nodes, gpus = flow.counts(hardware)
    for note in flow.notes:
        show(note)
    experience = flow.ask("experience")
    if framework is None:
        profile = rec.Profile(goal, hardware, experience, given.get("python_version"))
        framework = choose_framework(flow, profile, show)
    fw = FRAMEWORKS[framework]
    python = flow.r.select(
        "python_version",
        [Option(v, f"Python {v}") for v in fw.python_versions],
        fw.default_python,
    )
    deploy = flow.deploy(goal)
    flow.r.done()
    return Answers(
        framework=framework,
        project_name=name,
        project_slug=slug,
        package_name=names.hooks.package_name(slug),
        description=given.get("description", question("description").default),
        goal=goal,
        task=task,
        hardware=hardware,
        experience=experience,
        python_version=python,
        deploy=deploy,
        num_nodes=nodes,
        gpus_per_node=gpus,
    )
