"""The cluster launchers of every framework (issue 11), run without a cluster.

`scripts/slurm.sbatch` runs under bash with stand-ins for SLURM's `srun` (it runs a task that
behaves as training would: done, crashed, or preempted on SIGTERM) and `scontrol` (it records a
requeue). The job requeues itself exactly when training was preempted: when the task exits 75,
or when SLURM's warning signal (SIGUSR1 to the batch script) stopped it; never after a finish or
a crash. The script passes the warning on to the task as SIGTERM.

The Kubernetes manifests (PyTorchJob, Job with a headless Service, JobSet) validate offline
against a vendored minimal schema of the fields they use (tests/schemas/kubernetes.json), give
training a grace period to checkpoint in, and rerun pods that exit 75.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from .harness import FRAMEWORKS, TEMPLATES, answers

SRUN = """\
#!/usr/bin/env bash
# Stand-in for srun: record the command, then run $TASK (what the training processes do).
echo "$*" > "$LOG/srun"
exec bash -c "$TASK"
"""
SCONTROL = """\
#!/usr/bin/env bash
# Stand-in for scontrol: one host, and record every other command.
if [[ $1 == show ]]; then echo node-1; exit 0; fi
echo "$*" >> "$LOG/scontrol"
"""
# Training as the tasks would run it: finishes, crashes, or is preempted by SIGTERM (exit 75).
TASKS = {
    "done": "exit 0",
    "crashed": "exit 1",
    "preempted": "exit 75",
    "signalled": "trap 'kill $!; echo term > $LOG/task; exit 75' TERM; "
    "sleep 60 & touch $LOG/started; wait",
}


@pytest.fixture(scope="module")
def sbatch_projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from cookiecutter.main import cookiecutter

    out = tmp_path_factory.mktemp("cluster")
    projects = {}
    for framework in FRAMEWORKS:
        context = answers("image", hardware="cluster", num_nodes=2, gpus_per_node=2)
        path = cookiecutter(
            str(TEMPLATES / framework),
            no_input=True,
            output_dir=str(out / framework),
            extra_context=context,
            accept_hooks=False,
        )
        projects[framework] = Path(path)
        (Path(path) / ".venv" / "bin").mkdir(parents=True)
        (Path(path) / ".venv" / "bin" / "activate").write_text("")
    return projects


def run_sbatch(project: Path, tmp_path: Path, task: str) -> tuple[int, Path]:
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir()
    log.mkdir()
    for name, text in (("srun", SRUN), ("scontrol", SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "LOG": str(log),
        "TASK": TASKS[task],
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NODELIST": "node-[1-2]",
        "SLURM_NNODES": "2",
    }
    process = subprocess.Popen(
        ["bash", "scripts/slurm.sbatch", "run.name=big"], cwd=project, env=env, text=True
    )
    if task == "signalled":
        deadline = time.monotonic() + 30
        while not (log / "started").exists():
            assert time.monotonic() < deadline and process.poll() is None, "the task never started"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGUSR1)  # SLURM's --signal=B:USR1@180
    return process.wait(timeout=60), log


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    ("task", "status", "requeued"),
    [("done", 0, False), ("crashed", 1, False), ("preempted", 75, True), ("signalled", 75, True)],
)
def test_sbatch_requeues_a_preempted_job_only(
    sbatch_projects: dict[str, Path],
    tmp_path: Path,
    framework: str,
    task: str,
    status: int,
    requeued: bool,
) -> None:
    code, log = run_sbatch(sbatch_projects[framework], tmp_path, task)
    assert code == status
    assert "train" in (log / "srun").read_text() and "run.name=big" in (log / "srun").read_text()
    requeues = (log / "scontrol").read_text() if (log / "scontrol").exists() else ""
    assert requeues == ("requeue 4242\n" if requeued else "")
    if task == "signalled":
        assert (log / "task").read_text() == "term\n"  # the warning reached the task as SIGTERM


def test_sbatch_asks_for_the_warning_signal_and_requeue(sbatch_projects) -> None:
    for project in sbatch_projects.values():
        directives = (project / "scripts" / "slurm.sbatch").read_text()
        assert "#SBATCH --signal=B:USR1@" in directives and "#SBATCH --requeue" in directives


SCHEMA = json.loads((Path(__file__).parent / "schemas" / "kubernetes.json").read_text())
MANIFESTS = {
    "pytorch": "pytorchjob.yaml",
    "tensorflow": "k8s-multiworker.yaml",
    "jax": "jobset.yaml",
}


def schema_errors(document: dict) -> list[str]:
    """What the vendored schema of the document's apiVersion and kind finds wrong with it."""
    kind = f"{document.get('apiVersion')}/{document.get('kind')}"
    if kind not in SCHEMA["kinds"]:
        return [f"{kind}: not a kind the schema knows"]
    pointer = kind.replace("~", "~0").replace("/", "~1")
    validator = Draft202012Validator({**SCHEMA, "$ref": f"#/kinds/{pointer}"})
    return [f"{kind} {e.json_path}: {e.message}" for e in validator.iter_errors(document)]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_kubernetes_manifests_are_valid_and_resume_preempted_pods(
    sbatch_projects: dict[str, Path], framework: str
) -> None:
    text = (sbatch_projects[framework] / "scripts" / MANIFESTS[framework]).read_text()
    documents = [d for d in yaml.safe_load_all(text) if d]
    assert documents and [e for d in documents for e in schema_errors(d)] == []
    pods = [pod for d in documents for pod in _pod_specs(d)]
    assert pods and all(pod["terminationGracePeriodSeconds"] >= 60 for pod in pods)
    assert any(_reruns_preempted_pods(d) for d in documents)


def test_a_misspelled_key_fails_the_schema() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}}
    pod = {"containers": [{"name": "c", "image": "i"}], "terminationGracePeriod": 30}
    assert schema_errors({**job, "spec": {"template": {"spec": pod}}})


def _pod_specs(document: dict) -> list[dict]:
    spec = document.get("spec", {})
    if document["kind"] == "Job":
        return [spec["template"]["spec"]]
    if document["kind"] == "PyTorchJob":
        return [r["template"]["spec"] for r in spec["pytorchReplicaSpecs"].values()]
    if document["kind"] == "JobSet":
        return [j["template"]["spec"]["template"]["spec"] for j in spec["replicatedJobs"]]
    return []


def _reruns_preempted_pods(document: dict) -> bool:
    """Pods that exit 75 run again: restarted in place (PyTorchJob), or a pod failure policy
    rule on exit code 75 that ignores it (Job) or fails the Job for the JobSet to restart."""
    spec = document.get("spec", {})
    if document["kind"] == "PyTorchJob":
        replicas = spec["pytorchReplicaSpecs"].values()
        return all(r["restartPolicy"] in ("OnFailure", "ExitCode") for r in replicas)
    jobs = (
        [spec]
        if document["kind"] == "Job"
        else [j["template"]["spec"] for j in spec.get("replicatedJobs", [])]
    )
    rules = [r for job in jobs for r in job.get("podFailurePolicy", {}).get("rules", [])]
    if document["kind"] == "JobSet":
        restarts = spec["failurePolicy"]["rules"]
        if not any(r["action"] == "RestartJobSetAndIgnoreMaxRestarts" for r in restarts):
            return False
    return any(75 in r.get("onExitCodes", {}).get("values", []) for r in rules)
