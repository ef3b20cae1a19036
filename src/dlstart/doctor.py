"""`dlstart doctor`: does this machine run the project as the project expects?

Three checks, each with what to do about a mismatch: the interpreter's Python version against
`.python-version`; installed distributions against the pins in `requirements/<target>.txt`;
the accelerators the framework sees against the target hardware. The interpreter is the
project's `.venv` when there is one; the checks run inside it, through `_probe.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker
from packaging.requirements import InvalidRequirement, Requirement

from dlstart import _probe
from dlstart.errors import Refused
from dlstart.project import Project

ENVIRONMENT_TIMEOUT = 60
FRAMEWORK_OF_PACKAGE = {
    "torch": "pytorch",
    "tensorflow": "tensorflow",
    "tensorflow-cpu": "tensorflow",
    "jax": "jax",
}
NEEDS = {
    "gpu": ("gpu", 1, "an NVIDIA GPU"),
    "multi_gpu": ("gpu", 2, "two or more NVIDIA GPUs"),
    "cluster": ("gpu", 1, "a GPU on this node"),
    "tpu": ("tpu", 1, "a TPU"),
    "apple": ("apple", 1, "the Apple Silicon GPU (Metal)"),
}


@dataclass(frozen=True)
class Finding:
    ok: bool
    summary: str
    details: list[str] = field(default_factory=list)
    fix: str = ""


@dataclass(frozen=True)
class Setup:
    """What the checks compare against, and the interpreter they run in."""

    project: Path
    python: Path
    target: str
    framework: str | None
    hardware: str
    gpus_per_node: int | None

    @property
    def requirements(self) -> Path:
        return self.project / "requirements" / f"{self.target}.txt"

    @property
    def install(self) -> str:
        python = self.python
        if python.is_relative_to(self.project):
            python = python.relative_to(self.project)
        return f"{python} -m pip install -r requirements/{self.target}.txt"


def setup(project: Project, python: Path | None, target: str | None) -> Setup:
    path = project.path
    if not (path / ".python-version").is_file() and not (path / "requirements").is_dir():
        raise Refused(
            f"{path} is not a dlstart project: it has neither .python-version nor requirements/"
        )
    answers = project.answers or {}
    hardware = answers.get("hardware", "cpu")
    return Setup(
        project=path,
        python=(python.expanduser().absolute() if python else project_python(path)),
        target=target or hardware,
        framework=project.framework,
        hardware=hardware,
        gpus_per_node=answers.get("gpus_per_node"),
    )


def project_python(project: Path) -> Path:
    """The project's `.venv` interpreter when it has one, else the one running dlstart."""
    for candidate in (".venv/bin/python", ".venv/Scripts/python.exe"):
        if (project / candidate).is_file():
            return project / candidate
    return Path(sys.executable)


def run_probe(setup: Setup, what: str, timeout: float) -> dict[str, Any]:
    """The probe's JSON answer; raises RuntimeError with the reason when there is none."""
    try:
        result = subprocess.run(
            [str(setup.python), "-c", Path(_probe.__file__).read_text(encoding="utf-8"), what],
            cwd=setup.project,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"no answer within {timeout:g} s") from None
    except OSError as error:
        raise RuntimeError(f"cannot run {setup.python}: {error.strerror}") from None
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(_probe.MARKER):
            return json.loads(line.removeprefix(_probe.MARKER))
    errors = result.stderr.strip().splitlines()
    raise RuntimeError(errors[-1] if errors else f"exit status {result.returncode}")


def examine(setup: Setup, timeout: float) -> list[Finding]:
    try:
        env = run_probe(setup, "environment", ENVIRONMENT_TIMEOUT)
    except RuntimeError as error:
        problem = f"cannot run the interpreter {setup.python}: {error}"
        return [Finding(False, problem, fix="pass the project's Python with --python PATH")]
    pins = read_pins(setup.requirements) if setup.requirements.is_file() else None
    framework = setup.framework or framework_from_pins(pins or [])
    findings = [check_python(setup, env["python"]), check_pins(setup, env, pins)]
    if framework:
        findings.append(check_accelerators(setup, framework, timeout))
    return findings


def check_python(setup: Setup, version: str) -> Finding:
    wanted_file = setup.project / ".python-version"
    if not wanted_file.is_file():
        return Finding(True, f"Python {version} (the project has no .python-version)")
    wanted = wanted_file.read_text().strip()
    if version == wanted or version.startswith(wanted + "."):
        return Finding(True, f"Python {version} matches .python-version ({wanted})")
    return Finding(
        False,
        f"Python {version} in {setup.python}, but .python-version asks for {wanted}",
        fix=f"create the environment with Python {wanted}: `python{wanted} -m venv .venv` "
        f"(or `pyenv install {wanted}`), then `.venv/bin/pip install -r "
        f"requirements/{setup.target}.txt`",
    )


def read_pins(path: Path, seen: frozenset[Path] = frozenset()) -> list[Requirement]:
    """The requirements of a pip requirements file, following `-r` and `-c` includes."""
    pins: list[Requirement] = []
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line.startswith(("-r ", "-c ", "--requirement ", "--constraint ")):
            included = (path.parent / line.split(maxsplit=1)[1]).resolve()
            if included not in seen:
                pins += read_pins(included, seen | {path.resolve()})
            continue
        if not line or line.startswith(("#", "-")):
            continue
        try:
            pins.append(Requirement(line.split(" --", 1)[0]))
        except (InvalidRequirement, InvalidMarker):
            continue
    return pins


def framework_from_pins(pins: list[Requirement]) -> str | None:
    names = (FRAMEWORK_OF_PACKAGE.get(canonical(pin.name)) for pin in pins)
    return next((name for name in names if name), None)


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def check_pins(setup: Setup, env: dict[str, Any], pins: list[Requirement] | None) -> Finding:
    relative = setup.requirements.relative_to(setup.project).as_posix()
    if pins is None:
        available = sorted(p.stem for p in (setup.project / "requirements").glob("*.txt"))
        return Finding(
            False,
            f"no {relative} for target {setup.target}",
            fix=f"choose a target with --target ({', '.join(available) or 'none found'})",
        )
    problems = []
    for pin in pins:
        if pin.marker is not None and not pin.marker.evaluate(env["markers"]):
            continue
        installed = env["installed"].get(canonical(pin.name))
        if installed is None:
            problems.append(f"{pin.name}: not installed (pinned {pin.specifier})")
        elif not pin.specifier.contains(installed, prereleases=True):
            problems.append(f"{pin.name}: {installed} installed, {pin.specifier} pinned")
    if not problems:
        return Finding(True, f"{len(pins)} packages match {relative}")
    return Finding(
        False,
        f"{len(problems)} of {len(pins)} packages differ from {relative}",
        details=problems,
        fix=setup.install,
    )


def check_accelerators(setup: Setup, framework: str, timeout: float) -> Finding:
    try:
        seen = run_probe(setup, framework, timeout)
    except RuntimeError as error:
        problem = f"the {framework} framework does not load: {error}"
        return Finding(False, problem, fix=setup.install)
    sees = f"{seen['module']} {seen['version']} sees {describe(seen)}"
    expected = setup.target if setup.target in (*NEEDS, "cpu") else setup.hardware
    if expected not in NEEDS:
        hint = "; the project trains on CPU (`dlstart update --data hardware=gpu` to use it)"
        return Finding(True, sees + (hint if seen["gpu"] else ""))
    kind, count, wanted = NEEDS[expected]
    if seen[kind] < count:
        return Finding(
            False, f"{sees}; hardware {expected} needs {wanted}", fix=accelerator_fix(setup, kind)
        )
    per_node = setup.gpus_per_node
    if expected in ("multi_gpu", "cluster") and per_node and seen[kind] < per_node:
        return Finding(
            False,
            f"{sees}; the project launches {per_node} per machine",
            fix=f"`dlstart update --data gpus_per_node={seen[kind]}`, or run on a machine "
            f"with {per_node}",
        )
    return Finding(True, f"{sees}, as hardware {expected} needs")


def describe(seen: dict[str, Any]) -> str:
    parts = []
    if seen["gpu"]:
        names = sorted(set(seen["gpu_names"]))
        parts.append(f"{seen['gpu']} GPU{'s' if seen['gpu'] > 1 else ''} ({', '.join(names)})")
    if seen["tpu"]:
        parts.append(f"{seen['tpu']} TPU chip{'s' if seen['tpu'] > 1 else ''}")
    if seen["apple"]:
        parts.append("the Apple GPU (Metal)")
    return " and ".join(parts) or "no accelerator (CPU only)"


def accelerator_fix(setup: Setup, kind: str) -> str:
    build = f"the accelerator build of the framework (`{setup.install}`)"
    if kind == "gpu":
        return (
            f"check the driver with `nvidia-smi` and that {build} is installed; on a "
            "cluster, run doctor on a compute node (e.g. `srun --gpus=1 dlstart doctor`); "
            "to check a CPU setup instead: --target cpu"
        )
    if kind == "tpu":
        return f"run on a TPU VM with {build}; to check a CPU setup instead: --target cpu"
    return f"run on Apple Silicon macOS with {build}; to check a CPU setup instead: --target cpu"
