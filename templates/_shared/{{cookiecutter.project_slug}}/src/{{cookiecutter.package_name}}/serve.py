"""HTTP JSON API over an exported model, with dynamic batching, limits and Prometheus metrics.

    python -m {{ cookiecutter.package_name }}.serve --model runs/baseline/export --port 8000
    curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"instances": [...]}'

`POST /predict` takes `{"instances": [...]}` and answers `{"predictions": [...]}`. A request
the model cannot take gets a 4xx naming the field and the limit (serving/limits.py); a full
queue a 503 with Retry-After; a request not answered within `--deadline` seconds a 504; a model
output that is not finite a 500. `GET /health` is liveness, `GET /ready` answers 200 once the
model is loaded and warmed up, `GET /metrics` is Prometheus text. One process per container:
scale with replicas (k8s/serve.yaml). On SIGTERM, requests in flight finish before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
{%- if cookiecutter.task == "image" %}
import io
{%- endif %}
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import numpy as np
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
{%- if cookiecutter.task == "image" %}
from PIL import Image
{%- endif %}
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from {{ cookiecutter.package_name }}.data import PREPROCESSOR_FILE, Example, Preprocessor
from {{ cookiecutter.package_name }}.errors import DataError, InvalidInput, UserError, exit_on_user_error
from {{ cookiecutter.package_name }}.inference import load_predictor
from {{ cookiecutter.package_name }}.quiet import add_verbose_argument
from {{ cookiecutter.package_name }}.serving.batching import Batcher, Overloaded
{%- if cookiecutter.task == "image" %}
from {{ cookiecutter.package_name }}.serving.limits import (
    MAX_IMAGE_PIXELS,
    Rejected,
    instances_of,
    parse_json,
    read_body,
)
{%- else %}
from {{ cookiecutter.package_name }}.serving.limits import Rejected, instances_of, parse_json, read_body
{%- endif %}
from {{ cookiecutter.package_name }}.serving.metrics import ServerMetrics

access_log = logging.getLogger("{{ cookiecutter.package_name }}.access")
KNOWN_PATHS = {"/health", "/ready", "/metrics", "/predict"}  # metric labels; others: "other"


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # Linux: the cores this process may run on
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class ServeOptions:
    max_batch_size: int = 32
    max_wait: float = 0.005
    queue_size: int = 256
    deadline: float = 10.0
    threads: int = field(default_factory=_usable_cores)
    unknown_categories: Literal["reject", "oov"] = "reject"


class Observe:
    """ASGI middleware: request counts and latency in the metrics, one JSON access log line."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_observe)
        finally:
            seconds = time.perf_counter() - start
            path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
            self.metrics.requests.labels(path, str(status)).inc()
            self.metrics.latency.labels(path).observe(seconds)
            client = scope.get("client")
            record = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "ms": round(seconds * 1000, 2),
                "client": client[0] if client else None,
            }
            access_log.info(json.dumps(record))


def create_app(model_dir: Path, options: ServeOptions | None = None) -> FastAPI:
    """The API over `model_dir`, an export directory holding the model and preprocessor.json."""
    options = options or ServeOptions()
    if not (model_dir / PREPROCESSOR_FILE).is_file():
        raise UserError(f"{model_dir} is not an export directory (no {PREPROCESSOR_FILE})")
    metrics = ServerMetrics()
    started = time.perf_counter()
    preprocessor = Preprocessor.load(model_dir / PREPROCESSOR_FILE)
{%- if cookiecutter._framework == "jax" %}
    predict = load_predictor(model_dir)
{%- else %}
    predict = load_predictor(model_dir, threads=options.threads)
{%- endif %}
    batcher = Batcher(
        predict,
        options.max_batch_size,
        options.max_wait,
        options.queue_size,
        on_batch=metrics.batch_size.observe,
    )
    metrics.queue_depth.set_function(lambda: batcher.depth)
    model_hash = _digest(model_dir)
    metrics.model.info({"sha256": model_hash, "task": "{{ cookiecutter.task }}"})
    prepare_limiter = anyio.CapacityLimiter(options.threads)
    ready = False

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal ready
        await batcher.start()
        await _warm_up(batcher, preprocessor)
        metrics.model_load.set(time.perf_counter() - started)
        ready = True
        yield
        ready = False
        await batcher.stop()

    app = FastAPI(title="{{ cookiecutter.project_name }}", lifespan=lifespan)
    app.add_middleware(Observe, metrics=metrics)

    @app.exception_handler(Rejected)
    async def rejected(request: Request, error: Rejected) -> JSONResponse:
        return JSONResponse({"detail": error.detail}, error.status, headers=error.headers)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "task": "{{ cookiecutter.task }}",
            "objective": preprocessor.objective,
            "inputs": {name: list(shape) for name, (shape, _) in preprocessor.input_spec.items()},
            "model_sha256": model_hash,
        }

    @app.get("/ready")
    def ready_endpoint() -> JSONResponse:
        return JSONResponse({"ready": ready}, 200 if ready else 503)

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.post("/predict")
    async def predict_endpoint(request: Request) -> JSONResponse:
        async def inputs() -> dict[str, np.ndarray]:
            body = await read_body(request)
            return await anyio.to_thread.run_sync(
                _prepare, preprocessor, body, options, limiter=prepare_limiter
            )

        try:
            outputs = await asyncio.wait_for(batcher.predict(inputs()), options.deadline)
        except Overloaded:
            raise Rejected(503, "server busy: queue full", {"Retry-After": "1"}) from None
        except TimeoutError:
            raise Rejected(504, f"deadline: not answered within {options.deadline} s") from None
        if bad := [i for i, row in enumerate(outputs) if not np.all(np.isfinite(row))]:
            raise Rejected(500, f"model output: not finite for instance {bad[0]}")
        return JSONResponse({"predictions": preprocessor.describe_outputs(outputs)})

    return app


def _prepare(
    preprocessor: Preprocessor, body: bytes, options: ServeOptions
) -> dict[str, np.ndarray]:
    """Parse, check and encode a request body (in a worker thread: images decode here)."""
    instances = instances_of(parse_json(body))
    try:
        examples = preprocessor.parse_instances(instances)
{%- if cookiecutter.task == "image" %}
    except Image.DecompressionBombError:
        raise Rejected(422, f"image: more than {MAX_IMAGE_PIXELS} pixels") from None
{%- endif %}
    except InvalidInput as error:
        raise Rejected(422, str(error)) from None
    _check(preprocessor, examples, options)
    try:
        inputs = preprocessor.encode(examples)
    except (DataError, InvalidInput) as error:
        raise Rejected(422, str(error)) from None
    for name, array in inputs.items():
        finite = np.isfinite(array.reshape(len(array), -1)).all(axis=1)
        if not finite.all():
            index = int(np.argmin(finite))
            raise Rejected(422, f"instance {index}: input {name!r} out of range once encoded")
    return inputs


def _check(preprocessor: Preprocessor, examples: list[Example], options: ServeOptions) -> None:
{%- if cookiecutter.task == "image" %}
    for i, example in enumerate(examples):
        with Image.open(io.BytesIO(example.image)) as image:
            width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise Rejected(
                422, f"instance {i}: image is {width}x{height}, at most {MAX_IMAGE_PIXELS} pixels"
            )
{%- elif cookiecutter.task == "text" %}
    for i, example in enumerate(examples):
        if not preprocessor.tokenizer.tokens(example.text):
            raise Rejected(422, f"instance {i}: 'text' has no words")
{%- else %}
    if options.unknown_categories == "oov":
        return
    for i, example in enumerate(examples):
        for column in preprocessor.categorical:
            value = example.features[column]
            if not preprocessor.is_known(column, value):
                raise Rejected(
                    422,
                    f"instance {i}: feature {column!r}: unknown category {value!r} "
                    "(serve with --unknown-categories oov to accept it as out-of-vocabulary)",
                )
{%- endif %}


async def _warm_up(batcher: Batcher, preprocessor: Preprocessor) -> None:
    """One model call per power-of-two batch size, so the first requests pay no compilation."""
    size = 1
    while size <= batcher.max_batch_size:
        await batcher.run_model(
            {
                name: np.zeros((size, *shape), dtype)
                for name, (shape, dtype) in preprocessor.input_spec.items()
            }
        )
        size *= 2


def _digest(model_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(model_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    defaults = ServeOptions()
    parser = argparse.ArgumentParser(description="Serve an exported model over HTTP.")
    parser.add_argument(
        "--model", type=Path, required=True, help="export directory: runs/<run>/export"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind; 0.0.0.0 in a container"
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=defaults.max_batch_size,
        help="instances per model call; 1 turns batching off",
    )
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=defaults.max_wait * 1000,
        help="how long a request waits for others to share its model call",
    )
    parser.add_argument(
        "--queue-size",
        type=int,
        default=defaults.queue_size,
        help="requests waiting for the model; more are answered 503",
    )
    parser.add_argument(
        "--deadline", type=float, default=defaults.deadline, help="seconds before a 504"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=defaults.threads,
        help="CPU threads of the model, and of request decoding",
    )
    parser.add_argument(
        "--unknown-categories",
        choices=["reject", "oov"],
        default=defaults.unknown_categories,
        help="tabular: a category unseen in training is a 422 (reject) or out-of-vocabulary",
    )
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    if args.max_batch_size < 1 or args.queue_size < 1 or args.deadline <= 0 or args.threads < 1:
        raise UserError("--max-batch-size, --queue-size, --deadline and --threads must be positive")
    options = ServeOptions(
        max_batch_size=args.max_batch_size,
        max_wait=args.max_wait_ms / 1000,
        queue_size=args.queue_size,
        deadline=args.deadline,
        threads=args.threads,
        unknown_categories=args.unknown_categories,
    )
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app = create_app(args.model, options)
    # On SIGTERM uvicorn stops accepting, lets requests in flight finish, then stops the batcher.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=False,
        timeout_graceful_shutdown=int(options.deadline) + 5,
    )


if __name__ == "__main__":
    main()
