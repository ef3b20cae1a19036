"""Preemption of a single-process run, in every framework (issue 11).

A run told to stop by SIGTERM mid-run finishes its step, writes a checkpoint at that step and
exits 75 ("preempted, run me again"); the same command then resumes at that step and finishes
the planned steps, each optimizer step logged exactly once: none recomputed, none skipped.
The config keys behind it are range-checked like every other.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .harness import FRAMEWORKS, RESUME_LINE, Project, quick_overrides, read_metrics

pytestmark = pytest.mark.slow

EXIT_PREEMPTED = 75
STEPS = 30


@pytest.fixture(scope="module", params=FRAMEWORKS)
def image_project(request: pytest.FixtureRequest, baked_project) -> Project:
    project = baked_project(request.param, "image")
    project.module("data", "sample", "--out", "data/sample")
    return project


def train_steps(run: Path) -> list[int]:
    try:
        return [r["step"] for r in read_metrics(run) if r.get("split") == "train"]
    except (OSError, ValueError):
        return []


def checkpoint_steps(run: Path) -> set[int]:
    """The steps of the checkpoints in the run: step_000012.pt, ckpt-12.index or 12/."""
    found = (re.match(r"\D*(\d+)", p.name) for p in (run / "checkpoints").iterdir())
    return {int(match.group(1)) for match in found if match}


def wait_for_step(process: subprocess.Popen[str], run: Path, step: int, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while not any(s >= step for s in train_steps(run)):
        assert process.poll() is None, process.communicate()[0][-4000:]
        assert time.monotonic() < deadline, f"no step {step} in {timeout} s"
        time.sleep(0.1)


def test_stop_signal_checkpoints_the_step_and_the_restart_recomputes_none(
    image_project: Project,
) -> None:
    project = image_project
    overrides = quick_overrides("image", "preempted", STEPS, "trainer.checkpoint_every=1000")
    run = project.path / "runs" / "preempted"
    process = project.popen_module("train", *overrides)
    wait_for_step(process, run, 3)
    os.kill(process.pid, signal.SIGTERM)  # the training process alone, as Kubernetes does
    output, _ = process.communicate(timeout=300)
    assert process.returncode == EXIT_PREEMPTED, output[-4000:]
    stopped = train_steps(run)[-1]
    assert 3 <= stopped < STEPS, f"stopped after step {stopped} of {STEPS}"
    assert f"Preempted by SIGTERM: stopped after step {stopped}" in output
    assert checkpoint_steps(run) == {stopped}  # checkpoint_every=1000: written for the signal

    result = project.module("train", *overrides)
    resumed = RESUME_LINE.search(result.stdout + result.stderr)
    assert resumed and int(resumed.group(1)) == stopped, result.stdout[-3000:]
    assert train_steps(run) == list(range(1, STEPS + 1))


@pytest.mark.parametrize(
    "override",
    [
        "trainer.checkpoint_every_minutes=-1",
        "trainer.stop_signals=[SIGKILL]",
    ],
)
def test_preemption_keys_are_range_checked(baked_project, override: str) -> None:
    """The config schema is shared: checked in one framework's project."""
    result = baked_project("pytorch", "image").module("train", override, check=False)
    key = override.split("=")[0]
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"error: config key {key} must be"), result.stderr
