"""Wall time of `dlstart new --yes` beside raw copier and cookiecutter on the same template.

Every command runs as a fresh process, as a user would run it, round-robin so that load on the
machine falls on all of them alike; the first round warms caches and is not counted. Prints the
median and fastest wall time of the rest, and the median CPU time (user + system, of the command
and its children: steadier than wall time on a busy machine), and the goals: dlstart within
1.15x of raw copier on the same source, a full project under 0.6 s, `dlstart --help` under 0.15 s.

    python bench/generate.py [--repeat 7] [--framework pytorch] [--task image]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dlstart.questions import FRAMEWORKS, TASKS
from dlstart.template_source import for_new, template_root

GOAL_RATIO, GOAL_NEW, GOAL_HELP = 1.15, 0.6, 0.15


def executable(name: str) -> list[str]:
    """The console script of this environment, else the module."""
    script = Path(sys.executable).with_name(name)
    return [str(script)] if script.exists() else [sys.executable, "-m", name]


def commands(framework: str, task: str) -> dict[str, list[str]]:
    """Name -> command, with {dest} standing for a new destination folder."""
    source = for_new(None)
    data = ["-d", f"framework={framework}", "-d", f"task={task}"]
    template = str(template_root() / "templates" / framework)
    return {
        "dlstart new --yes": [
            *executable("dlstart"), "new", "{dest}", "--yes",
            "--framework", framework, "--task", task,
        ],
        "copier copy (same source)": [
            *executable("copier"), "copy", "--quiet", "--trust", "--defaults",
            *(["--vcs-ref", source.vcs_ref] if source.vcs_ref else []),
            *data, source.src, "{dest}",
        ],
        f"copier copy templates/{framework}": [
            *executable("copier"), "copy", "--quiet", "--trust", "--defaults",
            "-d", f"task={task}", template, "{dest}",
        ],
        f"cookiecutter templates/{framework}": [
            *executable("cookiecutter"), "--no-input", "--output-dir", "{dest}", template,
            f"task={task}",
        ],
        "dlstart --help": [*executable("dlstart"), "--help"],
    }  # fmt: skip


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(command: list[str], scratch: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run."""
    dest = Path(tempfile.mkdtemp(dir=scratch)) / "project"
    argv = [part.replace("{dest}", str(dest)) for part in command]
    cpu, start = _cpu(), time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed, cpu = time.perf_counter() - start, _cpu() - cpu
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{result.stdout}{result.stderr}")
    shutil.rmtree(dest.parent)
    return elapsed, cpu


def measure(cmds: dict[str, list[str]], repeat: int) -> dict[str, list[tuple[float, float]]]:
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    with tempfile.TemporaryDirectory(prefix="dlstart-bench-") as scratch:
        env_cache = os.environ.setdefault("XDG_CACHE_HOME", str(Path(scratch) / "cache"))
        print(f"cache: {env_cache}; {repeat} timed rounds after one warm-up", file=sys.stderr)
        for round_ in range(repeat + 1):
            for name, command in cmds.items():
                timing = run_once(command, Path(scratch))
                if round_:
                    times[name].append(timing)
    return times


def report(times: dict[str, list[tuple[float, float]]]) -> None:
    median = {name: statistics.median(wall for wall, _ in runs) for name, runs in times.items()}
    cpu = {name: statistics.median(c for _, c in runs) for name, runs in times.items()}
    baseline = median["copier copy (same source)"]
    header = f"{'command':<36} {'median s':>9} {'min s':>7} {'vs copier':>10} {'cpu s':>7}"
    print(header)
    for name, runs in times.items():
        fastest = min(wall for wall, _ in runs)
        ratio = median[name] / baseline
        print(f"{name:<36} {median[name]:9.3f} {fastest:7.3f} {ratio:9.2f}x {cpu[name]:7.3f}")
    new, help_ = median["dlstart new --yes"], median["dlstart --help"]
    print()
    print(
        f"goal: dlstart new within {GOAL_RATIO}x of copier: {new / baseline:.2f}x "
        f"(cpu {cpu['dlstart new --yes'] / cpu['copier copy (same source)']:.2f}x)"
    )
    print(f"goal: dlstart new under {GOAL_NEW} s: {new:.3f} s")
    print(f"goal: dlstart --help under {GOAL_HELP} s: {help_:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds (default: 7)")
    parser.add_argument("--framework", choices=FRAMEWORKS, default="pytorch")
    parser.add_argument("--task", choices=TASKS, default="image")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    report(measure(commands(args.framework, args.task), args.repeat))


if __name__ == "__main__":
    main()
