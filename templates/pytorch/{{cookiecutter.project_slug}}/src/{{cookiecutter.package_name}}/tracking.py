"""Experiment tracking with MLflow: each run is an MLflow run, continued when the run resumes.

Training calls `start(run, config)` once and closes the tracker at its end. The tracker is a
process of its own at the lowest priority, so that importing MLflow, opening its store and
writing to it never hold up a training step. It records the resolved config as params; the git
commit, the uncommitted diff, the hardware and a fingerprint of the data; every line of
`metrics.jsonl` as metrics (per step, per epoch), copied as training writes them; at the end
the config, the preprocessing and the report as artifacts. It ends the MLflow run FINISHED, or
KILLED when training stopped before its end (preempted, failed, or its process killed).

The store is `runs/mlflow/` (a SQLite database and the artifacts; `make ui` shows it), or the
server of `log.mlflow_uri`. An unreachable server, or a failure while tracking, prints one
warning and turns tracking off: `metrics.jsonl` and TensorBoard keep the local record, and
`python -m {{ cookiecutter.package_name }}.tracking RUN` copies the run into the store later.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.config import DEFAULT_CONFIG, Config, load_config, to_dict
from {{ cookiecutter.package_name }}.errors import UserError, exit_on_user_error
from {{ cookiecutter.package_name }}.quiet import VERBOSE_FLAG, add_verbose_argument, verbose
from {{ cookiecutter.package_name }}.runs import Run, flatten

PROJECT = DEFAULT_CONFIG.parents[1]
LOCAL_STORE = PROJECT / "runs" / "mlflow"
STATE_FILE = "mlflow.json"  # in the run folder: the MLflow run id and the bytes copied so far
COPY_EVERY_S = 10.0
CLOSE_TIMEOUT_S = 120.0
DONE = "recorded"  # the tracking process's one line: the run's record is complete
INSTALL_HINT = "pip install -r requirements/research.txt"


def tracking_uri(config: Config) -> str:
    """`log.mlflow_uri`, or the local store: a SQLite database and an artifact folder."""
    return config.log.mlflow_uri or _local_uri()


def _local_uri() -> str:
    return f"sqlite:///{LOCAL_STORE / 'mlflow.db'}"


class Tracker:
    """Training's end of the tracking process: `close` tells it how training ended and waits
    for the record to be complete. Does nothing when tracking is off."""

    def __init__(self, process: subprocess.Popen[str] | None = None) -> None:
        self.process = process

    def close(self, finished: bool = True) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        assert process.stdin is not None and process.stdout is not None
        with contextlib.suppress(OSError):  # the process has ended: it has warned why
            process.stdin.write("FINISHED\n" if finished else "KILLED\n")
            process.stdin.close()
        if not select.select([process.stdout], [], [], CLOSE_TIMEOUT_S)[0]:
            warn(f"MLflow is slow: tracking goes on in the background (process {process.pid})")


def start(run: Run, config: Config, main: bool = True) -> Tracker:
    """The run's tracker, recording into a new MLflow run, or the run's own when it resumes.
    Off (one line says why) when MLflow is not installed; off without a word when
    `log.mlflow` is false and in the processes other than the main one."""
    if not main or not config.log.mlflow:
        return Tracker()
    if importlib.util.find_spec("mlflow") is None:
        print(f"Tracking is off: MLflow is not installed ({INSTALL_HINT})", file=sys.stderr)
        return Tracker()
    command = [sys.executable, "-m", __name__, str(run.root), "--follow"]
    process = subprocess.Popen(
        command + ([VERBOSE_FLAG] if verbose() else []),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a Ctrl-C or a signal to training's group reaches training only
    )
    return Tracker(process)


def follow(run: Run) -> None:
    """The tracking process: records the run as it trains until training says how it ended (a
    line on stdin), or the end of stdin says that its process died."""
    with contextlib.suppress(OSError):
        os.nice(19)  # the lowest priority: tracking takes the CPU time that training leaves
    done, sys.stdout = sys.stdout, sys.stderr  # stdout carries one line: DONE
    ended = threading.Event()
    status: list[str] = []

    def wait_for_training() -> None:
        status.append(sys.stdin.readline().strip() or "KILLED")
        ended.set()

    threading.Thread(target=wait_for_training, daemon=True).start()
    recorder = Recorder.open(run, load_config(run.config_file))
    while recorder is not None and not ended.wait(COPY_EVERY_S):
        recorder.guarded(recorder.copy_metrics)
    if recorder is not None:
        recorder.finish(status[0])
    print(DONE, file=done, flush=True)


class Recorder:
    """Writes a run's record into its MLflow run; a failure warns once and stops it."""

    def __init__(self, run: Run, client: Any, run_id: str) -> None:
        self.run, self.client, self.run_id = run, client, run_id
        self.copied = _read_state(run).get("copied_bytes", 0)
        self.failed = False

    @classmethod
    def open(cls, run: Run, config: Config) -> Recorder | None:
        """The recorder of `run`, or None (after one warning) when the store is unusable."""
        uri = tracking_uri(config)
        if problem := unreachable(uri):
            warn(f"MLflow at {uri} is unreachable ({problem}); tracking is off for this run")
            return None
        if not verbose():  # MLflow sets its loggers' level from this when imported
            os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
            logging.getLogger("alembic").setLevel(logging.WARNING)
        try:
            if uri == _local_uri():
                LOCAL_STORE.mkdir(parents=True, exist_ok=True)
            return cls(run, *_open(run, config, uri))
        except Exception as error:
            warn(f"MLflow at {uri} failed ({type(error).__name__}: {error}); tracking is off")
            return None

    def finish(self, status: str) -> None:
        """Copy the last metrics and the artifacts, and end the MLflow run with `status`."""
        self.guarded(self.copy_metrics)
        self.guarded(self._log_artifacts)
        self.guarded(lambda: self.client.set_terminated(self.run_id, status=status))

    def copy_metrics(self) -> None:
        """The lines of metrics.jsonl not copied yet, as MLflow metrics `<split>/<name>`."""
        from mlflow.entities import Metric

        if not self.run.metrics_file.is_file():
            return
        with self.run.metrics_file.open("rb") as file:
            file.seek(self.copied)
            new = file.read()
        whole = new[: new.rfind(b"\n") + 1]  # a line still being written waits for next time
        if not whole:
            return
        now = int(time.time() * 1000)
        metrics = [
            Metric(f"{record['split']}/{name}", float(value), now, record["step"])
            for record in map(json.loads, whole.splitlines())
            for name, value in record.items()
            if name not in ("split", "step") and isinstance(value, int | float)
        ]
        for first in range(0, len(metrics), 1000):  # MLflow's batch limit
            self.client.log_batch(self.run_id, metrics=metrics[first : first + 1000])
        self.copied += len(whole)
        _write_state(self.run, {"copied_bytes": self.copied})

    def _log_artifacts(self) -> None:
        for name in ("config.yaml", "preprocessor.json", "backbone.json"):
            if (self.run.root / name).is_file():
                self.client.log_artifact(self.run_id, str(self.run.root / name))
        report = self.run.root / "report"
        if report.is_dir():
            self.client.log_artifacts(self.run_id, str(report), "report")

    def guarded(self, action: Any) -> None:
        if self.failed:
            return
        try:
            action()
        except Exception as error:  # tracking must never stop training
            warn(f"tracking stopped ({type(error).__name__}: {error}); metrics.jsonl keeps it all")
            self.failed = True


def _open(run: Run, config: Config, uri: str) -> tuple[Any, str]:
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    state = _read_state(run)
    if state.get("run_id") and state.get("uri") == uri:
        client.update_run(state["run_id"], status="RUNNING")
        return client, state["run_id"]
    experiment = config.run.dir
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else _create_experiment(client, experiment, uri)
    mlflow_run = client.create_run(experiment_id, run_name=config.run.name, tags=run_tags(config))
    run_id = mlflow_run.info.run_id
    where = "runs/mlflow (make ui)" if uri == _local_uri() else uri
    _write_state(run, {"run_id": run_id, "uri": uri, "where": where, "copied_bytes": 0})
    params = flatten(to_dict(config))
    client.log_batch(run_id, params=[Param(k, json.dumps(v)) for k, v in params.items()])
    if diff := _git("diff", "HEAD"):
        client.log_text(run_id, diff, "git/uncommitted.diff")
    return client, run_id


def _create_experiment(client: Any, name: str, uri: str) -> str:
    """A new experiment (in the local store, with its artifacts under runs/mlflow/artifacts/),
    or the one another process (a sweep's other worker) has just created."""
    location = LOCAL_STORE / "artifacts" / name.replace("/", "_")
    try:
        if uri != _local_uri():
            return client.create_experiment(name)
        return client.create_experiment(name, artifact_location=location.as_uri())
    except Exception:
        if found := client.get_experiment_by_name(name):
            return found.experiment_id
        raise


def run_tags(config: Config) -> dict[str, str]:
    from {{ cookiecutter.package_name }}.report import describe_hardware

    return {
        "mlflow.source.git.commit": _git("rev-parse", "HEAD").strip() or "unknown",
        "git.dirty": str(bool(_git("status", "--porcelain").strip())).lower(),
        "hardware": describe_hardware(),
        "data.path": config.data.path,
        "data.fingerprint": data_fingerprint(Path(config.data.path)),
    }


def data_fingerprint(path: Path) -> str:
    """A hash of every file under `path`: its relative name, size, and first and last 64 KiB
    (cheap on large datasets, and changed by any edit that changes a file's size or ends)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(path) if path.is_dir() else file.name}:{size}".encode())
        with file.open("rb") as handle:
            digest.update(handle.read(65536))
            if size > 65536:
                handle.seek(max(65536, size - 65536))
                digest.update(handle.read())
    return digest.hexdigest()[:16]


def unreachable(uri: str) -> str | None:
    """Why an http(s) MLflow server does not answer, or None (a local store is always there)."""
    if not uri.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5):
            return None
    except OSError as error:
        return str(getattr(error, "reason", error))


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _git(*args: str) -> str:
    try:
        result = subprocess.run(
            ["git", *args], cwd=PROJECT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout if result.returncode == 0 else ""


def _read_state(run: Run) -> dict[str, Any]:
    path = run.root / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _write_state(run: Run, values: dict[str, Any]) -> None:
    path = run.root / STATE_FILE
    partial = path.with_name(f"{path.name}.partial")
    partial.write_text(json.dumps({**_read_state(run), **values}) + "\n")
    partial.replace(path)


@exit_on_user_error
@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Copy a run (metrics, report) into MLflow.")
    parser.add_argument("run", type=Path, help="a run folder, e.g. runs/baseline")
    parser.add_argument(
        "--follow", action="store_true", help="record the run as it trains (training starts this)"
    )
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    if not (args.run / "config.yaml").is_file():
        raise UserError(f"{args.run}: not a run folder (no config.yaml)")
    run = Run(args.run)
    if args.follow:
        follow(run)
        return
    recorder = Recorder.open(run, load_config(run.config_file))
    if recorder is None:
        raise SystemExit(1)
    recorder.finish("FINISHED")
    state = _read_state(run)
    print(f"MLflow run {state['run_id']} in {state['where']}")


if __name__ == "__main__":
    main()
