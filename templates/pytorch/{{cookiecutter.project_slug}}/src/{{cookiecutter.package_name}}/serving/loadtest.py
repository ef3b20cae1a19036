"""A bounded load on a local server: a fixed number of requests at a fixed concurrency.

    python -m {{ cookiecutter.package_name }}.serving.loadtest --requests 2000 --concurrency 32

Prints requests/s, p50/p95/p99 latency, the error count, the server's resident memory before
and after, and the server's CPU time per request (both from its /metrics; CPU time, unlike
requests/s, does not change with other load on the machine). It only targets loopback
addresses and stops by itself.
"""

from __future__ import annotations

import argparse
{%- if cookiecutter.task == "image" %}
import base64
{%- endif %}
import http.client
import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from {{ cookiecutter.package_name }}.config import DataConfig, load_config
from {{ cookiecutter.package_name }}.data import load_split
from {{ cookiecutter.package_name }}.errors import UserError, exit_on_user_error

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_REQUESTS = 100_000


@dataclass(frozen=True)
class LoadResult:
    requests: int
    concurrency: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    memory_before_mb: float
    memory_after_mb: float
    server_cpu_ms_per_request: float

    def summary(self) -> str:
        return (
            f"{self.requests} requests, concurrency {self.concurrency}: "
            f"{self.requests_per_second:.1f} req/s, p50 {self.p50_ms:.1f} ms, "
            f"p95 {self.p95_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, {self.errors} errors, "
            f"server memory {self.memory_before_mb:.0f} -> {self.memory_after_mb:.0f} MB, "
            f"server CPU {self.server_cpu_ms_per_request:.2f} ms/request"
        )


def sample_instances(config: DataConfig, count: int) -> list[Any]:
    """Valid /predict instances: the first `count` examples of the validation split."""
    examples = load_split(config, "val")[:count]
{%- if cookiecutter.task == "image" %}
    return [{"image": base64.b64encode(e.image.read_bytes()).decode()} for e in examples]
{%- elif cookiecutter.task == "text" %}
    return [{"text": e.text} for e in examples]
{%- else %}

    def value(text: str) -> Any:
        try:
            return float(text)
        except ValueError:
            return text

    return [{name: value(text) for name, text in e.features.items()} for e in examples]
{%- endif %}


def run_load(
    url: str, bodies: list[bytes], requests: int, concurrency: int, timeout: float = 60
) -> LoadResult:
    """Send `requests` POST /predict (cycling through `bodies`) from `concurrency` connections."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    if host not in LOOPBACK:
        raise UserError(f"--url {url}: the load test only targets loopback (127.0.0.1)")
    if not 1 <= requests <= MAX_REQUESTS or not 1 <= concurrency <= requests:
        raise UserError(f"--requests 1..{MAX_REQUESTS} and --concurrency 1..requests")
    latencies: list[float] = []
    errors = 0
    next_index = iter(range(requests))
    lock = threading.Lock()

    def worker() -> None:
        nonlocal errors
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        headers = {"content-type": "application/json"}
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                break
            start = time.perf_counter()
            try:
                connection.request("POST", "/predict", bodies[index % len(bodies)], headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                connection.close()
                ok = False
            with lock:
                latencies.append(time.perf_counter() - start)
                errors += not ok
        connection.close()

    memory_before, cpu_before = server_usage(host, port)
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    p50, p95, p99 = np.percentile(np.array(latencies) * 1000, [50, 95, 99])
    memory_after, cpu_after = server_usage(host, port)
    return LoadResult(
        requests,
        concurrency,
        round(seconds, 3),
        round(requests / seconds, 1),
        round(float(p50), 2),
        round(float(p95), 2),
        round(float(p99), 2),
        errors,
        memory_before,
        memory_after,
        round((cpu_after - cpu_before) * 1000 / requests, 3),
    )


def server_usage(host: str, port: int) -> tuple[float, float]:
    """The server's resident memory in MB and CPU seconds so far, from its /metrics."""
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    values = dict(line.split()[:2] for line in text.splitlines() if line.startswith("process_"))
    memory = float(values.get("process_resident_memory_bytes", "nan")) / 2**20
    return round(memory, 1), float(values.get("process_cpu_seconds_total", "nan"))


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A bounded load test of a local server.")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="loopback only")
    parser.add_argument("--data", type=Path, default=Path("data/sample"), help="its val split")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--instances", type=int, default=1, help="instances per request")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    config = load_config(overrides=[f"data.path={args.data}"]).data
    instances = sample_instances(config, 64)
    count = args.instances
    bodies = [
        json.dumps({"instances": (instances * count)[i : i + count]}).encode()
        for i in range(len(instances))
    ]
    result = run_load(args.url, bodies, args.requests, args.concurrency)
    print(json.dumps(asdict(result)) if args.json else result.summary())


if __name__ == "__main__":
    main()
