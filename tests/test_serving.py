"""The generated model server as a process, once per framework (image task): its Prometheus
text counts the requests made, and SIGTERM lets a request in flight finish before it exits.
The input limits, batching and overload checks run per task in each project's test_serve.py
(test_generated_projects.py runs those suites).
"""

from __future__ import annotations

import re
import signal
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .harness import (
    FRAMEWORKS,
    Project,
    free_port,
    http,
    quick_overrides,
    request_instances,
    stop,
    wait_for_health,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=FRAMEWORKS)
def exported(request: pytest.FixtureRequest, baked_project) -> tuple[Project, Path]:
    project = baked_project(request.param, "image")
    project.module("data", "sample", "--out", "data/sample")
    project.module("train", *quick_overrides("image", "serving", 2))
    run = project.path / "runs" / "serving"
    project.module("export", "--checkpoint", str(run))
    return project, run / "export"


def serve(project: Project, export: Path, *args: str) -> tuple[Any, str]:
    port = free_port()
    server = project.popen_module("serve", "--model", str(export), "--port", str(port), *args)
    url = f"http://127.0.0.1:{port}"
    wait_for_health(url, server)
    return server, url


def test_metrics_count_the_requests_made(exported: tuple[Project, Path]) -> None:
    project, export = exported
    server, url = serve(project, export)
    try:
        for _ in range(3):
            status, _ = http(f"{url}/predict", {"instances": request_instances(project, 2)})
            assert status == 200
        assert http(f"{url}/predict", {"instances": []})[0] == 422
        metrics = _get(f"{url}/metrics")
    finally:
        stop(server)
    assert _sample(metrics, 'serve_requests_total{path="/predict",status="200"}') == 3
    assert _sample(metrics, 'serve_requests_total{path="/predict",status="422"}') == 1
    assert _sample(metrics, "serve_batch_size_sum") == 6
    assert re.search(r'^serve_model_info\{sha256="[0-9a-f]{64}"', metrics, re.M), metrics


def test_sigterm_lets_a_request_in_flight_finish(exported: tuple[Project, Path]) -> None:
    project, export = exported
    # A request waits up to 1.5 s for others to share its model call: SIGTERM comes meanwhile.
    server, url = serve(project, export, "--max-wait-ms", "1500")
    answers: list[tuple[int, Any]] = []
    body = {"instances": request_instances(project, 1)}
    client = threading.Thread(target=lambda: answers.append(http(f"{url}/predict", body)))
    try:
        client.start()
        time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        client.join(60)
        code = server.wait(60)
    finally:
        output = stop(server)
    assert answers and answers[0][0] == 200, (answers, output)
    assert len(answers[0][1]["predictions"]) == 1
    # uvicorn re-raises SIGTERM once shut down, so the exit is by the signal, after a clean stop.
    assert code == -signal.SIGTERM and "Application shutdown complete" in output, output


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


def _sample(metrics: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", metrics, re.M)
    assert match, f"{name} not in /metrics:\n{metrics}"
    return float(match.group(1))
