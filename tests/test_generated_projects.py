"""The generated-project contract, checked the same way for every framework x task on CPU.

Each project is baked once, with the template's sample data written by its own `data sample`
command, and run in its framework's pinned environment (see harness.py). Items of the contract
(../shared/generated-project-contract.md): 2 ruff and imports; 3 two training steps write a
checkpoint with a finite loss; 4 a run killed after a checkpoint resumes from it; 6 every export
format reloads and matches; 7 serving; 8 the project's own tests; and the loss falls on the
learnable sample. Multi-device training (5) is framework-specific: tests/test_template_<fw>.py.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .harness import (
    FRAMEWORKS,
    RESUME_LINE,
    SMALL_MODEL,
    TASKS,
    Project,
    free_port,
    http,
    quick_overrides,
    read_metrics,
    request_instances,
    stop,
    train_losses,
    wait_for_health,
)

pytestmark = pytest.mark.slow

COMBINATIONS = [(fw, task) for fw in FRAMEWORKS for task in TASKS]


@pytest.fixture(scope="session", params=COMBINATIONS, ids=[f"{fw}-{t}" for fw, t in COMBINATIONS])
def project(request: pytest.FixtureRequest, baked_project) -> Project:
    framework, task = request.param
    project = baked_project(framework, task)
    project.module("data", "sample", "--out", "data/sample")
    return project


@pytest.fixture(scope="session")
def trained(project: Project) -> Path:
    """Two steps of a tiny model: runs/quick."""
    project.module("train", *quick_overrides(project.task, "quick", 2))
    return project.path / "runs" / "quick"


def test_generated_code_passes_ruff_and_imports(project: Project) -> None:
    for command in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
        project.run(*command)
    modules = sorted(p.stem for p in (project.path / "src" / project.package).glob("*.py"))
    imports = "; ".join(f"import {project.package}.{m}" for m in modules if m != "__main__")
    project.run(str(project.env.python), "-c", f"{imports}; import {project.package}.data.__main__")


def test_two_steps_write_a_checkpoint_with_finite_loss(trained: Path) -> None:
    assert (trained / "config.yaml").is_file()
    assert any((trained / "checkpoints").iterdir()), "no checkpoint written"
    losses = train_losses(trained)
    assert [step for step, _ in losses] == [1, 2]
    assert all(isinstance(loss, float) and math.isfinite(loss) for _, loss in losses)


def test_killed_run_resumes_from_its_checkpoint(project: Project) -> None:
    overrides = quick_overrides(project.task, "killed", 10_000, "trainer.checkpoint_every=3")
    run = project.path / "runs" / "killed"
    process = project.popen_module("train", *overrides)
    deadline = time.monotonic() + 300
    while not _logged_step_at_least(run, 4):
        assert process.poll() is None, stop(process)
        assert time.monotonic() < deadline, "no training progress in 300 s"
        time.sleep(0.2)
    stop(process, signal.SIGKILL)
    logged = train_losses(run)
    last_logged = logged[-1][0]

    # A shorter run than the one started: a restart may only lengthen a run unless reconfigured.
    shorter = [f"trainer.max_steps={last_logged + 3}", "run.reconfigure=true"]
    result = project.module("train", *overrides, *shorter)
    match = RESUME_LINE.search(result.stdout + result.stderr)
    assert match, f"no 'resumed ... step N' line:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    resumed_from = int(match.group(1))
    assert 3 <= resumed_from <= last_logged and resumed_from % 3 == 0
    new_steps = [step for step, _ in train_losses(run)[len(logged) :]]
    assert new_steps == list(range(resumed_from + 1, last_logged + 4))


def _logged_step_at_least(run: Path, step: int) -> bool:
    try:
        return any(record.get("step", 0) >= step for record in read_metrics(run))
    except (OSError, ValueError):
        return False


def test_every_export_format_reloads_and_matches(project: Project, trained: Path) -> None:
    result = project.module("export", "--checkpoint", str(trained))
    export = trained / "export"
    assert (export / "preprocessor.json").is_file()
    checks = json.loads((export / "export.json").read_text())
    assert checks, result.stdout
    for check in checks:
        assert (export / check["file"]).exists(), check
        assert check["max_abs_diff"] <= check["tolerance"], check


def test_serve_answers_predict_and_rejects_bad_input(project: Project, trained: Path) -> None:
    if not (trained / "export" / "preprocessor.json").exists():
        project.module("export", "--checkpoint", str(trained))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = project.popen_module("serve", "--model", str(trained / "export"), "--port", str(port))
    try:
        wait_for_health(url, server)
        status, body = http(f"{url}/predict", {"instances": request_instances(project, 2)})
        assert status == 200, body
        assert len(body["predictions"]) == 2
        status, body = http(f"{url}/predict", {"instances": [{"nonsense": [1, 2]}]})
        assert status == 422 and body["detail"], body
        status, _ = http(f"{url}/predict", raw=b"{not json")
        assert status == 422
    finally:
        stop(server)


def test_project_test_suite_passes(project: Project) -> None:
    result = project.run(
        str(project.env.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", check=False
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in summary and "failed" not in summary, summary


def test_loss_falls_on_the_learnable_sample(project: Project) -> None:
    overrides = [
        *SMALL_MODEL[project.task],
        "run.name=learn",
        "trainer.max_steps=50",
        "trainer.checkpoint_every=50",
        "optim.warmup_steps=5",
        "log.every=5",
        "log.tensorboard=false",
    ]
    project.module("train", *overrides, timeout=900)
    losses = [loss for _, loss in train_losses(project.path / "runs" / "learn")]
    assert len(losses) >= 8, losses
    first, last = sum(losses[:2]) / 2, sum(losses[-2:]) / 2
    assert last < 0.8 * first, f"loss did not fall: {losses}"


def test_bad_data_stops_with_one_message_naming_the_file(project: Project, tmp_path: Path) -> None:
    data = tmp_path / "data"
    subprocess.run(["cp", "-r", str(project.path / "data" / "sample"), str(data)], check=True)
    if project.task == "image":
        culprit = sorted((data / "train").rglob("*.png"))[0]
        culprit.write_bytes(b"\x89PNG broken")
    else:
        culprit = data / "train.csv"
        culprit.write_text(culprit.read_text() + "a row with one field\n")
    overrides = quick_overrides(project.task, "bad", 2, f"data.path={data}")
    result = project.module("train", *overrides, check=False)
    assert result.returncode != 0
    assert str(culprit) in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
