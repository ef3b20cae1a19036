"""What a preemption costs each framework's image project, signalled and unsignalled.

    python bench/preemption.py [--frameworks ...] [--model default|tiny] [--kill-after 20]
        [--block-steps 60] [--block-every 10]

Per framework, on the sample data:

- signalled: SIGTERM to a training run after `--signal-at` steps; the seconds from the signal to
  the process's exit (the step in flight, the checkpoint and the metrics included), its exit
  status, and the steps lost: logged before the stop but not in the checkpoint the restart
  resumes from (the goal is 0).
- SIGKILL: a run with step checkpoints off (`trainer.checkpoint_every` beyond the run) and
  `trainer.checkpoint_every_minutes` set, killed without warning after `--kill-after` seconds;
  the steps it logged that the restart recomputes: at most the steps of one checkpoint period.
- blocked: how long the step loop waits for periodic checkpoints (`--block-steps` steps, one
  every `--block-every`), as written (in the background) and made synchronous (each save
  followed by a wait for its write): the seconds inside `Checkpoints.save` and in the loop's own
  `Checkpoints.wait` calls, per checkpoint, the end-of-training wait left out.

Each framework runs in the test environment `make test` builds for it (`.venvs/`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
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
    parser.add_argument("--block-steps", type=int, default=60, help="steps of the blocking runs")
    parser.add_argument("--block-every", type=int, default=10, help="their checkpoint_every")
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


# The project's training with Checkpoints.save and the loop's Checkpoints.wait timed; with
# SYNC set, every save waits for its write. Prints the seconds per checkpoint as JSON.
TIMED_TRAIN = """
import json
import os
import sys
import time

from {package} import checkpoint, train

save, wait, close = (getattr(checkpoint.Checkpoints, name) for name in ("save", "wait", "close"))
blocked, inside = [], []


def timed_save(self, *args, **kwargs):
    start = time.perf_counter()
    inside.append(True)
    save(self, *args, **kwargs)
    if os.environ.get("SYNC"):
        wait(self)
    inside.pop()
    blocked.append(time.perf_counter() - start)


def timed_wait(self):
    start = time.perf_counter()
    wait(self)
    if blocked and not inside:  # the loop waiting for the write of the last save
        blocked[-1] += time.perf_counter() - start


def untimed_close(self):
    inside.append(True)
    close(self)


checkpoint.Checkpoints.save = timed_save
checkpoint.Checkpoints.wait = timed_wait
checkpoint.Checkpoints.close = untimed_close
try:
    train.main(sys.argv[1:])
finally:
    print("BLOCKED " + json.dumps(blocked), flush=True)
"""


def blocked(project: Project, base: list[str], steps: int, every: int, sync: bool) -> list[float]:
    """Seconds the loop waited at each periodic checkpoint, the one at the end left out."""
    script = project.path / "timed_train.py"
    script.write_text(TIMED_TRAIN.format(package=project.package))
    name = "sync" if sync else "async"
    overrides = [*base, f"run.name={name}", f"trainer.max_steps={steps}"]
    overrides += [f"trainer.checkpoint_every={every}", "log.every=10"]
    result = subprocess.run(
        [str(project.env.python), str(script), *overrides],
        cwd=project.path,
        env=project.env.environ({"SYNC": "1"} if sync else {}),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("BLOCKED ")]
    if result.returncode or not lines:
        raise RuntimeError(f"the timed run failed:\n{result.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("BLOCKED "))[:-1]


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
            waits = {
                sync: blocked(project, base, args.block_steps, args.block_every, sync)
                for sync in (False, True)
            }
        print(
            f"{framework:<11} SIGTERM at step {term['at']}: exit {term['status']} in"
            f" {term['seconds']:.2f} s, steps lost {term['lost']} | SIGKILL at step {kill['at']}"
            f" ({kill['steps_per_s']:.1f} steps/s): steps lost {kill['lost']}",
            flush=True,
        )
        for sync, seconds in waits.items():
            print(
                f"{'':<11} loop blocked per periodic checkpoint, {'sync ' if sync else 'async'}:"
                f" median {1000 * statistics.median(seconds):.1f} ms,"
                f" max {1000 * max(seconds):.1f} ms over {len(seconds)}",
                flush=True,
            )


if __name__ == "__main__":
    main()
