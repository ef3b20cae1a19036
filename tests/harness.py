"""Running generated projects in tests: one virtual environment per framework, built from the
template's own pinned `requirements/cpu.txt` and `requirements/dev.txt` (with the on-device layer
`requirements/mobile.txt` where the template has one), and helpers to run a project's commands
in it.

Environments live in `.venvs/<framework>-py<version>-<hash of the requirement files>/` and are
reused while the requirement files are unchanged; a lock file keeps parallel workers from
building the same one twice.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter

from dlstart.questions import FRAMEWORKS as FRAMEWORK_SPECS

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
# Resolved, so that a worktree whose .venvs links to a shared folder writes script shebangs that
# outlive the worktree.
VENVS = (ROOT / ".venvs").resolve()
# Every deployment target, so a framework environment holds every layer a test may need.
DEPLOY = ("api", "mobile", "browser")
FRAMEWORKS = ("pytorch", "tensorflow", "jax")
TASKS = ("image", "text", "tabular")


def answers(task: str, **extra: Any) -> dict[str, Any]:
    return {
        "project_name": f"Demo {task}",
        "project_slug": f"demo-{task}",
        "package_name": f"demo_{task}",
        "task": task,
        **extra,
    }


def find_python(version: str) -> str:
    """An interpreter of `version` (X.Y): on PATH, else under pyenv."""
    candidates = [shutil.which(f"python{version}")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
        candidates += sorted(
            (str(p) for p in Path(root, "versions").glob(f"{version}.*/bin/python{version}")),
            reverse=True,
        )
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    raise RuntimeError(f"no Python {version} found (on PATH or under pyenv); install it first")


@dataclass(frozen=True)
class Env:
    """A framework's virtual environment."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = "src"
        env["PYTHONUNBUFFERED"] = "1"
        env["VIRTUAL_ENV"] = str(self.root)
        return {**env, **(extra or {})}


def framework_env(framework: str) -> Env:
    """The environment for `framework`, built on first use."""
    version = FRAMEWORK_SPECS[framework].default_python
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(
            cookiecutter(
                str(TEMPLATES / framework),
                no_input=True,
                output_dir=tmp,
                extra_context={
                    **answers("image"),
                    "python_version": version,
                    "deploy": ",".join(DEPLOY),
                },
                accept_hooks=False,
            )
        )
        requirements = [
            project / "requirements" / f"{name}.txt"
            for name in ("cpu", "research", "dev", "mobile")
        ]
        requirements = [path for path in requirements if path.exists()]
        texts = [path.read_text() for path in requirements]
        digest = hashlib.sha256("\n".join([version, *texts]).encode()).hexdigest()[:12]
        env = Env(VENVS / f"{framework}-py{version}-{digest}")
        VENVS.mkdir(exist_ok=True)
        with _locked(VENVS / f"{env.root.name}.lock"):
            if not (env.root / ".complete").exists():
                _build(env, find_python(version), requirements)
    return env


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build(env: Env, python: str, requirements: list[Path]) -> None:
    shutil.rmtree(env.root, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(env.root)], check=True)
    args = [str(env.python), "-m", "pip", "install", "--quiet"]
    for path in requirements:
        args += ["-r", str(path)]
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode:
        output = result.stdout[-4000:] + result.stderr[-4000:]
        raise RuntimeError(f"installing {env.root.name} failed:\n{output}")
    (env.root / ".complete").write_text("")


@dataclass
class Project:
    """A baked project and the environment to run it in."""

    path: Path
    framework: str
    task: str
    env: Env

    @property
    def package(self) -> str:
        return f"demo_{self.task}"

    def run(
        self, *args: str, timeout: float = 600, check: bool = True, extra_env: dict | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(args),
            cwd=self.path,
            env=self.env.environ(extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {result.returncode}\n"
                f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
            )
        return result

    def module(self, name: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.env.python), "-m", f"{self.package}.{name}", *args, **kwargs)

    def popen_module(self, name: str, *args: str) -> subprocess.Popen[str]:
        """Start `python -m <package>.<name> args...` in the background."""
        return subprocess.Popen(
            [str(self.env.python), "-m", f"{self.package}.{name}", *args],
            cwd=self.path,
            env=self.env.environ(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> str:
    """Stop a process from `Project.popen_module` (its whole group); return its output."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
    return output or ""


def read_metrics(run: Path) -> list[dict[str, Any]]:
    path = run / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def train_losses(run: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_metrics(run) if r.get("split") == "train"]


RESUME_LINE = re.compile(r"[Rr]esum\w*\b.*?\bstep (\d+)")


def children(pid: int) -> list[int]:
    """The process's children; none once it is gone (Linux)."""
    with contextlib.suppress(OSError):
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def descendants(pid: int) -> list[int]:
    """The process's children, theirs, and so on (Linux)."""
    return [d for child in children(pid) for d in (child, *descendants(child))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_for_health(url: str, process: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited {process.returncode}:\n{stop(process)}")
        with contextlib.suppress(OSError):
            if http(f"{url}/health")[0] == 200:
                return
        time.sleep(0.5)
    raise AssertionError(f"server not healthy after {timeout}s:\n{stop(process)}")


def request_instances(project: Project, count: int) -> list[Any]:
    """Valid /predict instances built from the project's sample validation split."""
    data = project.path / "data" / "sample"
    if project.task == "image":
        files = sorted((data / "val").rglob("*.png"))[:count]
        return [{"image": base64.b64encode(f.read_bytes()).decode()} for f in files]
    import csv

    with (data / "val.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))[:count]
    if project.task == "text":
        return [{"text": row["text"]} for row in rows]
    return [{k: _number_or_text(v) for k, v in row.items() if k != "target"} for row in rows]


def _number_or_text(value: str) -> Any:
    try:
        return float(value)
    except ValueError:
        return value


TINY_MODEL = {
    "image": ["data.image_size=16", "model.widths=[8,16]"],
    "text": [
        "data.max_length=16",
        "model.dim=16",
        "model.heads=2",
        "model.layers=1",
        "model.mlp_dim=32",
    ],
    "tabular": ["model.hidden=[16]", "model.embedding_dim=4"],
}
SMALL_MODEL = {
    "image": ["model.widths=[16,32]"],
    "text": [
        "data.max_length=32",
        "model.dim=32",
        "model.heads=2",
        "model.layers=1",
        "model.mlp_dim=64",
    ],
    "tabular": ["model.hidden=[32]"],
}


def quick_overrides(task: str, name: str, steps: int, *extra: str) -> list[str]:
    return [
        *TINY_MODEL[task],
        "data.batch_size=8",
        "data.num_workers=0",
        f"run.name={name}",
        f"trainer.max_steps={steps}",
        "trainer.checkpoint_every=1",
        "log.every=1",
        "log.report=false",  # tests/test_research.py checks the report and tracking
        "log.mlflow=false",
        *extra,
    ]
