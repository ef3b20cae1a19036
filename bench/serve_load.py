"""Serving throughput of each framework's generated image project, dynamic batching on vs off.

    python bench/serve_load.py [--frameworks pytorch,jax] [--requests 600] [--repeats 3]
                               [--memory-requests 5000] [--out figures.json]

For each framework: bake the image project, write its sample data, train two steps of the
default model, export it, then start two servers on 127.0.0.1, batching on (--max-batch-size 32)
and off (--max-batch-size 1), and load them with the project's own load test (`make loadtest`:
python -m <package>.serving.loadtest), a fixed number of requests at concurrency 1, 8 and 32.
The on and off runs alternate, --repeats times, so that other load on the machine falls on both;
each run prints a line as it ends, and a table at the end gives the median and the spread.
A last run of --memory-requests at concurrency 32 against the batching server measures its
memory growth. Goal (issue 13): at concurrency 32 batching on gives at least 2x the req/s of
batching off, and memory grows under 10%. The load generator shares the machine's cores with
the server, as `make loadtest` does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness import (  # noqa: E402
    TEMPLATES,
    Project,
    answers,
    framework_env,
    free_port,
    quick_overrides,
    stop,
)

FRAMEWORKS = ("pytorch", "tensorflow", "jax")
CONCURRENCY = (1, 8, 32)
BATCHING = {"on": 32, "off": 1}  # --max-batch-size
MODEL = ("data.image_size=32", "model.widths=[32,64,128]")  # the default model
SERVED_FORMAT = {  # only the format each server loads
    "pytorch": ("--format", "onnx"),
    "tensorflow": ("--format",),  # the SavedModel alone
    "jax": ("--format", "stablehlo"),
}
# CPU time of one model call per instance, at batch sizes 1 and 32, in the project's environment
# (one model thread where the framework takes --threads): batching can only save what a batch of
# 32 saves over 32 calls of one.
MODEL_COST = """
import inspect, sys, time
from pathlib import Path
import numpy as np
from {package}.data import PREPROCESSOR_FILE, Preprocessor
from {package}.inference import load_predictor
export = Path(sys.argv[1])
spec = Preprocessor.load(export / PREPROCESSOR_FILE).input_spec
one_thread = {{"threads": 1}} if "threads" in inspect.signature(load_predictor).parameters else {{}}
predict = load_predictor(export, **one_thread)
for size in (1, 32):
    inputs = {{n: np.random.rand(size, *s).astype(d) for n, (s, d) in spec.items()}}
    for _ in range(3):
        predict(inputs)
    times = []
    for _ in range(max(8, 256 // size)):
        start = time.process_time()
        predict(inputs)
        times.append(time.process_time() - start)
    print(size, sorted(times)[len(times) // 2] * 1000 / size)
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--requests", type=int, default=600, help="per run")
    parser.add_argument("--repeats", type=int, default=3, help="on/off runs per concurrency")
    parser.add_argument("--memory-requests", type=int, default=5000, help="0: no memory run")
    parser.add_argument("--out", type=Path, help="write every run's figures as JSON")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, flush=True)


def exported_project(framework: str, workdir: Path) -> tuple[Project, Path]:
    start = time.perf_counter()
    path = cookiecutter(
        str(TEMPLATES / framework),
        no_input=True,
        output_dir=str(workdir),
        extra_context=answers("image"),
        accept_hooks=False,
    )
    project = Project(Path(path), framework, "image", framework_env(framework))
    project.module("data", "sample", "--out", "data/sample")
    project.module("train", *quick_overrides("image", "bench", 2, *MODEL))
    run = project.path / "runs" / "bench"
    project.module("export", "--checkpoint", str(run), *SERVED_FORMAT[project.framework])
    log(f"{framework}: baked, trained and exported in {time.perf_counter() - start:.0f} s")
    return project, run / "export"


class Server:
    """`python -m <package>.serve` in the background, its output in a file (a pipe nobody
    reads fills up and blocks the server's access log, and with it the server)."""

    def __init__(self, project: Project, export: Path, batch: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = project.path / f"serve-{batch}.log"
        with self.log_path.open("w") as output:
            self.process = subprocess.Popen(
                [
                    *(str(project.env.python), "-m", f"{project.package}.serve"),
                    *("--model", str(export), "--port", str(self.port)),
                    *("--max-batch-size", str(batch)),
                ],
                cwd=project.path,
                env=project.env.environ(),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log_path.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/ready", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        stop(self.process)  # type: ignore[arg-type]


def load(project: Project, url: str, requests: int, concurrency: int) -> dict[str, Any]:
    result = project.module(
        "serving.loadtest",
        *("--url", url, "--data", "data/sample", "--json"),
        *("--requests", str(requests), "--concurrency", str(concurrency)),
        timeout=max(120, requests),
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def model_cost(project: Project, export: Path) -> dict[int, float]:
    """Median CPU ms per instance of one model call, by batch size."""
    code = MODEL_COST.format(package=project.package)
    output = project.run(str(project.env.python), "-c", code, str(export)).stdout
    cost = {int(size): float(ms) for size, ms in (line.split() for line in output.splitlines())}
    log(
        f"{project.framework}: model call CPU per instance {cost[1]:.2f} ms at batch 1, "
        f"{cost[32]:.2f} ms at batch 32"
    )
    return cost


def measure(project: Project, export: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    servers = {name: Server(project, export, batch) for name, batch in BATCHING.items()}
    rows = []
    try:
        for server in servers.values():
            server.wait_ready()
            load(project, server.url, 64, 8)  # warm-up, not reported
        for repeat in range(args.repeats):
            for concurrency in CONCURRENCY:
                for name, server in servers.items():
                    row = {
                        "framework": project.framework,
                        "batching": name,
                        "repeat": repeat,
                        **load(project, server.url, args.requests, concurrency),
                    }
                    log(_line(row))
                    rows.append(row)
        if args.memory_requests:
            server = servers["on"]
            row = {
                "framework": project.framework,
                "batching": "on",
                "repeat": "memory",
                **load(project, server.url, args.memory_requests, 32),
            }
            log(_line(row))
            rows.append(row)
    finally:
        for server in servers.values():
            server.stop()
    return rows


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['framework']} batching {r['batching']:3} c={r['concurrency']:<2} "
        f"{r['requests']} requests: {r['requests_per_second']:7.1f} req/s, "
        f"p50 {r['p50_ms']:.1f} p95 {r['p95_ms']:.1f} p99 {r['p99_ms']:.1f} ms, "
        f"{r['errors']} errors, server RSS {r['memory_before_mb']} -> {r['memory_after_mb']} MB, "
        f"server CPU {r['server_cpu_ms_per_request']:.2f} ms/request"
    )


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """Median over the repeats (and min-max of req/s), the on/off ratios (of req/s, and of the
    requests one second of server CPU answers), the memory run."""
    lines = [
        "| framework | concurrency | batching | req/s median (min-max) | p50 ms | p95 ms | p99 ms "
        "| errors | server CPU ms/request | on/off: req/s, per CPU second |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for framework in dict.fromkeys(r["framework"] for r in rows):
        runs = [r for r in rows if r["framework"] == framework and isinstance(r["repeat"], int)]
        for concurrency in CONCURRENCY:
            medians, cpu = {}, {}
            for name in BATCHING:
                group = [
                    r for r in runs if r["concurrency"] == concurrency and r["batching"] == name
                ]
                rates = [r["requests_per_second"] for r in group]
                medians[name] = statistics.median(rates)
                cpu[name] = statistics.median(r["server_cpu_ms_per_request"] for r in group)
                ratio = (
                    f"{medians['on'] / medians['off']:.2f}x, {cpu['off'] / cpu['on']:.2f}x"
                    if name == "off"
                    else ""
                )
                lines.append(
                    f"| {framework} | {concurrency} | {name} | {medians[name]:.1f} "
                    f"({min(rates):.1f}-{max(rates):.1f}) "
                    + " ".join(
                        f"| {statistics.median(r[key] for r in group):.1f}"
                        for key in ("p50_ms", "p95_ms", "p99_ms")
                    )
                    + f" | {sum(r['errors'] for r in group)} | {cpu[name]:.2f} | {ratio} |"
                )
    for r in rows:
        if r["repeat"] == "memory":
            growth = r["memory_after_mb"] / r["memory_before_mb"] - 1
            lines.append(
                f"{r['framework']}: {r['requests']} requests at concurrency 32, batching on: "
                f"server RSS {r['memory_before_mb']} -> {r['memory_after_mb']} MB "
                f"({growth:+.1%}), {r['errors']} errors"
            )
    return lines


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for framework in args.frameworks.split(","):
            project, export = exported_project(framework, Path(tmp) / framework)
            cost = model_cost(project, export)
            rows.append({"framework": framework, "repeat": "model", "model_cpu_ms": cost})
            rows += measure(project, export, args)
            if args.out:
                args.out.write_text(json.dumps(rows, indent=1))
    log("\n".join(summary(rows)))


if __name__ == "__main__":
    main()
