"""Serving throughput of each framework's generated image project, dynamic batching on vs off.

    python bench/serve_load.py [--frameworks pytorch,jax] [--requests 600] [--memory-requests 5000]

For each framework: bake the image project, write its sample data, train two steps of a small
model, export it, then serve it on 127.0.0.1 with batching on (--max-batch-size 32) and off
(--max-batch-size 1) and run the project's own load test (`make loadtest`: python -m
<package>.serving.loadtest) at concurrency 1, 8 and 32, a fixed number of requests each.
With batching on, a last run of --memory-requests at concurrency 32 measures memory growth.
Prints one table; --out writes the figures as JSON. Goal (issue 13): at concurrency 32,
batching on gives at least 2x the req/s of batching off, and memory grows under 10%.
"""

from __future__ import annotations

import argparse
import json
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
MODEL = ("data.image_size=32", "model.widths=[32,64,128]")  # the default model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--requests", type=int, default=600, help="per concurrency level")
    parser.add_argument("--memory-requests", type=int, default=5000, help="0: no memory run")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    return parser.parse_args(argv)


def exported_project(framework: str, workdir: Path) -> tuple[Project, Path]:
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
    project.module("export", "--checkpoint", str(run))
    return project, run / "export"


def load(project: Project, url: str, requests: int, concurrency: int) -> dict[str, Any]:
    result = project.module(
        "serving.loadtest",
        *("--url", url, "--data", "data/sample", "--json"),
        *("--requests", str(requests), "--concurrency", str(concurrency)),
        timeout=900,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(project: Project, export: Path, batch: int, args: argparse.Namespace) -> list[dict]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = project.popen_module(
        "serve", "--model", str(export), "--port", str(port), "--max-batch-size", str(batch)
    )
    try:
        _wait_ready(url, server)
        load(project, url, 50, 8)  # warm-up, not reported
        rows = [load(project, url, args.requests, c) for c in CONCURRENCY]
        if batch > 1 and args.memory_requests:
            rows.append(load(project, url, args.memory_requests, 32))
    finally:
        stop(server)
    return [{"framework": project.framework, "max_batch_size": batch, **row} for row in rows]


def _wait_ready(url: str, server: Any, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited:\n{stop(server)}")
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server not ready after {timeout} s:\n{stop(server)}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for framework in args.frameworks.split(","):
            project, export = exported_project(framework, Path(tmp))
            for batch in (32, 1):
                rows += measure(project, export, batch, args)
    print(
        "| framework | batching | requests | concurrency | req/s | p50 ms | p99 ms | errors "
        "| memory MB before -> after |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['framework']} | {'on' if r['max_batch_size'] > 1 else 'off'} | {r['requests']} "
            f"| {r['concurrency']} | {r['requests_per_second']} | {r['p50_ms']} | {r['p99_ms']} "
            f"| {r['errors']} | {r['memory_before_mb']} -> {r['memory_after_mb']} |"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
