"""PyTorch-only checks of generated projects (contract item 5 and what only PyTorch has).

Two processes on one CPU machine, launched by torchrun over gloo, train two steps with DDP (every
task) and FSDP2 (text); after each checkpoint both ranks hold the same parameters; and a plain
`python -m <pkg>.train trainer.devices=2` starts the two processes itself. A corrupt image first
met inside a DataLoader worker process still ends with one line naming the file.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from .harness import TASKS, Project, quick_overrides, train_losses

pytestmark = pytest.mark.slow

# Runs the project's own `train.main` under torchrun, with `Checkpoints.save` extended so every
# rank also writes its (gathered) parameters next to the checkpoint.
DUMP_PARAMETERS = """
import sys

import torch
from torch.distributed.tensor import DTensor

from {package} import checkpoint, devices, train

save = checkpoint.Checkpoints.save


def save_and_dump(self, step, training, config):
    save(self, step, training, config)
    directory, env = self.directory, self.env
    tensors = [
        p.full_tensor() if isinstance(p, DTensor) else p
        for p in devices.unwrap(training.model).parameters()
    ]
    flat = torch.cat([t.detach().flatten() for t in tensors])
    torch.save(flat, directory / f"rank{{env.rank}}-step{{step}}.params")


checkpoint.Checkpoints.save = save_and_dump
train.main(sys.argv[1:])
"""

COMPARE = """
import sys

import torch

rank0, rank1 = (torch.load(path) for path in sys.argv[1:3])
assert rank0.numel() > 0 and torch.isfinite(rank0).all(), "empty or non-finite parameters"
assert torch.equal(rank0, rank1), f"ranks differ by {{(rank0 - rank1).abs().max().item()}}"
print("ranks agree on", rank0.numel(), "parameters")
"""

RUNS = [(task, "ddp") for task in TASKS] + [("text", "fsdp")]


@pytest.fixture(scope="module")
def pytorch_project(baked_project) -> Callable[[str], Project]:
    """The baked PyTorch project of a task, with its sample data (baked once per module)."""
    projects: dict[str, Project] = {}

    def get(task: str) -> Project:
        if task not in projects:
            projects[task] = baked_project("pytorch", task)
            projects[task].module("data", "sample", "--out", "data/sample")
        return projects[task]

    return get


@pytest.mark.parametrize(("task", "strategy"), RUNS, ids=[f"{t}-{s}" for t, s in RUNS])
def test_two_processes_train_and_agree_on_parameters(
    pytorch_project: Callable[[str], Project], task: str, strategy: str, tmp_path: Path
) -> None:
    project = pytorch_project(task)
    script = tmp_path / "train_and_dump.py"
    script.write_text(DUMP_PARAMETERS.format(package=project.package))
    name = f"torchrun-{strategy}"
    overrides = quick_overrides(
        project.task, name, 2, "trainer.checkpoint_every=2", f"trainer.strategy={strategy}"
    )
    result = project.run(
        "torchrun", "--standalone", "--nproc_per_node=2", str(script), *overrides, timeout=300
    )
    assert "on 2 x cpu" in result.stdout, result.stdout[-3000:]
    run = project.path / "runs" / name
    assert [step for step, _ in train_losses(run)] == [1, 2]
    checkpoints = run / "checkpoints"
    assert (checkpoints / "step_000002.pt").is_file()
    compare = tmp_path / "compare.py"
    compare.write_text(textwrap.dedent(COMPARE))
    project.run(
        str(project.env.python),
        str(compare),
        str(checkpoints / "rank0-step2.params"),
        str(checkpoints / "rank1-step2.params"),
    )


def test_corrupt_image_in_a_loader_worker_is_one_message(
    pytorch_project: Callable[[str], Project], tmp_path: Path
) -> None:
    project = pytorch_project("image")
    data = tmp_path / "data"
    project.run("cp", "-r", "data/sample", str(data))
    culprit = sorted((data / "train").rglob("*.png"))[5]
    culprit.write_bytes(culprit.read_bytes()[:100])  # a valid header, truncated pixel data
    overrides = quick_overrides("image", "workers", 40, f"data.path={data}", "data.num_workers=2")
    result = project.module("train", *overrides, check=False)
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"error: {culprit}: cannot decode image" in result.stderr, result.stderr[-3000:]
    assert "worker" not in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


def test_trainer_devices_starts_one_process_per_device(
    pytorch_project: Callable[[str], Project],
) -> None:
    project = pytorch_project("tabular")
    overrides = quick_overrides("tabular", "devices", 2, "trainer.devices=2")
    result = project.module("train", *overrides, timeout=300)
    assert "on 2 x cpu" in result.stdout, result.stdout[-3000:]
    assert [step for step, _ in train_losses(project.path / "runs" / "devices")] == [1, 2]
