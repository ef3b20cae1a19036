"""What only the TensorFlow template has, on CPU: MirroredStrategy over two logical CPU devices
(contract item 5), a checkpoint from it exported as a single-device model, LiteRT float32 and int8
with built-in ops only, two MultiWorkerMirroredStrategy workers on one machine, mixed precision
with XLA, and the launchers each hardware answer gets.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
import yaml

from .harness import (
    TASKS,
    TEMPLATES,
    Project,
    answers,
    free_port,
    quick_overrides,
    read_metrics,
    train_losses,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session", params=TASKS)
def tf_project(request: pytest.FixtureRequest, baked_project) -> Project:
    project = baked_project("tensorflow", request.param)
    project.module("data", "sample", "--out", "data/sample")
    return project


@pytest.fixture(scope="session")
def mirrored_run(tf_project: Project) -> tuple[Path, str]:
    """Two steps under MirroredStrategy over two logical CPU devices: runs/mirrored."""
    result = tf_project.module(
        "train", *quick_overrides(tf_project.task, "mirrored", 2, "trainer.devices=2")
    )
    return tf_project.path / "runs" / "mirrored", result.stdout


def test_mirrored_strategy_over_two_cpu_devices_trains(mirrored_run: tuple[Path, str]) -> None:
    run, output = mirrored_run
    assert "MirroredStrategy with 2 replica(s)" in output
    losses = train_losses(run)
    assert [step for step, _ in losses] == [1, 2]
    assert all(math.isfinite(loss) for _, loss in losses)


def test_export_layout(tf_project: Project, mirrored_run: tuple[Path, str]) -> None:
    """LiteRT is `mobile`'s (tests/test_mobile.py)."""
    run, _ = mirrored_run
    tf_project.module("export", "--checkpoint", str(run))
    export = run / "export"
    assert (export / "serving" / tf_project.package / "1" / "saved_model.pb").is_file()
    checks = {c["format"]: c for c in json.loads((export / "export.json").read_text())}
    assert set(checks) == {"savedmodel", "onnx"}


def test_mixed_precision_with_xla_trains(baked_project) -> None:
    """On one task: the precision and XLA code does not depend on it."""
    project = baked_project("tensorflow", "tabular")
    project.module("data", "sample", "--out", "data/sample")
    overrides = quick_overrides(
        "tabular", "bf16", 2, "trainer.precision=bf16", "trainer.compile=true"
    )
    project.module("train", *overrides)
    losses = train_losses(project.path / "runs" / "bf16")
    assert len(losses) == 2 and all(math.isfinite(loss) for _, loss in losses)


def test_two_multiworker_processes_train_in_step(baked_project) -> None:
    project = baked_project("tensorflow", "tabular", hardware="cluster")
    project.module("data", "sample", "--out", "data/sample")
    workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    overrides = quick_overrides("tabular", "multiworker", 4, "trainer.checkpoint_every=2")
    processes = [_start_worker(project, workers, index, overrides) for index in range(2)]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [p.returncode for p in processes] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    chief, other = outputs  # worker 0 is the chief: the console is its alone
    assert "with 2 replica(s)" in chief
    assert "Training" not in other and "Done in" not in other
    run = project.path / "runs" / "multiworker"
    assert [r["step"] for r in read_metrics(run) if r["split"] == "train"] == [1, 2, 3, 4]
    checkpoints = sorted(p.name for p in (run / "checkpoints").glob("ckpt-*.index"))
    assert checkpoints == ["ckpt-2.index", "ckpt-4.index"]


def _start_worker(
    project: Project, workers: list[str], index: int, overrides: list[str]
) -> subprocess.Popen[str]:
    tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
    return subprocess.Popen(
        [str(project.env.python), "-m", f"{project.package}.train", *overrides],
        cwd=project.path,
        env=project.env.environ({"TF_CONFIG": json.dumps(tf_config)}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


LAUNCHERS = {
    "cpu": set(),
    "gpu": set(),
    "multi_gpu": {"train_multi_gpu.sh"},
    "cluster": {"slurm.sbatch", "k8s-multiworker.yaml"},
    "tpu": {"tpu_vm.sh"},
}


@pytest.mark.parametrize("hardware", sorted(LAUNCHERS))
def test_each_hardware_gets_its_launchers(cookies, hardware: str) -> None:
    result = cookies.bake(
        extra_context=answers("image", hardware=hardware), template=str(TEMPLATES / "tensorflow")
    )
    assert result.exit_code == 0, result.exception
    scripts = result.project_path / "scripts"
    assert {p.name for p in scripts.iterdir()} == {"tf_serving.sh", *LAUNCHERS[hardware]}
    for script in scripts.iterdir():
        if script.suffix == ".yaml":
            assert len(list(yaml.safe_load_all(script.read_text()))) == 2
        else:
            subprocess.run(["bash", "-n", str(script)], check=True)
