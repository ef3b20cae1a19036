"""What MLflow tracking and the end-of-run report cost a training run of the image project.

    python bench/tracking_overhead.py [--framework pytorch] [--steps 24 240] [--repeats 3]

Bakes the framework's image project, writes its sample data, then, for each --steps, trains
runs with tracking and report on (`log.mlflow=true log.report=true`, the local MLflow store)
and off, interleaved (off, on, off, on, ...) so that a change in the machine's load hits both
alike. For each run:

- loop samples/s: the samples of the train lines of metrics.jsonl after the first (which holds
  the warm-up) over the time they took, from their own samples/s;
- wall s: the training command's time from start to exit, start-up, report and tracking
  included (what a user waits for). The tracking process's own exit, after it has told
  training that the record is complete, is waited for but not counted;
- CPU s: the CPU time of the training process and its data loaders (not of the tracking
  process, which training does not wait for): what tracking and the report add to training's
  own work, whatever the machine's load.

Prints, for each length, the medians of each mode, the slowdown of the medians and the median
of each (off, on) pair's slowdown, the added wall time per run, and the load average before
and after; --out writes every figure as JSON. On a shared machine, read the paired figures and
the spread of the runs (--out) before anything else.
Goal (issue 12): tracking + report on is under 3% slower.

Measured on 2026-11-30 (PyTorch, no other work on the 2 cores, load average 2.1-2.3 from the
bench itself; `--steps 24 240 --repeats 3`), off vs on, medians (each run's figure):
240 steps: loop 281.3 vs 298.6 samples/s (off 281.3, 273.3, 316.7; on 298.6, 305.7, 297.8),
wall 30.6 vs 31.9 s (+1.3 s, +4.2%), training's CPU 57.3 vs 56.7 s. 24 steps: loop 311.2 vs
283.9 (+8.8%: the tracking process imports MLflow during those first seconds; the first "on"
run, which also created the MLflow database, 181.5), wall 6.3 vs 8.9 s (+2.6 s). So the loop
is not slower in a run of a few hundred steps (run-to-run spread about 8%), and a run pays
about 1.3-2.6 s in all (the report: val predictions and two plots; the tracking's last copy).
Under load 6-8 with other test suites on the cores, the figures swung by half between runs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness import TEMPLATES, Project, answers, framework_env, read_metrics  # noqa: E402

MODES = {
    "off": ("log.mlflow=false", "log.report=false"),
    "on": ("log.mlflow=true", "log.report=true"),
}
FIGURES = ("loop_samples_per_s", "wall_s", "cpu_s")


def bake(framework: str, folder: Path) -> Project:
    path = cookiecutter(
        str(TEMPLATES / framework),
        no_input=True,
        output_dir=str(folder),
        extra_context=answers("image"),
        accept_hooks=False,
    )
    project = Project(Path(path), framework, "image", framework_env(framework))
    project.module("data", "sample", "--out", "data/sample")
    return project


def train(project: Project, name: str, mode: str, steps: int, batch_size: int) -> dict[str, Any]:
    command = [
        str(project.env.python), "-m", f"{project.package}.train",
        f"run.name={name}", f"trainer.max_steps={steps}", f"trainer.checkpoint_every={steps}",
        f"data.batch_size={batch_size}", "log.every=5", *MODES[mode],
    ]  # fmt: skip
    log = project.path / "runs" / f"{name}.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as output:
        cpu_before = _children_cpu_s()
        started = time.perf_counter()
        returncode = subprocess.call(
            command, cwd=project.path, env=project.env.environ(), stdout=output, stderr=output
        )
        wall = time.perf_counter() - started
        cpu = _children_cpu_s() - cpu_before
    if returncode != 0:
        raise SystemExit(f"{name} failed:\n{log.read_text()[-3000:]}")
    wait_for_tracking(project.path / "runs" / name)
    lines = [r for r in read_metrics(project.path / "runs" / name) if r["split"] == "train"]
    samples = seconds = 0.0
    for previous, line in itertools.pairwise(lines):
        batch = (line["step"] - previous["step"]) * batch_size
        samples, seconds = samples + batch, seconds + batch / line["samples_per_s"]
    loop = samples / seconds
    return {"mode": mode, "steps": steps, "loop_samples_per_s": loop, "wall_s": wall, "cpu_s": cpu}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_tracking(run: Path, timeout: float = 30) -> None:
    """Wait for the run's tracking process to exit, so that it does not overlap the next run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(
        str(run) in command and "--follow" in command for command in _commands()
    ):
        time.sleep(0.1)


def _commands() -> list[str]:
    commands = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            commands.append(cmdline.read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return commands


def summarise(runs: list[dict[str, Any]], steps: int) -> dict[str, Any]:
    mine = [r for r in runs if r["steps"] == steps]
    medians = {
        mode: {k: statistics.median(r[k] for r in mine if r["mode"] == mode) for k in FIGURES}
        for mode in MODES
    }
    pairs = list(zip(mine[::2], mine[1::2], strict=True))  # (off, on), run one after the other
    loop = [1 - on["loop_samples_per_s"] / off["loop_samples_per_s"] for off, on in pairs]
    wall = [on["wall_s"] / off["wall_s"] - 1 for off, on in pairs]
    return {
        "steps": steps,
        "medians": medians,
        "loop_slower": 1
        - medians["on"]["loop_samples_per_s"] / medians["off"]["loop_samples_per_s"],
        "loop_slower_paired": statistics.median(loop),
        "wall_longer": medians["on"]["wall_s"] / medians["off"]["wall_s"] - 1,
        "wall_longer_paired": statistics.median(wall),
        "wall_added_s": statistics.median(on["wall_s"] - off["wall_s"] for off, on in pairs),
        "cpu_added_s": statistics.median(on["cpu_s"] - off["cpu_s"] for off, on in pairs),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--framework", default="pytorch", choices=("pytorch", "tensorflow", "jax"))
    parser.add_argument("--steps", type=int, nargs="+", default=[24, 240], help="run lengths")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each mode and length")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        project = bake(args.framework, Path(tmp))
        runs = [
            train(project, f"{mode}-{steps}-{i}", mode, steps, args.batch_size)
            for steps in args.steps
            for i in range(args.repeats)
            for mode in MODES
        ]
    load_after = os.getloadavg()
    print(f"{args.framework} image, batch {args.batch_size}, {args.repeats} runs of each")
    print(f"load average (1, 5, 15 min): before {load_before}, after {load_after}")
    print(f"{'steps':>5}  {'mode':>4}  {'loop samples/s':>14}  {'wall s':>7}  {'CPU s':>7}")
    summaries = [summarise(runs, steps) for steps in args.steps]
    for summary in summaries:
        for mode, m in summary["medians"].items():
            loop, wall, cpu = m["loop_samples_per_s"], m["wall_s"], m["cpu_s"]
            print(f"{summary['steps']:>5}  {mode:>4}  {loop:>14.1f}  {wall:>7.1f}  {cpu:>7.1f}")
    for s in summaries:
        print(
            f"{s['steps']} steps, tracking + report on: loop {s['loop_slower']:+.1%} slower"
            f" (medians; paired {s['loop_slower_paired']:+.1%}), wall {s['wall_longer']:+.1%}"
            f" (medians; paired {s['wall_longer_paired']:+.1%}), {s['wall_added_s']:+.1f} s a run;"
            f" training's CPU {s['cpu_added_s']:+.1f} s a run"
        )
    if args.out:
        figures = {"load": [load_before, load_after], "runs": runs, "summaries": summaries}
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
