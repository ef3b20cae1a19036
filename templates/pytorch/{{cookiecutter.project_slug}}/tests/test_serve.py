"""The server's contract: valid requests answered, every bad one a 4xx naming the problem."""

{% if cookiecutter.task == "image" -%}
import base64
import io
import json
import socket
import struct
import threading
import time
import zlib
{%- else -%}
import json
import socket
import threading
import time
{%- endif %}
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient
{%- if cookiecutter.task == "image" %}
from PIL import Image
{%- endif %}
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }} import serve
from {{ cookiecutter.package_name }}.config import Config
{%- if cookiecutter.task == "text" %}
from {{ cookiecutter.package_name }}.data.text import MAX_TEXT_CHARS
{%- endif %}
from {{ cookiecutter.package_name }}.serve import ServeOptions, create_app
from {{ cookiecutter.package_name }}.serving.limits import MAX_BODY_BYTES, MAX_INSTANCES
from {{ cookiecutter.package_name }}.serving.loadtest import run_load, sample_instances

# Batches of up to 8: the warm-up compiles fewer batch sizes (JAX) for each app made here.
OPTIONS = ServeOptions(max_batch_size=8)


@pytest.fixture(scope="module")
def client(export_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(export_dir, OPTIONS)) as client:
        yield client


def valid_instances(config: Config, count: int) -> list[Any]:
    return sample_instances(config.data, count)


def metric_samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def concurrently(count: int, call: Callable[[], Any]) -> list[Any]:
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_health_and_ready(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert len(response.json()["model_sha256"]) == 64
    assert client.get("/ready").json() == {"ready": True}


def test_predict_answers_valid_instances(client: TestClient, tiny_config: Config) -> None:
    response = client.post("/predict", json={"instances": valid_instances(tiny_config, 3)})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == 3
    assert all("label" in p or "value" in p for p in predictions)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"instances": []}, "instances"),
        ({"inputs": [1]}, "body"),
        ({"instances": [{"unexpected": True}]}, "instance 0"),
        ({"instances": [None] * (MAX_INSTANCES + 1)}, f"at most {MAX_INSTANCES}"),
        ({"instances": [[[[[[[[[1]]]]]]]]]}, "nested"),
    ],
)
def test_predict_rejects_malformed_bodies(client: TestClient, body: dict, field: str) -> None:
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert field in response.json()["detail"]


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"instances": [NaN]}',
        b'{"instances": [Infinity]}',
        b'{"instances": [-Infinity]}',
        b'{"instances": [1e400]}',
        b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_predict_rejects_invalid_json_numbers_and_nesting(client: TestClient, raw: bytes) -> None:
    headers = {"content-type": "application/json"}
    response = client.post("/predict", content=raw, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body:")


def test_predict_rejects_large_bodies_chunked_or_not(client: TestClient) -> None:
    chunk = b" " * (1024 * 1024)
    chunks = (MAX_BODY_BYTES // len(chunk)) + 2

    def chunked() -> Iterator[bytes]:
        for _ in range(chunks):
            yield chunk

    response = client.post("/predict", content=chunked())
    assert response.status_code == 413
    assert "body" in response.json()["detail"]
    response = client.post("/predict", content=chunk * chunks)
    assert response.status_code == 413
{%- if cookiecutter.task == "image" %}


def png_with_size(width: int, height: int) -> str:
    """A PNG whose header claims width x height (its pixel data is a stub)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    data += chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("side", [5000, 20000])
def test_predict_rejects_huge_images_before_decoding(client: TestClient, side: int) -> None:
    response = client.post("/predict", json={"instances": [png_with_size(side, side)]})
    assert response.status_code == 422
    assert "pixels" in response.json()["detail"]


def test_predict_rejects_a_corrupt_image(client: TestClient) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 30)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[len(data) // 2] ^= 0xFF
    response = client.post("/predict", json={"instances": [base64.b64encode(data).decode()]})
    assert response.status_code == 422
    assert "instance 0" in response.json()["detail"]
{%- elif cookiecutter.task == "text" %}


@pytest.mark.parametrize("text", ["", "   \n"])
def test_predict_rejects_text_without_words(client: TestClient, text: str) -> None:
    response = client.post("/predict", json={"instances": [{"text": text}]})
    assert response.status_code == 422
    assert "instance 0" in response.json()["detail"]


def test_predict_rejects_text_over_the_length_limit(client: TestClient) -> None:
    text = "word " * (MAX_TEXT_CHARS // 5 + 1)
    response = client.post("/predict", json={"instances": [{"text": "fine"}, {"text": text}]})
    assert response.status_code == 422
    assert "instance 1" in response.json()["detail"]
    assert str(MAX_TEXT_CHARS) in response.json()["detail"]
{%- else %}


def test_predict_rejects_numbers_out_of_the_models_range(
    client: TestClient, tiny_config: Config
) -> None:
    instance = valid_instances(tiny_config, 1)[0]
    column = next(name for name, value in instance.items() if isinstance(value, float))
    response = client.post("/predict", json={"instances": [{**instance, column: 1e308}]})
    assert response.status_code == 422
    assert "out of range" in response.json()["detail"]


def test_unknown_categories_are_rejected_unless_mapped_to_oov(
    client: TestClient, export_dir: Path, tiny_config: Config
) -> None:
    instance = valid_instances(tiny_config, 1)[0]
    column = next(name for name, value in instance.items() if isinstance(value, str))
    body = {"instances": [{**instance, column: "never seen in training"}]}
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert column in response.json()["detail"] and "unknown category" in response.json()["detail"]
    options = ServeOptions(max_batch_size=8, unknown_categories="oov")
    with TestClient(create_app(export_dir, options)) as oov:
        assert oov.post("/predict", json=body).status_code == 200
{%- endif %}


def test_metrics_count_requests_by_status(export_dir: Path, tiny_config: Config) -> None:
    with TestClient(create_app(export_dir, OPTIONS)) as client:
        for _ in range(3):
            client.post("/predict", json={"instances": valid_instances(tiny_config, 2)})
        client.post("/predict", json={"instances": []})
        samples = metric_samples(client)
    assert samples[("serve_requests_total", (("path", "/predict"), ("status", "200")))] == 3
    assert samples[("serve_requests_total", (("path", "/predict"), ("status", "422")))] == 1
    assert samples[("serve_batch_size_sum", ())] == 6
    assert samples[("serve_model_load_seconds", ())] > 0
    assert samples[("serve_request_seconds_count", (("path", "/predict"),))] == 4


def test_concurrent_requests_share_model_calls(export_dir: Path, tiny_config: Config) -> None:
    instances = valid_instances(tiny_config, 1)
    options = ServeOptions(max_batch_size=8, max_wait=0.2)
    with TestClient(create_app(export_dir, options)) as client:
        responses = concurrently(8, lambda: client.post("/predict", json={"instances": instances}))
        samples = metric_samples(client)
    assert [r.status_code for r in responses] == [200] * 8
    assert samples[("serve_batch_size_sum", ())] == 8
    assert samples[("serve_batch_size_count", ())] < 8


def test_a_full_queue_answers_503_and_a_late_request_504(
    export_dir: Path, tiny_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    load = serve.load_predictor

    def slow_predictor(*args: Any, **kwargs: Any) -> Callable[..., np.ndarray]:
        predict = load(*args, **kwargs)

        def slow(inputs: dict[str, np.ndarray]) -> np.ndarray:
            if len(next(iter(inputs.values()))) == 1:
                time.sleep(0.5)
            return predict(inputs)

        return slow

    monkeypatch.setattr(serve, "load_predictor", slow_predictor)
    body = {"instances": valid_instances(tiny_config, 1)}
    options = ServeOptions(max_batch_size=1, queue_size=1, deadline=0.8)
    with TestClient(create_app(export_dir, options)) as client:
        responses = concurrently(4, lambda: client.post("/predict", json=body))
    assert sorted(r.status_code for r in responses) == [200, 503, 503, 504]
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["retry-after"] == "1"


def test_a_non_finite_model_output_is_a_500(
    export_dir: Path, tiny_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    load = serve.load_predictor

    def nan_predictor(*args: Any, **kwargs: Any) -> Callable[..., np.ndarray]:
        predict = load(*args, **kwargs)
        return lambda inputs: predict(inputs) * np.nan

    monkeypatch.setattr(serve, "load_predictor", nan_predictor)
    with TestClient(create_app(export_dir, OPTIONS)) as client:
        response = client.post("/predict", json={"instances": valid_instances(tiny_config, 1)})
    assert response.status_code == 500
    assert "not finite" in response.json()["detail"]


@pytest.fixture
def live_server(export_dir: Path) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(export_dir, OPTIONS)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join()


def test_load_test_reports_a_bounded_run(live_server: str, tiny_config: Config) -> None:
    bodies = [json.dumps({"instances": [i]}).encode() for i in valid_instances(tiny_config, 4)]
    result = run_load(live_server, bodies, requests=48, concurrency=8)
    assert result.errors == 0
    assert result.requests_per_second > 0 and result.p50_ms <= result.p99_ms
    assert result.memory_after_mb > 0 and result.server_cpu_ms_per_request > 0
