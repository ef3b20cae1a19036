"""The semantics every framework shares (the contract's "Semantics" section), checked for every
framework x task against the same expectations, so a divergence fails here.

Per framework x task, one baked project runs a short scenario (module-scoped fixtures, each
process once): a one-epoch run on the sample data (`trainer.max_steps=-1`), a restart of it under
another seed (refused), a restart with `run.reconfigure=true` (allowed: nothing left to do), a
two-step run on the data without its val split, and that run restarted with a larger
`trainer.max_steps` (allowed: it resumes). What they print and write is compared with the
contract: the console lines (and nothing else: framework logs are off by default), the keys of
metrics.jsonl, the exit statuses, and the preprocessing kept on resume.

Config errors are raised by the shared config code before any framework is imported or trains:
they are checked once per task through `python -m <pkg>.data check` (0.35 s of CPU a process,
against 2-4 s for a `train` that imports its framework first), and once per framework x task
through `train` itself (`trainer.max_steps=0`).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .harness import FRAMEWORKS, TASKS, Project, quick_overrides

pytestmark = pytest.mark.slow

COMBINATIONS = [(fw, task) for fw in FRAMEWORKS for task in TASKS]

TRAIN_KEYS = {"split", "step", "epoch", "loss", "lr", "samples_per_s"}
VAL_KEYS = {"split", "step", "epoch", "loss", "accuracy"}  # every sample task is classification

# The console lines of console.py, the only lines a run prints besides its progress bar.
START = re.compile(r"Training [\d,]+ parameters on .+: (\d+) steps, (\d+) per epoch")
RESUMED = re.compile(r"Resumed from step (\d+) \(.+\)")
NOTHING_TO_DO = re.compile(r"Nothing to do: the run is at step (\d+) of (\d+)")
NO_VALIDATION = re.compile(r"No val split in (.+): training without validation")
VALIDATION = re.compile(r"Validation at epoch \d+\.\d\d \(step \d+\): .+")
DONE = re.compile(r"Done in \S+: steps (\d+)-(\d+), [\d,]+\.\d samples/s")
SUMMARY_DETAIL = re.compile(r"  (final val: |best val:  |no validation: |outputs:   ).+")
CONSOLE = (START, RESUMED, NOTHING_TO_DO, NO_VALIDATION, VALIDATION, DONE, SUMMARY_DETAIL)
PROGRESS = re.compile(r"\d+%\|.*\| *\d+/\d+")  # a tqdm bar, drawn on stderr

T = TypeVar("T")
Saved = tuple[bytes, int] | None  # a file's content and modification time, if it exists
_DONE: dict[tuple[str, ...], Any] = {}


def once(key: tuple[str, ...], make: Callable[[], T]) -> T:
    """Each step of a scenario runs once per framework x task in a process, even where pytest
    sets a module-scoped fixture up again after another group's test: with pytest 9.2, whose
    nodes keep their id in `_id`, pytest-xdist 3.8's loadgroup (which sets `item._nodeid`) no
    longer keeps a group's tests on one worker."""
    if key not in _DONE:
        _DONE[key] = make()
    return _DONE[key]


@dataclass
class Outcome:
    """A finished command: its exit status, console lines (stdout) and everything else it
    printed on stderr once progress bars are removed."""

    code: int
    lines: list[str]
    noise: list[str]

    @classmethod
    def of(cls, result: subprocess.CompletedProcess[str]) -> Outcome:
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        noise = [
            line
            for line in re.split(r"[\r\n]", result.stderr)
            if line.strip() and not PROGRESS.search(line)
        ]
        return cls(result.returncode, lines, noise)

    def matching(self, pattern: re.Pattern[str]) -> list[re.Match[str]]:
        return [m for line in self.lines if (m := pattern.fullmatch(line))]

    def assert_done(self) -> None:
        assert self.code == 0, self
        strays = [line for line in self.lines if not any(p.fullmatch(line) for p in CONSOLE)]
        assert not strays, f"lines that are not console lines: {strays}"
        assert not self.noise, f"printed on stderr: {self.noise}"

    def assert_error(self, start: str) -> str:
        """Exit status 2 with one line on stderr (that starts with `start`) and nothing else."""
        assert self.code == 2, self
        assert not self.lines, f"printed before the error: {self.lines}"
        assert len(self.noise) == 1, f"one line expected on stderr: {self.noise}"
        assert self.noise[0].startswith(f"error: {start}"), self.noise
        return self.noise[0]


@dataclass
class Trained:
    outcome: Outcome
    run: Path

    @property
    def records(self) -> list[dict[str, Any]]:
        path = self.run / "metrics.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def split(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["split"] == name]


@pytest.fixture(scope="module", params=COMBINATIONS, ids=[f"{fw}-{t}" for fw, t in COMBINATIONS])
def project(request: pytest.FixtureRequest, baked_project) -> Project:
    """The baked project with data/sample and data/noval (the same without its val split)."""

    def make() -> Project:
        project = baked_project(*request.param)
        project.module("data", "sample", "--out", "data/sample")
        sample, noval = project.path / "data" / "sample", project.path / "data" / "noval"
        shutil.copytree(sample, noval, ignore=shutil.ignore_patterns("val", "val.*"))
        return project

    return once(request.param, make)


def step(project: Project, name: str, make: Callable[[], T]) -> T:
    return once((project.framework, project.task, name), make)


def train(project: Project, *overrides: str) -> Outcome:
    return Outcome.of(project.module("train", *overrides, check=False))


def epochs_overrides(project: Project, *extra: str) -> list[str]:
    """One epoch (`trainer.max_steps=-1`) of a tiny model, a few large batches, loaded by two
    data workers (whose start and end must print nothing)."""
    return quick_overrides(
        project.task,
        "epochs",
        -1,
        "trainer.max_epochs=1",
        "data.batch_size=64",
        "data.num_workers=2",
        "log.tensorboard=false",
        *extra,
    )


def steps_overrides(project: Project, steps: int) -> list[str]:
    return quick_overrides(
        project.task, "steps", steps, "data.path=data/noval", "log.tensorboard=false"
    )


@pytest.fixture(scope="module")
def epochs_run(project: Project) -> Trained:
    outcome = step(project, "epochs", lambda: train(project, *epochs_overrides(project)))
    return Trained(outcome, project.path / "runs" / "epochs")


@pytest.fixture(scope="module")
def refused_restart(project: Project, epochs_run: Trained) -> tuple[Outcome, bool]:
    """The one-epoch run restarted under another seed; whether its folder stayed unchanged."""

    def make() -> tuple[Outcome, bool]:
        before = _files(epochs_run.run)
        outcome = train(project, *epochs_overrides(project, "seed=1"))
        return outcome, _files(epochs_run.run) == before

    return step(project, "refused", make)


@pytest.fixture(scope="module")
def reconfigured_restart(
    project: Project, epochs_run: Trained, refused_restart: tuple[Outcome, bool]
) -> Outcome:
    overrides = epochs_overrides(project, "optim.lr=0.01", "run.reconfigure=true")
    return step(project, "reconfigured", lambda: train(project, *overrides))


@pytest.fixture(scope="module")
def steps_run(project: Project) -> tuple[Trained, Saved]:
    """Two steps on data/noval; its preprocessing file (content, mtime) after them."""
    run = project.path / "runs" / "steps"

    def make() -> tuple[Trained, Saved]:
        outcome = train(project, *steps_overrides(project, 2))
        return Trained(outcome, run), _preprocessing(run)

    return step(project, "steps", make)


@pytest.fixture(scope="module")
def longer_restart(project: Project, steps_run: tuple[Trained, Saved]) -> Trained:
    outcome = step(project, "longer", lambda: train(project, *steps_overrides(project, 3)))
    return Trained(outcome, steps_run[0].run)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _preprocessing(run: Path) -> Saved:
    """The content and modification time of the run's saved preprocessing."""
    files = [p for p in run.glob("preprocessor*") if p.is_file()]
    return (files[0].read_bytes(), files[0].stat().st_mtime_ns) if len(files) == 1 else None


def _assert_train_lines(records: list[dict[str, Any]], steps: list[int], per_epoch: int) -> None:
    assert [r["step"] for r in records] == steps
    for record in records:
        assert set(record) == TRAIN_KEYS, record
        assert record["epoch"] == pytest.approx(record["step"] / per_epoch), record
        assert math.isfinite(record["loss"]) and record["lr"] > 0, record
        assert record["samples_per_s"] is None or record["samples_per_s"] >= 0, record


def test_max_steps_minus_one_runs_max_epochs(epochs_run: Trained) -> None:
    outcome = epochs_run.outcome
    outcome.assert_done()
    [start] = outcome.matching(START)
    total, per_epoch = int(start[1]), int(start[2])
    assert total == per_epoch >= 1  # trainer.max_epochs=1
    _assert_train_lines(epochs_run.split("train"), list(range(1, total + 1)), per_epoch)


def test_validation_is_logged_and_printed_after_the_epoch(epochs_run: Trained) -> None:
    epochs_run.outcome.assert_done()
    [val] = epochs_run.split("val")
    [start] = epochs_run.outcome.matching(START)
    assert set(val) == VAL_KEYS, val
    assert (val["step"], val["epoch"]) == (int(start[1]), pytest.approx(1.0))
    figures = f"loss {val['loss']:.4f}, accuracy {val['accuracy']:.4f}"
    expected = f"Validation at epoch 1.00 (step {val['step']}): {figures}"
    assert epochs_run.outcome.matching(VALIDATION)[0][0] == expected
    assert not epochs_run.outcome.matching(NO_VALIDATION)


def test_end_summary_gives_final_and_best_val_and_outputs(epochs_run: Trained) -> None:
    lines = epochs_run.outcome.lines
    [val] = epochs_run.split("val")
    done = [i for i, line in enumerate(lines) if DONE.fullmatch(line)]
    assert len(done) == 1 and done[0] == len(lines) - 4, lines
    assert DONE.fullmatch(lines[-4]).groups() == ("0", str(val["step"]))
    figures = f"loss {val['loss']:.4f}, accuracy {val['accuracy']:.4f}"
    assert lines[-3] == f"  final val: {figures} (step {val['step']})"
    assert lines[-2] == f"  best val:  accuracy {val['accuracy']:.4f} (step {val['step']})"
    assert lines[-1] == "  outputs:   runs/epochs (config.yaml, checkpoints/, metrics.jsonl)"


def test_positive_max_steps_stops_there_and_a_missing_val_split_is_said(
    steps_run: tuple[Trained, Saved],
) -> None:
    trained, _ = steps_run
    outcome = trained.outcome
    outcome.assert_done()
    [start] = outcome.matching(START)
    assert int(start[1]) == 2 and int(start[2]) > 2
    [no_val] = outcome.matching(NO_VALIDATION)
    assert no_val[1] == "data/noval"
    _assert_train_lines(trained.split("train"), [1, 2], int(start[2]))
    assert not trained.split("val")
    assert DONE.fullmatch(outcome.lines[-3]).groups() == ("0", "2")
    assert outcome.lines[-2:] == [
        "  no validation: the data has no val split",
        "  outputs:   runs/steps (config.yaml, checkpoints/, metrics.jsonl)",
    ]


def test_max_steps_zero_is_a_config_error(project: Project) -> None:
    """Through `train` itself; with --verbose the framework's own logs come through (TensorFlow
    logs while it loads), without it the error is the only line."""
    verbose = ["--verbose"] if project.framework == "tensorflow" else []
    outcome = train(project, *quick_overrides(project.task, "bad", 0), *verbose)
    message = (
        "error: config key trainer.max_steps must be -1 (run trainer.max_epochs)"
        " or an integer >= 1, got 0"
    )
    assert outcome.code == 2 and not outcome.lines, outcome
    assert outcome.noise[-1] == message
    assert (len(outcome.noise) > 1) == bool(verbose), outcome.noise
    assert not (project.path / "runs" / "bad").exists()


def test_restart_with_another_config_is_refused_with_the_difference(
    refused_restart: tuple[Outcome, bool],
) -> None:
    outcome, unchanged = refused_restart
    line = outcome.assert_error("run runs/epochs was started with a different config: seed 0 -> 1.")
    assert "run.name=<new name>" in line and "run.reconfigure=true" in line
    assert unchanged, "the refused restart changed the run's folder"


def test_restart_with_reconfigure_is_allowed(
    reconfigured_restart: Outcome, epochs_run: Trained
) -> None:
    reconfigured_restart.assert_done()
    [start] = epochs_run.outcome.matching(START)
    [resumed] = reconfigured_restart.matching(RESUMED)
    [nothing] = reconfigured_restart.matching(NOTHING_TO_DO)
    assert resumed[1] == nothing[1] == nothing[2] == start[1]


def test_restart_with_longer_max_steps_resumes_with_the_same_preprocessing(
    longer_restart: Trained, steps_run: tuple[Trained, Saved]
) -> None:
    outcome = longer_restart.outcome
    outcome.assert_done()
    [resumed] = outcome.matching(RESUMED)
    assert resumed[1] == "2"
    [start] = outcome.matching(START)
    _assert_train_lines(longer_restart.split("train"), [1, 2, 3], int(start[2]))
    assert DONE.fullmatch(outcome.lines[-3]).groups() == ("2", "3")
    assert steps_run[1] is not None, "no preprocessing saved in the run folder"
    assert _preprocessing(longer_restart.run) == steps_run[1], "preprocessing written again"


CONFIG_ERRORS = [
    ("optim.lr=-1", "config key optim.lr must be a positive finite number, got -1"),
    ("optim.lr=.nan", "config key optim.lr must be a positive finite number, got .nan"),
    ("data.batch_size=0", "config key data.batch_size must be an integer >= 1, got 0"),
    (
        "trainer.max_steps=-2",
        "config key trainer.max_steps must be -1 (run trainer.max_epochs) or an integer >= 1,"
        " got -2",
    ),
    ("optim.lrr=0.1", "unknown config key optim.lrr; did you mean optim.lr?"),
]
ERROR_CASES = [(task, *case) for task in TASKS for case in CONFIG_ERRORS] + [
    ("text", "data.max_length=-5", "config key data.max_length must be an integer >= 1, got -5"),
    ("text", "max_length=-5", "unknown config key max_length; did you mean data.max_length?"),
]


@pytest.fixture(scope="module", params=TASKS)
def config_project(request: pytest.FixtureRequest, baked_project) -> Project:
    """A project of the task; the config code is the same in every framework's project."""
    return once(("config", request.param), lambda: baked_project("pytorch", request.param))


@pytest.mark.parametrize(
    ("config_project", "override", "message"),
    ERROR_CASES,
    ids=[f"{task}-{override}" for task, override, _ in ERROR_CASES],
    indirect=["config_project"],
)
def test_config_error_is_one_line_naming_the_key(
    config_project: Project, override: str, message: str
) -> None:
    """Through the command that loads the config without importing the framework."""
    result = config_project.module("data", "check", override, check=False)
    Outcome.of(result).assert_error(message)
