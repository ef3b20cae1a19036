"""Two "nodes" on one machine, in every framework (issue 11): two launcher invocations with a
rendezvous on 127.0.0.1, one training process each (torchrun --nnodes=2; TF_CONFIG with two
workers; two jax.distributed processes).

A stop signal sent to one node mid-run stops both after the same step: both write their part
of the checkpoint at that step, with identical weights, and exit "preempted". Started again,
both resume from that step, finish the planned steps (each logged once) and end with identical
weights. Every process dumps its weights at each checkpoint through a wrapper around the
project's own `train.main` (below), so the comparison sees what each process holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

from .harness import RESUME_LINE, Project, children, descendants, free_port, quick_overrides
from .test_preemption import EXIT_PREEMPTED, checkpoint_steps, train_steps, wait_for_step

pytestmark = pytest.mark.slow

STEPS = 30
FRAMEWORKS = ("pytorch", "tensorflow", "jax")

# Run the project's train.main with its checkpoint writer extended: after each save every
# process writes its weights to $DUMPS/<process>-<step>.npy.
DUMP_WEIGHTS = {
    "pytorch": """
        from {package} import checkpoint, devices

        save = checkpoint.Checkpoints.save

        def save_and_dump(self, step, training, config):
            save(self, step, training, config)
            model = devices.unwrap(training.model)
            weights = [p.detach().numpy().ravel() for p in model.parameters()]
            dump(self.env.rank, step, weights)

        checkpoint.Checkpoints.save = save_and_dump
    """,
    "tensorflow": """
        from {package} import checkpoint

        save = checkpoint.Checkpoints.save

        def save_and_dump(self, step):
            save(self, step)
            weights = [w.ravel() for w in self._checkpoint.model.get_weights()]
            dump(os.environ["NODE"], step, weights)

        checkpoint.Checkpoints.save = save_and_dump
    """,
    "jax": """
        import jax
        from flax import nnx

        from {package} import checkpoint

        save = checkpoint.Checkpoints.save

        def save_and_dump(self, step, model, optimizer, data):
            save(self, step, model, optimizer, data)
            leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
            weights = [np.asarray(x.addressable_data(0)).ravel() for x in leaves]
            dump(jax.process_index(), step, weights)

        checkpoint.Checkpoints.save = save_and_dump
    """,
}
PREAMBLE = """
import os
import sys

import numpy as np

def dump(process, step, weights):
    np.save(os.path.join(os.environ["DUMPS"], f"{{process}}-{{step}}.npy"), np.concatenate(weights))
"""
MAIN = """
from {package} import train

train.main(sys.argv[1:])
"""


@pytest.fixture(scope="module", params=FRAMEWORKS)
def cluster_project(request: pytest.FixtureRequest, baked_project) -> Project:
    project = baked_project(request.param, "tabular", hardware="cluster")
    project.module("data", "sample", "--out", "data/sample")
    script = PREAMBLE + textwrap.dedent(DUMP_WEIGHTS[request.param]) + MAIN
    (project.path / "train_and_dump.py").write_text(script.format(package=project.package))
    return project


def start_nodes(project: Project, overrides: list[str], dumps: Path) -> list[subprocess.Popen]:
    """Two nodes of one process each, meeting on 127.0.0.1."""
    dumps.mkdir(exist_ok=True)
    script = str(project.path / "train_and_dump.py")
    ports = [free_port(), free_port()]
    processes = []
    for node in range(2):
        env = {"DUMPS": str(dumps), "NODE": str(node)}
        if project.framework == "pytorch":
            command = [
                str(project.env.python),
                "-m",
                f"{project.package}.launch",  # torchrun, exiting 75 when preempted
                "--nnodes=2",
                "--nproc_per_node=1",
                "--max-restarts=3",  # a preempted worker is not restarted
                f"--node_rank={node}",
                "--master_addr=127.0.0.1",
                f"--master_port={ports[0]}",
                script,
            ]
        else:
            command = [str(project.env.python), script]
        if project.framework == "tensorflow":
            cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
            task = {"type": "worker", "index": node}
            env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": task})
        if project.framework == "jax":
            env |= {
                "JAX_PLATFORMS": "cpu",
                "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{ports[0]}",
                "JAX_NUM_PROCESSES": "2",
                "JAX_PROCESS_ID": str(node),
            }
        processes.append(
            subprocess.Popen(
                [*command, *overrides],
                cwd=project.path,
                env=project.env.environ(env),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    return processes


def finish(processes: list[subprocess.Popen]) -> list[str]:
    """Each process's output once it ends; one still running after 400 s is killed with its
    descendants (torchrun's workers, in sessions of their own, hold its output pipe open)."""
    outputs = []
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=400)[0])
        except subprocess.TimeoutExpired:
            for pid in [process.pid, *descendants(process.pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            outputs.append(process.communicate()[0] + "\n[killed after 400 s]")
    return outputs


def same_weights(dumps: Path, step: int) -> bool:
    first, second = (dumps / f"{node}-{step}.npy" for node in range(2))
    assert first.is_file() and second.is_file(), sorted(p.name for p in dumps.iterdir())
    return first.read_bytes() == second.read_bytes()


def test_signal_to_one_node_stops_both_at_one_step_and_both_resume(
    cluster_project: Project, tmp_path: Path
) -> None:
    project = cluster_project
    steps = STEPS * 2 if project.framework == "jax" else STEPS  # JAX's sync point comes later
    overrides = quick_overrides(
        "tabular", "nodes", steps, "trainer.checkpoint_every=1000", "trainer.stop_check_every=2"
    )
    run, dumps = project.path / "runs" / "nodes", tmp_path / "dumps"
    nodes = start_nodes(project, overrides, dumps)
    wait_for_step(nodes[0], run, 3)
    os.kill(nodes[1].pid, signal.SIGTERM)  # the second node's launcher only
    outputs = finish(nodes)
    report = "\n".join(output[-3000:] for output in outputs)
    stopped = train_steps(run)[-1]
    assert stopped < steps, report
    if project.framework != "jax":  # JAX stops at its preemption sync point, any step
        assert stopped % 2 == 0, report  # at a check of the processes (stop_check_every=2)
    assert checkpoint_steps(run) == {stopped}, report
    assert same_weights(dumps, stopped), "the nodes checkpointed different weights"
    assert f"stopped after step {stopped}" in "\n".join(outputs)
    assert [p.returncode for p in nodes] == [EXIT_PREEMPTED] * 2, report

    nodes = start_nodes(project, overrides, dumps)
    outputs = finish(nodes)
    report = "\n".join(output[-3000:] for output in outputs)
    assert [p.returncode for p in nodes] == [0, 0], report
    resumed = RESUME_LINE.search("\n".join(outputs))
    assert resumed and int(resumed.group(1)) == stopped, report
    assert train_steps(run) == list(range(1, steps + 1)), report
    assert same_weights(dumps, steps), "the nodes ended with different weights"


@pytest.mark.full
def test_torchrun_restarts_the_group_after_a_worker_dies(baked_project) -> None:
    """Elastic: a worker killed without warning (SIGKILL) makes torchrun (--max-restarts)
    restart both workers, which resume from the latest checkpoint and finish the run."""
    project = baked_project("pytorch", "tabular", hardware="cpu")
    project.module("data", "sample", "--out", "data/sample")
    overrides = quick_overrides("tabular", "elastic", STEPS, "trainer.checkpoint_every=3")
    run = project.path / "runs" / "elastic"
    launcher = subprocess.Popen(
        ["bash", "scripts/torchrun.sh", *overrides],
        cwd=project.path,
        env=project.env.environ({"NPROC": "2", "MAX_RESTARTS": "3"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for_step(launcher, run, 4)
    (torchrun,) = children(launcher.pid)  # scripts/torchrun.sh execs the project's launcher
    workers = children(torchrun)
    assert len(workers) == 2, workers
    os.kill(workers[1], signal.SIGKILL)
    output = finish([launcher])[0]
    assert launcher.returncode == 0, output[-4000:]
    resumed = RESUME_LINE.search(output)
    assert resumed and int(resumed.group(1)) % 3 == 0 and int(resumed.group(1)) >= 3, output[-4000:]
    assert train_steps(run)[-1] == STEPS and STEPS in checkpoint_steps(run)
