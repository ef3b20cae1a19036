"""Experiment tracking with MLflow: each run is an MLflow run, continued when the run resumes.

Training calls `start(run, config)` once and closes the tracker at its end. The tracker records
the resolved config as params; the git commit, the uncommitted diff, the hardware and a
fingerprint of the data; every line of `metrics.jsonl` as metrics (per step, per epoch), copied
by a background thread so that tracking never slows or stops training; and at the end the
config, the preprocessing and the report as artifacts.

The store is `runs/mlflow/` (a SQLite database and the artifacts; `make ui` shows it), or the
server of `log.mlflow_uri`. An unreachable server, or a failure while tracking, prints one
warning and turns tracking off: `metrics.jsonl` and TensorBoard keep the local record, and
`python -m {{ cookiecutter.package_name }}.tracking RUN` copies the run into the store later.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import importlib.util
import json
import logging
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.config import DEFAULT_CONFIG, Config, load_config, to_dict
from {{ cookiecutter.package_name }}.errors import UserError, exit_on_user_error
from {{ cookiecutter.package_name }}.quiet import add_verbose_argument, verbose
from {{ cookiecutter.package_name }}.runs import Run, flatten

PROJECT = DEFAULT_CONFIG.parents[1]
LOCAL_STORE = PROJECT / "runs" / "mlflow"
STATE_FILE = "mlflow.json"  # in the run folder: the MLflow run id and the lines copied so far
COPY_EVERY_S = 10.0
INSTALL_HINT = "pip install -r requirements/research.txt"


def tracking_uri(config: Config) -> str:
    """`log.mlflow_uri`, or the local store: a SQLite database and an artifact folder."""
    return config.log.mlflow_uri or _local_uri()


def _local_uri() -> str:
    return f"sqlite:///{LOCAL_STORE / 'mlflow.db'}"


class Tracker:
    """Copies a run's record into MLflow from a background thread, which also connects to the
    store (so that training starts without waiting for it); does nothing when tracking is off."""

    def __init__(self, run: Run, config: Config | None = None) -> None:
        self.run, self.client, self.run_id = run, None, ""
        self.copied = 0
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        if config is not None:
            self.thread = threading.Thread(target=self._work, args=(config,), daemon=True)
            self.thread.start()
            atexit.register(self.close, finished=False)

    def close(self, finished: bool = True) -> None:
        """Copy the last metrics and the artifacts, and end the MLflow run (FINISHED, or KILLED
        when the process ends before training did)."""
        if self.thread is None:
            return
        self.stop.set()
        self.thread.join()
        self.thread = None
        atexit.unregister(self.close)
        self._guarded(self._copy_metrics)
        self._guarded(self._log_artifacts)
        status = "FINISHED" if finished else "KILLED"
        self._guarded(lambda: self.client.set_terminated(self.run_id, status=status))

    def _work(self, config: Config) -> None:
        uri = tracking_uri(config)
        if problem := unreachable(uri):
            warn(f"MLflow at {uri} is unreachable ({problem}); tracking is off for this run")
            return
        try:
            self.client, self.run_id = _open(self.run, config, uri)
        except Exception as error:
            warn(f"MLflow at {uri} failed ({type(error).__name__}: {error}); tracking is off")
            return
        self.copied = _read_state(self.run).get("copied", 0)
        while not self.stop.wait(COPY_EVERY_S):
            self._guarded(self._copy_metrics)

    def _copy_metrics(self) -> None:
        """The lines of metrics.jsonl not copied yet, as MLflow metrics `<split>/<name>`."""
        from mlflow.entities import Metric

        records = self.run.read_metrics()[self.copied :]
        if not records:
            return
        now = int(time.time() * 1000)
        metrics = [
            Metric(f"{record['split']}/{name}", float(value), now, record["step"])
            for record in records
            for name, value in record.items()
            if name not in ("split", "step") and isinstance(value, int | float)
        ]
        for start in range(0, len(metrics), 1000):  # MLflow's batch limit
            self.client.log_batch(self.run_id, metrics=metrics[start : start + 1000])
        self.copied += len(records)
        _write_state(self.run, {"copied": self.copied})

    def _log_artifacts(self) -> None:
        for name in ("config.yaml", "preprocessor.json", "backbone.json"):
            if (self.run.root / name).is_file():
                self.client.log_artifact(self.run_id, str(self.run.root / name))
        report = self.run.root / "report"
        if report.is_dir():
            self.client.log_artifacts(self.run_id, str(report), "report")

    def _guarded(self, action: Any) -> None:
        if self.client is None:
            return
        try:
            action()
        except Exception as error:  # tracking must never stop training
            warn(f"tracking stopped ({type(error).__name__}: {error}); metrics.jsonl keeps it all")
            self.client = None


def start(run: Run, config: Config, main: bool = True) -> Tracker:
    """The run's tracker: a new MLflow run, or the run's own when it resumes. Off (one line
    says why) when MLflow is not installed or the store is unreachable; off without a word when
    `log.mlflow` is false and in the processes other than the main one."""
    if not main or not config.log.mlflow:
        return Tracker(run)
    if importlib.util.find_spec("mlflow") is None:
        print(f"Tracking is off: MLflow is not installed ({INSTALL_HINT})", file=sys.stderr)
        return Tracker(run)
    if not verbose():
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if tracking_uri(config) == _local_uri():
        LOCAL_STORE.mkdir(parents=True, exist_ok=True)
    return Tracker(run, config)


def _open(run: Run, config: Config, uri: str) -> tuple[Any, str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    run_id = _read_state(run).get("run_id")
    if run_id and _read_state(run).get("uri") == uri:
        client.update_run(run_id, status="RUNNING")
        return client, run_id
    experiment = config.run.dir
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else _create_experiment(client, experiment, uri)
    mlflow_run = client.create_run(experiment_id, run_name=config.run.name, tags=run_tags(config))
    run_id = mlflow_run.info.run_id
    where = "runs/mlflow (make ui)" if uri == _local_uri() else uri
    _write_state(run, {"run_id": run_id, "uri": uri, "where": where, "copied": 0})
    params = flatten(to_dict(config))
    from mlflow.entities import Param

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
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Copy a run (metrics, report) into MLflow.")
    parser.add_argument("run", type=Path, help="a run folder, e.g. runs/baseline")
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    if not (args.run / "config.yaml").is_file():
        raise UserError(f"{args.run}: not a run folder (no config.yaml)")
    run = Run(args.run)
    start(run, load_config(run.config_file, ["log.mlflow=true"])).close()
    state = _read_state(run)
    if not state.get("run_id"):
        raise SystemExit(1)
    print(f"MLflow run {state['run_id']} in {state['where']}")


if __name__ == "__main__":
    main()
