"""A hyperparameter sweep with Optuna over the space of `configs/sweep.yaml`:

    python -m {{ cookiecutter.package_name }}.sweep [--sweep configs/sweep.yaml]
        [--config FILE] [key=value ...]

Each trial is a normal training run, `runs/<study>/trial-<n>/` (its own MLflow run), of the
config plus the trial's values; its val metric after each epoch lets Optuna prune it. The study
lives in `runs/<study>/optuna.journal` (or the database of `storage:`), so:

- a sweep killed at any moment and started again continues: finished trials are kept, the
  interrupted one (its worker's process gone, or its heartbeat older than `stale_after_s`) is
  marked failed and retried in its own run folder, from its latest checkpoint;
- several workers (the same command in other terminals, or machines sharing the storage) join
  the study; together they finish exactly `trials` trials (complete or pruned), none twice. The
  storage decides, by the order in which it numbers the trials, which go ahead: a trial that
  finds no place left ends at once as failed, marked surplus, and never counts.

At the end: the best trial's values, its run folder, and `configs/best.yaml` to train with.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from {{ cookiecutter.package_name }}.config import DEFAULT_CONFIG, load_config, read_yaml, show
from {{ cookiecutter.package_name }}.console import HIGHER_IS_BETTER
from {{ cookiecutter.package_name }}.errors import ConfigError, UserError, exit_on_user_error
from {{ cookiecutter.package_name }}.quiet import add_verbose_argument
from {{ cookiecutter.package_name }}.runs import Run

SWEEP_CONFIG = DEFAULT_CONFIG.with_name("sweep.yaml")
BEST_CONFIG = DEFAULT_CONFIG.with_name("best.yaml")
SETTINGS = {"study", "trials", "metric", "seed", "storage", "stale_after_s", "pruner", "space"}
HOST = socket.gethostname()
WORKER = f"{HOST}:{os.getpid()}"
MAX_FAILURES = 3
FINISHED = ("COMPLETE", "PRUNED")
COUNTED = ("RUNNING", "WAITING", *FINISHED)  # running, finished or about to run


@dataclass(frozen=True)
class Sweep:
    study: str
    trials: int
    metric: str
    seed: int | None
    storage: str | None
    stale_after_s: float
    startup_trials: int
    warmup_epochs: int
    space: dict[str, dict[str, Any]]
    base: tuple[str, ...]  # --config and key=value for every trial
    run_dir: Path

    @property
    def maximize(self) -> bool:
        return HIGHER_IS_BETTER[self.metric]


def read_sweep(path: Path, config_file: Path | None, overrides: list[str]) -> Sweep:
    """The sweep file, checked: every key of the space known to the config, every range not
    empty. A problem is one `ConfigError` naming the file and key."""
    values = read_yaml(path)
    if unknown := sorted(set(values) - SETTINGS):
        raise ConfigError(
            f"{path}: unknown setting {unknown[0]} (known: {', '.join(sorted(SETTINGS))})"
        )
    base = ((f"--config={config_file}",) if config_file else ()) + tuple(overrides)
    config = load_config(config_file, overrides)
    metric = values.get("metric", "accuracy")
    if metric not in HIGHER_IS_BETTER:
        raise ConfigError(
            f"{path}: metric must be one of {', '.join(HIGHER_IS_BETTER)}, got {metric}"
        )
    space = values.get("space") or {}
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{path}: space must map config keys to ranges")
    for key, spec in space.items():
        _check_range(path, key, spec, config_file, overrides)
    for key in ("trials", "stale_after_s"):
        if not isinstance(values.get(key, 1), int | float) or values.get(key, 1) <= 0:
            raise ConfigError(f"{path}: {key} must be a positive number, got {show(values[key])}")
    pruner = values.get("pruner") or {}
    return Sweep(
        study=str(values.get("study", "sweep")),
        trials=int(values.get("trials", 20)),
        metric=metric,
        seed=values.get("seed"),
        storage=values.get("storage"),
        stale_after_s=float(values.get("stale_after_s", 120)),
        startup_trials=int(pruner.get("startup_trials", 3)),
        warmup_epochs=int(pruner.get("warmup_epochs", 1)),
        space=space,
        base=base,
        run_dir=Path(config.run.dir) / str(values.get("study", "sweep")),
    )


def _check_range(
    path: Path, key: str, spec: Any, config_file: Path | None, overrides: list[str]
) -> None:
    where = f"{path}: space key {key}"
    if not isinstance(spec, dict) or not ({"low", "high"} <= spec.keys() or "choices" in spec):
        raise ConfigError(f"{where} must be a mapping of low and high (and log), or of choices")
    if "choices" in spec:
        if not spec["choices"]:
            raise ConfigError(f"{where} has an empty range (choices: [])")
        samples = spec["choices"]
    else:
        if not spec["low"] < spec["high"]:
            raise ConfigError(
                f"{where} has an empty range (low {spec['low']} >= high {spec['high']})"
            )
        samples = [spec["low"], spec["high"]]
    for sample in samples:
        try:
            load_config(config_file, [*overrides, f"{key}={json.dumps(sample)}"])
        except ConfigError as error:
            raise ConfigError(f"{path}: space key {key}: {error}") from None


def suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The trial's value of every key (lists, such as model widths, are offered as choices)."""
    values = {}
    for key, spec in space.items():
        if "choices" in spec:
            picked = trial.suggest_categorical(key, [json.dumps(c) for c in spec["choices"]])
            values[key] = json.loads(picked)
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int):
            values[key] = trial.suggest_int(
                key, spec["low"], spec["high"], log=spec.get("log", False)
            )
        else:
            values[key] = trial.suggest_float(
                key, float(spec["low"]), float(spec["high"]), log=spec.get("log", False)
            )
    return values


def open_study(sweep: Sweep) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sweep.storage:
        storage: Any = _database(sweep.storage)
    else:
        from optuna.storages.journal import JournalFileBackend

        sweep.run_dir.mkdir(parents=True, exist_ok=True)
        storage = optuna.storages.JournalStorage(
            # An absolute path: a worker killed while writing leaves the file's lock behind,
            # which Optuna frees after 30 s only if the lock's link resolves (and relative, it
            # does not): its other workers would wait forever.
            JournalFileBackend(str((sweep.run_dir / "optuna.journal").absolute()))
        )
    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=sweep.startup_trials, n_warmup_steps=sweep.warmup_epochs
    )
    return optuna.create_study(
        study_name=sweep.study,
        storage=storage,
        sampler=optuna.samplers.TPESampler(seed=sweep.seed),
        direction="maximize" if sweep.maximize else "minimize",
        pruner=pruner,
        load_if_exists=True,
    )


def _database(url: str) -> Any:
    """The storage of a database URL. Workers that create the same new database at once may
    collide on its tables: the losers try again."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        try:
            return optuna.storages.get_storage(url)
        except SQLAlchemyError as error:
            if attempt == 2:
                reason = str(error.orig if error.orig else error).splitlines()[0]
                raise UserError(f"sweep storage {url}: {reason}") from None
            time.sleep(random.uniform(0.5, 2.0))
    return None


def next_trial(study: Any, sweep: Sweep) -> Any | None:
    """A trial for this worker, or None when the study has its trials (or others are finishing
    them; a trial given up meanwhile is retried here)."""
    while True:
        give_up_abandoned(study, sweep)
        trials = study.get_trials(deepcopy=False)
        finished = sum(t.state.name in FINISHED for t in trials)
        if finished >= sweep.trials:
            return None
        if finished + sum(t.state.name == "RUNNING" for t in trials) < sweep.trials:
            if (trial := claim_place(study, trials, sweep)) is not None:
                return trial
            time.sleep(random.uniform(0.0, 2.0))  # another worker took the place: look again
            continue
        time.sleep(min(5.0, sweep.stale_after_s / 4))  # others' trials finish it; or fail


def claim_place(study: Any, trials: list[Any], sweep: Sweep) -> Any | None:
    """A new trial from the storage, for the oldest interrupted run or else a run of its own;
    None (the trial ended as surplus, which never counts) when it has no place.

    The storage numbers trials in the order it creates them, the same for every worker on any
    machine, so that order decides: a trial has a place when fewer than `trials` trials before
    it are running or finished, and no other running or finished trial holds its run folder.
    Together the workers finish exactly `trials` trials, none twice; a trial given up frees its
    place."""
    import optuna

    retry = next(iter(interrupted_runs(trials)), None)
    trial = study.ask()
    trial.set_user_attr("worker", WORKER)
    trial.set_user_attr("heartbeat", time.time())
    trial.set_user_attr("run", retry.user_attrs["run"] if retry else trial.number)
    if retry is not None:  # the same values as the interrupted trial
        study._storage.set_trial_system_attr(trial._trial_id, "fixed_params", retry.params)
        trial = optuna.Trial(study, trial._trial_id)
    now = study.get_trials(deepcopy=False)
    counted = [t for t in now if t.state.name in COUNTED and t.number != trial.number]
    ahead = sum(t.number < trial.number for t in counted)
    if ahead < sweep.trials and all(_run(t) != _run(trial) for t in counted):
        return trial
    end_failed(study, trial, "surplus")
    return None


def interrupted_runs(trials: list[Any]) -> list[Any]:
    """For each run folder whose latest trial was interrupted (failed without its worker
    saying why), that trial; oldest first."""
    latest: dict[int, Any] = {}
    for trial in sorted(trials, key=lambda t: t.number):
        if trial.user_attrs.get("ended") != "surplus" and "run" in trial.user_attrs:
            latest[_run(trial)] = trial
    return [t for t in latest.values() if t.state.name == "FAIL" and "ended" not in t.user_attrs]


def give_up_abandoned(study: Any, sweep: Sweep) -> None:
    """Mark failed every running trial whose worker is gone (a dead process on this machine,
    or no heartbeat for `stale_after_s`): its run is retried from its latest checkpoint."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        host, _, pid = str(trial.user_attrs.get("worker", ":")).partition(":")
        beat = float(trial.user_attrs.get("heartbeat", trial.datetime_start.timestamp()))
        gone = (host == HOST and pid and not _alive(int(pid))) or (
            time.time() - beat > sweep.stale_after_s
        )
        if not gone:
            continue
        try:
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            continue  # another worker has just done it
        print(f"Trial {trial.number} was interrupted: retrying it from its latest checkpoint")


def end_failed(study: Any, trial: Any, why: str) -> None:
    """End the trial failed, saying why: a trial failed without a word was interrupted."""
    from optuna.trial import TrialState

    trial.set_user_attr("ended", why)
    study.tell(trial, state=TrialState.FAIL)


def _run(trial: Any) -> int:
    return int(trial.user_attrs.get("run", trial.number))


def _alive(pid: int) -> bool:
    """Whether the process runs: a zombie (ended, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # Linux tells a zombie by its state, Z
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    return True


def run_trial(study: Any, trial: Any, sweep: Sweep, verbose: bool) -> bool:
    """Train the trial's run in a child process, reporting each epoch's val metric, pruned when
    Optuna says so; False when training failed."""
    import optuna

    values = suggest(trial, sweep.space)
    name = f"trial-{_run(trial):03d}"
    run = Run(sweep.run_dir / name)
    trial.set_user_attr("run_path", str(run.root))
    overrides = [f"{k}={json.dumps(v)}" for k, v in values.items()]
    command = [
        sys.executable, "-m", f"{__package__}.train", *sweep.base, *overrides,
        f"run.dir={sweep.run_dir}", f"run.name={name}",
    ]  # fmt: skip
    print(f"Trial {trial.number} ({run.root}): {', '.join(overrides)}", flush=True)
    sweep.run_dir.mkdir(parents=True, exist_ok=True)
    log = (sweep.run_dir / f"{name}.log").open("a")
    output = None if verbose else log
    child = subprocess.Popen(command, stdout=output, stderr=output, preexec_fn=_die_with_parent)
    beating = threading.Event()
    threading.Thread(target=_heartbeat, args=(trial, beating), daemon=True).start()
    reported: set[int] = set()
    pruned = False
    try:
        while True:
            done = child.poll() is not None
            if report_new(run, reported, trial, sweep) and trial.should_prune():
                pruned = True
                child.send_signal(signal.SIGTERM)
                break
            if done:
                break
            time.sleep(0.5)
        child.wait()
    finally:
        beating.set()
        if child.poll() is None:
            child.kill()
        log.close()
    if pruned:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        print(f"Trial {trial.number} pruned", flush=True)
        return True
    final = [r for r in run.read_metrics() if r["split"] == "val"]
    if child.returncode == 0 and (not final or final[-1].get(sweep.metric) is None):
        end_failed(study, trial, "failed")
        raise UserError(
            f"trial {trial.number} trained but its val lines have no {sweep.metric} (is there a"
            " val split? for regression, set metric: mae or rmse in the sweep file)"
        )
    if child.returncode != 0:
        end_failed(study, trial, "failed")
        print(
            f"Trial {trial.number} failed (exit status {child.returncode}), its output:\n"
            + _tail(sweep.run_dir / f"{name}.log"),
            flush=True,
        )
        if child.returncode == 2:
            raise UserError("training refused the trial's config: see its message above")
        return False
    study.tell(trial, final[-1][sweep.metric])
    print(f"Trial {trial.number}: val {sweep.metric} {final[-1][sweep.metric]:.4f}", flush=True)
    return True


def report_new(run: Run, reported: set[int], trial: Any, sweep: Sweep) -> bool:
    """Report the trial's val lines not reported yet; True when there were some."""
    new = [
        r
        for r in run.read_metrics()
        if r["split"] == "val" and r["step"] not in reported and r.get(sweep.metric) is not None
    ]
    for epoch, record in enumerate(sorted(new, key=lambda r: r["step"]), start=len(reported)):
        trial.report(record[sweep.metric], epoch)
        reported.add(record["step"])
    return bool(new)


def _tail(path: Path, lines: int = 10) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _heartbeat(trial: Any, stop: threading.Event) -> None:
    while not stop.wait(10):
        with contextlib.suppress(Exception):
            trial.set_user_attr("heartbeat", time.time())


def _die_with_parent() -> None:
    """The trial's training ends with its worker, killed or not (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def write_best(study: Any, sweep: Sweep) -> None:
    best = study.best_trial
    path = best.user_attrs.get("run_path")
    values = _trial_values(best, sweep)
    nested: dict[str, Any] = {}
    for override in sweep.base:
        if "=" in override and not override.startswith("--"):
            key, _, raw = override.partition("=")
            _set(nested, key, yaml.safe_load(raw))
    for key, value in values.items():
        _set(nested, key, value)
    header = (
        f"# The best trial of sweep {sweep.study} (trial {best.number}, val {sweep.metric}"
        f" {best.value:.4f}, {path}); merged over configs/default.yaml:\n"
        f"#   python -m {__package__}.train --config configs/best.yaml\n"
    )
    BEST_CONFIG.write_text(header + yaml.safe_dump(nested, sort_keys=False))
    print(f"Best: trial {best.number}, val {sweep.metric} {best.value:.4f}")
    for key, value in values.items():
        print(f"  {key} = {show(value)}")
    print(f"  run:    {path}")
    print(f"  config: {BEST_CONFIG} (train with --config configs/best.yaml)")


def _trial_values(trial: Any, sweep: Sweep) -> dict[str, Any]:
    return {
        key: json.loads(value) if "choices" in sweep.space[key] else value
        for key, value in trial.params.items()
    }


def _set(nested: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        nested = nested.setdefault(part, {})
    nested[leaf] = value


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run (or join, or resume) a sweep.")
    parser.add_argument("--sweep", type=Path, default=SWEEP_CONFIG, help="the search space file")
    parser.add_argument("--config", type=Path, help="YAML merged over configs/default.yaml")
    parser.add_argument("--trials", type=int, help="finished trials to reach (overrides the file)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="for every trial")
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise UserError("sweeps need Optuna: pip install -r requirements/research.txt") from None
    sweep = read_sweep(args.sweep, args.config, args.overrides)
    if args.trials is not None:
        sweep = dataclasses.replace(sweep, trials=args.trials)
    study = open_study(sweep)
    failures = 0
    while (trial := next_trial(study, sweep)) is not None:
        failures = 0 if run_trial(study, trial, sweep, args.verbose) else failures + 1
        if failures == MAX_FAILURES:
            raise UserError(f"{failures} trials in a row failed: see their messages above")
    write_best(study, sweep)


if __name__ == "__main__":
    main()
