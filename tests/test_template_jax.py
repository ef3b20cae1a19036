"""What only the JAX template has, checked for every task on CPU (contract item 5 and more).

- several devices train like one: four host devices (`JAX_NUM_CPU_DEVICES`) as a 2 x 2 mesh,
  data parallel and with the parameters sharded over the "model" axis;
- two local processes joined by `jax.distributed.initialize` (scripts/local_processes.sh) train,
  each writing its part of the checkpoint;
- a run stopped after a checkpoint and restarted repeats the uninterrupted run exactly: the same
  batches in the same order (Grain's iterator state is in the checkpoint), the same losses.

tests/test_generated_projects.py (train, resume, export parity, serving, the project's own
tests) runs for JAX too. The project's own tests/test_jax_training.py adds: the data stream's
saved position, the same weights after a resume, two devices against one, all three export
formats, and serving from the StableHLO artifact without TensorFlow.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from .harness import TASKS, Project, free_port, quick_overrides, train_losses

pytestmark = pytest.mark.slow

TOLERANCE = 1e-5


@pytest.fixture(scope="module", params=[("jax", task) for task in TASKS], ids=TASKS)
def project(request: pytest.FixtureRequest, baked_project) -> Project:
    project = baked_project(*request.param)
    project.module("data", "sample", "--out", "data/sample")
    return project


@pytest.fixture(scope="module")
def one_device(project: Project) -> Path:
    """Four steps on one device, a checkpoint every two: runs/one."""
    project.module("train", *quick_overrides(project.task, "one", 4, "trainer.checkpoint_every=2"))
    return project.path / "runs" / "one"


def test_four_devices_on_a_data_and_a_model_axis_train_like_one(
    project: Project, one_device: Path
) -> None:
    """A 2 x 2 mesh: batches split over "data", parameters sharded over "model"."""
    overrides = quick_overrides(
        project.task, "mesh", 4, "trainer.checkpoint_every=2", "trainer.mesh_model=2"
    )
    project.module("train", *overrides, extra_env={"JAX_NUM_CPU_DEVICES": "4"})
    losses, expected = train_losses(project.path / "runs" / "mesh"), train_losses(one_device)
    assert [step for step, _ in losses] == [step for step, _ in expected]
    for (_, got), (_, want) in zip(losses, expected, strict=True):
        assert got == pytest.approx(want, rel=TOLERANCE), (losses, expected)


def test_two_processes_train_with_jax_distributed(project: Project) -> None:
    overrides = quick_overrides(project.task, "procs", 2)
    result = project.run(
        "bash",
        "scripts/local_processes.sh",
        "2",
        *overrides,
        extra_env={"PORT": str(free_port()), "PYTHON": str(project.env.python)},
    )
    run = project.path / "runs" / "procs"
    losses = train_losses(run)
    assert [step for step, _ in losses] == [1, 2], result.stdout + result.stderr
    assert all(math.isfinite(loss) for _, loss in losses)
    data_state = run / "checkpoints" / "2" / "data"
    assert sorted(p.name for p in data_state.glob("process_*.json")) == [
        "process_0-of-2.json",
        "process_1-of-2.json",
    ]


def test_restarted_run_repeats_the_uninterrupted_one(project: Project, one_device: Path) -> None:
    """Stop the four-step run after its step 2 checkpoint, restart it: the same losses."""
    resumed = project.path / "runs" / "resumed"
    shutil.copytree(one_device, resumed)
    shutil.rmtree(resumed / "checkpoints" / "4")
    config = resumed / "config.yaml"  # as the run "resumed" writes it
    config.write_text(config.read_text().replace("  name: one\n", "  name: resumed\n"))
    metrics = resumed / "metrics.jsonl"
    kept = [line for line in metrics.read_text().splitlines() if json.loads(line)["step"] <= 2]
    metrics.write_text("\n".join(kept) + "\n")

    overrides = quick_overrides(project.task, "resumed", 4, "trainer.checkpoint_every=2")
    result = project.module("train", *overrides)
    assert "Resumed from step 2" in result.stdout
    assert train_losses(resumed) == train_losses(one_device)
