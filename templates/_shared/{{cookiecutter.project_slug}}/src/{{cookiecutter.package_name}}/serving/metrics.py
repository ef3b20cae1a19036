"""Prometheus metrics of one server, in a registry of its own (GET /metrics renders it)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServerMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes, cpu seconds
        self.requests = Counter(
            "serve_requests",
            "HTTP requests by path and status",
            ["path", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "serve_request_seconds",
            "time to answer a request",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "serve_batch_size",
            "instances per model call",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "serve_queue_depth", "requests waiting for the model", registry=self.registry
        )
        self.model_load = Gauge(
            "serve_model_load_seconds",
            "time to load and warm up the model",
            registry=self.registry,
        )
        self.model = Info("serve_model", "the model being served", registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
