"""The research workflow of every framework (issue 12), on the tabular sample data:

- a sweep: a bad trial is pruned on its per-epoch val metric; a worker killed mid-trial and two
  workers started after it finish the study with exactly the planned trials, the interrupted
  one retried from its own checkpoint in its own run folder, none counted twice (the journal
  file in PyTorch and JAX, a SQLite database URL in TensorFlow);
- every run's report (PNGs that decode, a confusion matrix holding the val split) and its MLflow
  run (params, metrics, artifacts; a resumed run continues it).

Shared code, checked once (in the PyTorch project): workers racing for the trials of one study,
through a journal file and through a SQLite URL, finish exactly the planned count, a dead
worker's trial retried; an unreachable MLflow server only warns; `compare` groups runs that
differ only in seed; bad input is one line.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pytest

from .harness import FRAMEWORKS, Project, children, free_port, stop

pytestmark = pytest.mark.slow

TASK = "tabular"
QUICK = [
    "model.hidden=[32]",
    "data.batch_size=64",
    "data.num_workers=0",
    "trainer.max_epochs=3",
    "trainer.checkpoint_every=6",
    "log.every=2",
]
GOOD_LR, BAD_LR = 0.03, 1e-9
# With this sampler seed, one worker's first trials are GOOD_LR, BAD_LR, GOOD_LR (Optuna 5.0's
# TPE sampler; checked by the test: the second trial must be the pruned one).
SWEEP = f"""\
study: study
trials: 4
metric: accuracy
seed: 10
stale_after_s: 60
pruner: {{startup_trials: 1, warmup_epochs: 0}}
space:
  optim.lr: {{choices: [{GOOD_LR}, {BAD_LR}]}}
"""
# Where each framework's sweep keeps its study: the default journal, or a database URL.
STORAGE = {"pytorch": None, "tensorflow": "sqlite:///runs/study.db", "jax": None}
STUDY_STATE = """
import json, sys
import optuna
from optuna.storages.journal import JournalFileBackend

where, name = sys.argv[1:3]
storage = where if "://" in where else optuna.storages.JournalStorage(JournalFileBackend(where))
study = optuna.load_study(study_name=name, storage=storage)
print(json.dumps([
    {"number": t.number, "state": t.state.name, "run": t.user_attrs.get("run_path"),
     "run_number": t.user_attrs.get("run"), "ended": t.user_attrs.get("ended"),
     "worker": t.user_attrs.get("worker"), "lr": t.params.get("optim.lr")}
    for t in study.trials
]))
"""
# A worker of the sweep module's own loop whose trials take a moment each instead of training.
# It says it is ready and waits for the file `go`; then, all at once, it claims BURST places
# (more than the study has, all workers together), and either dies holding them, or finishes
# them, claims BURST more from one look at the study once the dead one's trials are given up
# (so that each claim goes for the same interrupted run), and goes on with the sweep's loop.
RACER = """
import os, random, sys, time
from pathlib import Path
from {package}.sweep import (
    Sweep, claim_place, give_up_abandoned, interrupted_runs, next_trial, open_study, suggest,
)

storage, folder, die = sys.argv[1] or None, Path(sys.argv[2]), sys.argv[3] == "die"
sweep = Sweep(
    study="race", trials={trials}, metric="accuracy", seed=None, storage=storage,
    stale_after_s=60, startup_trials=1, warmup_epochs=0,
    space={{"optim.lr": {{"low": 1e-4, "high": 0.1, "log": True}}}}, base=(), run_dir=folder,
)
study = open_study(sweep)
(folder / f"ready-{{os.getpid()}}").touch()
while not (folder / "go").exists():
    time.sleep(0.01)
burst = [claim_place(study, study.get_trials(deepcopy=False), sweep) for _ in range({burst})]
claimed = [trial for trial in burst if trial is not None]
for trial in claimed:
    suggest(trial, sweep.space)
if die:
    os._exit(1)


def finish(trial):
    suggest(trial, sweep.space)
    time.sleep(random.uniform(0.01, 0.03))
    study.tell(trial, random.random())


for trial in claimed:
    finish(trial)
while not interrupted_runs(trials := study.get_trials(deepcopy=False)) and any(
    t.state.name == "RUNNING" for t in trials
):
    give_up_abandoned(study, sweep)
    time.sleep(0.01)
for trial in [claim_place(study, trials, sweep) for _ in range({burst})]:
    if trial is not None:
        finish(trial)
while (trial := next_trial(study, sweep)) is not None:
    finish(trial)
"""
BURST = 8
RACE_TRIALS = 20
MLFLOW_RUN = """
import json, sys
from mlflow.tracking import MlflowClient

state = json.load(open(sys.argv[1]))
client = MlflowClient(state["uri"])
run = client.get_run(state["run_id"])
history = client.get_metric_history(state["run_id"], "train/loss")
print(json.dumps({
    "status": run.info.status,
    "params": run.data.params,
    "metrics": sorted(run.data.metrics),
    "tags": run.data.tags,
    "loss_steps": sorted(m.step for m in history),
    "artifacts": sorted(a.path for a in client.list_artifacts(state["run_id"]))
    + sorted(a.path for a in client.list_artifacts(state["run_id"], "report")),
}))
"""


@pytest.fixture(scope="module", params=[(fw, TASK) for fw in FRAMEWORKS], ids=FRAMEWORKS)
def project(request: pytest.FixtureRequest, baked_project) -> Project:
    project = baked_project(*request.param)
    project.module("data", "sample", "--out", "data/sample")
    return project


@pytest.fixture(scope="module")
def pytorch_project(baked_project) -> Project:
    """For the shared code, checked once."""
    project = baked_project("pytorch", TASK)
    project.module("data", "sample", "--out", "data/sample")
    return project


def python_json(project: Project, script: str, *args: str) -> object:
    return json.loads(project.run(str(project.env.python), "-c", script, *args).stdout)


def wait_for(condition, process, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"exited before {what}:\n{stop(process)[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout} s:\n{stop(process)[-4000:]}")
        time.sleep(0.1)


def running(pid: int) -> bool:
    """Whether the process runs: neither gone nor a zombie its stopped parent cannot reap."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def last_step(run: Path) -> int:
    path = run / "metrics.jsonl"
    lines = path.read_text().split("\n")[:-1] if path.is_file() else []  # whole lines only
    return max((json.loads(line)["step"] for line in lines), default=0)


def test_sweep_prunes_survives_a_kill_and_shares_the_study(project: Project) -> None:
    storage = STORAGE[project.framework]
    sweep = SWEEP + (f"storage: {storage}\n" if storage else "")
    (project.path / "configs" / "test_sweep.yaml").write_text(sweep)
    # Tracking and reports are tested below: here they would only slow each trial.
    args = ("--sweep", "configs/test_sweep.yaml", *QUICK, "log.mlflow=false", "log.report=false")
    study = project.path / "runs" / "study"

    first = project.popen_module("sweep", *args)
    interrupted = study / "trial-002"
    # A trial trains in well under a second: to kill the worker mid-trial whatever the machine's
    # load, it is frozen while trial 2's training starts (the study keeps the trial running),
    # and killed once that training has ended.
    wait_for(
        lambda: interrupted.with_suffix(".log").exists() and children(first.pid), first, "trial 2"
    )
    os.kill(first.pid, signal.SIGSTOP)
    (training,) = children(first.pid)
    wait_for(lambda: not running(training), first, "the end of trial 2's training")
    output = stop(first, signal.SIGKILL)
    trained = last_step(interrupted)
    assert "Trial 1 pruned" in output, output

    workers = [project.popen_module("sweep", *args) for _ in range(2)]
    outputs = []
    for worker in workers:
        worker.wait(timeout=600)
        outputs.append(stop(worker))
        assert worker.returncode == 0, outputs[-1]
        assert "Best: trial " in outputs[-1], outputs[-1]

    where = storage or str(study / "optuna.journal")
    trials = python_json(project, STUDY_STATE, where, "study")
    finished = [t for t in trials if t["state"] in ("COMPLETE", "PRUNED")]
    assert len(finished) == 4, trials
    interrupted_trials = [t for t in trials if t["state"] == "FAIL" and not t["ended"]]
    assert len(interrupted_trials) == 1 and all(t["state"] != "RUNNING" for t in trials), trials
    assert [t["state"] for t in trials[:2]] == ["COMPLETE", "PRUNED"], trials
    assert trials[1]["lr"] == str(BAD_LR), trials
    assert len({t["run"] for t in finished}) == 4, trials  # no run counted twice
    retried = next(t for t in finished if t["run"] == str(interrupted.relative_to(project.path)))
    assert retried["lr"] == trials[2]["lr"], trials
    resumed = re.search(r"Resumed from step (\d+)", (study / "trial-002.log").read_text())
    assert resumed and int(resumed[1]) == trained, "the retry did not resume from its checkpoint"
    assert len({t["worker"] for t in trials}) == 3, trials  # the killed worker and both others
    best = (project.path / "configs" / "best.yaml").read_text()
    assert f"lr: {GOOD_LR}" in best and "max_epochs: 3" in best, best


@pytest.mark.parametrize("storage", ["journal", "sqlite"])
def test_racing_workers_finish_exactly_the_planned_trials(
    pytorch_project: Project, storage: str
) -> None:
    project = pytorch_project
    folder = project.path / "runs" / f"race-{storage}"
    folder.mkdir(parents=True)
    where = f"sqlite:///{folder}/optuna.db" if storage == "sqlite" else ""
    script = RACER.format(package=project.package, trials=RACE_TRIALS, burst=BURST)
    racers = [
        subprocess.Popen(
            [str(project.env.python), "-c", script, where, str(folder), fate],
            cwd=project.path,
            env=project.env.environ(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for fate in ("live", "die", "live")
    ]
    deadline = time.monotonic() + 300
    while len(list(folder.glob("ready-*"))) < len(racers) and time.monotonic() < deadline:
        time.sleep(0.1)
    (folder / "go").touch()
    while [r for r in racers if r.poll() is None] and time.monotonic() < deadline:
        time.sleep(0.1)  # polls each, reaping the racer that dies: a zombie still looks alive
    outputs = [stop(racer) for racer in racers]
    assert [r.returncode for r in racers] == [0, 1, 0], outputs

    trials = python_json(project, STUDY_STATE, where or str(folder / "optuna.journal"), "race")
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    assert len(trials) > RACE_TRIALS and len(complete) == RACE_TRIALS, trials  # none over
    assert len({t["run_number"] for t in complete}) == RACE_TRIALS, trials  # none twice
    assert {t["state"] for t in trials} == {"COMPLETE", "FAIL"}, trials  # none left running
    dead = [t for t in trials if t["state"] == "FAIL" and t["ended"] != "surplus"]
    assert dead and all(t["ended"] is None for t in dead), trials  # the dead racer's trials
    for trial in dead:
        retry = next(t for t in complete if t["run_number"] == trial["run_number"])
        assert retry["lr"] == trial["lr"] and retry["number"] > trial["number"], trials


def test_report_and_tracking(project: Project) -> None:
    steps = [*QUICK, "trainer.max_epochs=1"]
    project.module("train", *steps, "run.name=seed-0")
    resumed = project.module("train", *steps, "run.name=seed-0", "trainer.max_epochs=2")

    run = project.path / "runs" / "seed-0"
    report = run / "report"
    assert "report:    runs/seed-0/report" in resumed.stdout, resumed.stdout
    for name in ("curves.png", "confusion_matrix.png"):
        width, height = decode_png(report / name)
        assert width > 100 and height > 100, name
    with (project.path / "data" / "sample" / "val.csv").open() as file:
        val_size = sum(1 for _ in csv.DictReader(file))
    matrix = json.loads((report / "confusion_matrix.json").read_text())["matrix"]
    assert sum(map(sum, matrix)) == val_size
    card = (report / "model_card.md").read_text()
    assert f"- val: {val_size} examples" in card and "| class | precision |" in card, card

    state = json.loads((run / "mlflow.json").read_text())
    assert f"tracking:  MLflow run {state['run_id']}" in resumed.stdout, resumed.stdout
    tracked = python_json(project, MLFLOW_RUN, str(run / "mlflow.json"))
    assert tracked["status"] == "FINISHED"
    config = (run / "config.yaml").read_text()
    assert f"lr: {json.loads(tracked['params']['optim.lr'])}" in config, tracked["params"]
    assert {"train/loss", "val/accuracy", "val/loss"} <= set(tracked["metrics"])
    assert tracked["loss_steps"] == [s for s in range(2, 13, 2)], tracked  # both starts
    assert tracked["tags"]["data.fingerprint"] and tracked["tags"]["hardware"]
    assert {"config.yaml", "preprocessor.json", "report/model_card.md"} <= set(tracked["artifacts"])


def test_preempted_and_unreachable_tracking_and_compare(pytorch_project: Project) -> None:
    project = pytorch_project
    steps = [*QUICK, "trainer.max_epochs=1"]
    project.module("train", *steps, "run.name=seed-0", "log.mlflow=false")
    port = free_port()
    uri = f"log.mlflow_uri=http://127.0.0.1:{port}"
    unreachable = project.module("train", *steps, "run.name=seed-1", "seed=1", uri)
    other = project.path / "runs" / "other"
    preempted = project.popen_module(
        "train", *QUICK, "run.name=other", "optim.lr=0.01", "trainer.max_steps=1000000",
        "log.report=false",
    )  # fmt: skip
    wait_for(lambda: last_step(other) >= 4, preempted, "step 4")
    preempted.send_signal(signal.SIGTERM)
    assert preempted.wait(timeout=120) == 75, stop(preempted)
    killed = python_json(project, MLFLOW_RUN, str(other / "mlflow.json"))
    assert killed["status"] == "KILLED" and killed["loss_steps"][:2] == [2, 4], killed

    warnings = [line for line in unreachable.stderr.splitlines() if f":{port}" in line]
    assert len(warnings) == 1 and "unreachable" in warnings[0], unreachable.stderr
    assert not (project.path / "runs" / "seed-1" / "mlflow.json").exists()
    assert "Done in" in unreachable.stdout, unreachable.stdout

    table = project.module("compare", "runs/seed-0", "runs/seed-1", "runs/other", "--plot", "c.png")
    rows = table.stdout.splitlines()
    assert rows[0].split()[:2] == ["run", "optim.lr"], table.stdout
    grouped = next(row for row in rows if row.startswith("seed-0, seed-1"))
    assert "±" in grouped and "0, 1" in grouped, table.stdout
    assert any(row.startswith("other") and "±" not in row for row in rows), table.stdout
    decode_png(project.path / "c.png")


def test_bad_input_is_one_line(pytorch_project: Project) -> None:
    project = pytorch_project
    sweep = project.path / "configs" / "bad_sweep.yaml"
    cases = {
        "space:\n  optim.lrr: {low: 0.001, high: 0.01}\n": "unknown config key optim.lrr",
        "space:\n  optim.lr: {low: 0.01, high: 0.001}\n": "optim.lr has an empty range",
        "space:\n  data.batch_size: {choices: []}\n": "data.batch_size has an empty range",
    }
    for text, message in cases.items():
        sweep.write_text(text)
        result = project.module("sweep", "--sweep", str(sweep), check=False)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and str(sweep) in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for command in ("report", "compare"):
        result = project.module(command, "runs/nowhere", check=False)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == "error: runs/nowhere: not a run folder (no config.yaml)"


def decode_png(path: Path) -> tuple[int, int]:
    """Check every chunk's CRC and inflate the image data; the image's width and height."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    position, chunks, idat = 8, {}, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"{path}: bad CRC in {kind!r}"
        chunks[kind] = body
        idat += body if kind == b"IDAT" else b""
        position += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    assert len(zlib.decompress(idat)) == height * (1 + width * channels * depth // 8)
    return width, height
