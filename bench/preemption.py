"""What a preemption costs each framework's image project, signalled and unsignalled.

    python bench/preemption.py [--frameworks ...] [--model default|tiny] [--kill-after 20]

Per framework, on the sample data:

- signalled: SIGTERM to a training run after `--signal-at` steps; the seconds from the signal to
  the process's exit (the step in flight, the checkpoint and the metrics included), its exit
  status, and the steps lost: logged before the stop but not in the checkpoint the restart
  resumes from (the goal is 0).
- SIGKILL: a run with step checkpoints off (`trainer.checkpoint_every` beyond the run) and
  `trainer.checkpoint_every_minutes` set, killed without warning after `--kill-after` seconds;
  the steps it logged that the restart recomputes: at most the steps of one checkpoint period.

Each framework runs in the test environment `make test` builds for it (`.venvs/`).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness import (  # noqa: E402
    FRAMEWORKS,
    RESUME_LINE,
    TINY_MODEL,
    Project,
    answers,
    framework_env,
    read_metrics,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--model", choices=["default", "tiny"], default="default")
    parser.add_argument("--signal-at", type=int, default=10, help="steps before the SIGTERM")
    parser.add_argument("--kill-after", type=float, default=20, help="seconds before the SIGKILL")
    parser.add_argument(
        "--minutes", type=float, default=0.1, help="trainer.checkpoint_every_minutes of the kill"
    )
    return parser.parse_args(argv)


def bake(framework: str, out: Path) -> Project:
    from cookiecutter.main import cookiecutter

    path = cookiecutter(
        str(ROOT / "templates" / framework),
        no_input=True,
        output_dir=str(out),
        extra_context=answers("image", hardware="cpu"),
        accept_hooks=False,
    )
    project = Project(Path(path), framework, "image", framework_env(framework))
    project.module("data", "sample", "--out", "data/sample")
    return project


def logged_steps(run: Path) -> list[int]:
    try:
        return [r["step"] for r in read_metrics(run) if r["split"] == "train"]
    except (OSError, ValueError, KeyError):
        return []


def start(project: Project, overrides: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(project.env.python), "-m", f"{project.package}.train", *overrides],
        cwd=project.path,
        env=project.env.environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def resumed_step(project: Project, overrides: list[str], last: int) -> int:
    """Restart the run for one step past the last it logged; the step it resumed from."""
    shorter = [f"trainer.max_steps={last + 1}", "run.reconfigure=true"]
    result = project.module("train", *overrides, *shorter, check=False, timeout=1200)
    match = RESUME_LINE.search(result.stdout + result.stderr)
    if match is None:
        raise RuntimeError(f"the restart did not resume:\n{result.stderr[-3000:]}")
    return int(match.group(1))


def signalled(project: Project, base: list[str], at: int) -> dict[str, float]:
    overrides = [*base, "run.name=signalled"]
    run = project.path / "runs" / "signalled"
    process = start(project, [*overrides, "trainer.max_steps=100000"])
    while not any(step >= at for step in logged_steps(run)):
        if process.poll() is not None:
            raise RuntimeError(process.communicate()[0][-3000:])
        time.sleep(0.05)
    sent = time.perf_counter()
    os.kill(process.pid, signal.SIGTERM)
    process.communicate()
    seconds = time.perf_counter() - sent
    last = logged_steps(run)[-1]
    lost = last - resumed_step(project, overrides, last)
    return {"seconds": seconds, "status": process.returncode, "lost": lost, "at": last}


def killed(project: Project, base: list[str], after: float, minutes: float) -> dict[str, float]:
    periodic = ["trainer.checkpoint_every=100000", f"trainer.checkpoint_every_minutes={minutes}"]
    overrides = [*base, "run.name=killed", *periodic]
    run = project.path / "runs" / "killed"
    process = start(project, [*overrides, "trainer.max_steps=100000"])
    while not logged_steps(run):  # count from the first step, after start-up and compilation
        if process.poll() is not None:
            raise RuntimeError(process.communicate()[0][-3000:])
        time.sleep(0.05)
    first = time.perf_counter()
    time.sleep(after)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    steps = logged_steps(run)
    rate = (steps[-1] - steps[0]) / (time.perf_counter() - first)
    lost = steps[-1] - resumed_step(project, overrides, steps[-1])
    return {"lost": lost, "at": steps[-1], "steps_per_s": rate}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    base = ["data.num_workers=0", "log.every=1", "log.tensorboard=false"]
    if args.model == "tiny":
        base += TINY_MODEL["image"]
    print(
        f"image project, {args.model} model, CPU; SIGTERM after step {args.signal_at};"
        f" SIGKILL {args.kill_after:g} s in, checkpoint_every_minutes={args.minutes:g}"
    )
    for framework in args.frameworks:
        with tempfile.TemporaryDirectory() as tmp:
            project = bake(framework, Path(tmp))
            term = signalled(project, base, args.signal_at)
            kill = killed(project, base, args.kill_after, args.minutes)
        print(
            f"{framework:<11} SIGTERM at step {term['at']}: exit {term['status']} in"
            f" {term['seconds']:.2f} s, steps lost {term['lost']} | SIGKILL at step {kill['at']}"
            f" ({kill['steps_per_s']:.1f} steps/s): steps lost {kill['lost']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
