"""The generated model server as a process, once per framework (image task): its Prometheus
text counts the requests made, SIGTERM lets a request in flight finish before it exits, and its
serving image (Dockerfile.serve) builds, runs as a non-root user and answers /predict; that
check needs a Docker daemon with the base image (python:<version>-slim) present locally.
The input limits, batching and overload checks run per task in each project's test_serve.py
(test_generated_projects.py runs those suites).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from http.client import HTTPConnection
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
# Only the format each server loads: test_generated_projects checks every format.
SERVED_FORMAT = {
    "pytorch": ("--format", "onnx"),
    "tensorflow": ("--format",),  # the SavedModel alone
    "jax": ("--format", "stablehlo"),
}


@pytest.fixture(scope="module", params=FRAMEWORKS)
def exported(request: pytest.FixtureRequest, baked_project) -> tuple[Project, Path]:
    project = baked_project(request.param, "image")
    project.module("data", "sample", "--out", "data/sample")
    project.module("train", *quick_overrides("image", "serving", 2))
    run = project.path / "runs" / "serving"
    project.module("export", "--checkpoint", str(run), *SERVED_FORMAT[project.framework])
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
    server, url = serve(project, export)
    body = json.dumps({"instances": request_instances(project, 1)}).encode()
    connection = HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=60)
    try:
        # Half the body, SIGTERM, then the rest: the request is in flight when the signal comes.
        connection.putrequest("POST", "/predict")
        connection.putheader("content-type", "application/json")
        connection.putheader("content-length", str(len(body)))
        connection.endheaders(body[: len(body) // 2])
        time.sleep(1)
        server.send_signal(signal.SIGTERM)
        time.sleep(1)
        connection.send(body[len(body) // 2 :])
        response = connection.getresponse()
        answer = json.loads(response.read())
        code = server.wait(60)
    finally:
        connection.close()
        output = stop(server)
    assert response.status == 200 and len(answer["predictions"]) == 1, (answer, output)
    # uvicorn re-raises SIGTERM once shut down, so the exit is by the signal, after a clean stop.
    assert code == -signal.SIGTERM and "Application shutdown complete" in output, output


def test_serving_image_answers_from_the_container(exported: tuple[Project, Path]) -> None:
    project, export = exported
    base = re.search(r"^FROM (\S+)", (project.path / "Dockerfile.serve").read_text(), re.M)
    assert base, "Dockerfile.serve has no FROM line"
    if _docker("image", "inspect", base.group(1), check=False).returncode:
        reason = f"needs a Docker daemon and the image {base.group(1)} (tools/docker_base.sh)"
        if os.environ.get("CI"):  # .ci/run provides both
            pytest.fail(reason)
        pytest.skip(reason)
    tag = f"dlstart-test-serve:{project.framework}"
    _docker(
        "build",
        "--network",
        "host",
        "-q",
        "-f",
        "Dockerfile.serve",
        "-t",
        tag,
        ".",
        cwd=project.path,
    )
    port = free_port()
    mount = f"{export}:/model:ro"
    container = _docker(
        "run", "-d", "-p", f"127.0.0.1:{port}:8000", "-v", mount, tag
    ).stdout.strip()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(url, container)
        status, body = http(f"{url}/predict", {"instances": request_instances(project, 2)})
        assert status == 200 and len(body["predictions"]) == 2, body
        assert _docker("exec", container, "id", "-u").stdout.strip() != "0"
        if project.framework == "pytorch":  # served by ONNX Runtime alone
            assert _docker(
                "exec", container, "python", "-c", "import torch", check=False
            ).returncode
    finally:
        _docker("rm", "-f", container, check=False)


def _docker(*args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], cwd=cwd, capture_output=True, text=True, timeout=900)
    assert not check or result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _wait_until_ready(url: str, container: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if http(f"{url}/ready")[0] == 200:
                return
        time.sleep(1)
    logs = _docker("logs", container, check=False)
    raise AssertionError(f"container not ready:\n{logs.stdout}{logs.stderr}")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


def _sample(metrics: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", metrics, re.M)
    assert match, f"{name} not in /metrics:\n{metrics}"
    return float(match.group(1))
