"""Prometheus metrics of one app, in a registry of its own so several apps can share a process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_TOKENS = (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)


def outcome(status: int) -> str:
    """Group a status code: ``success`` (2xx/3xx), ``rejected`` (4xx but 424), ``failed`` (424, 5xx)."""
    if status < 400:
        return "success"
    if status == 424 or status >= 500:
        return "failed"
    return "rejected"


class ServingMetrics:
    """The counters, gauges and histograms the server updates, and their text exposition.

    Example:
        >>> m = ServingMetrics()
        >>> m.requests.labels(endpoint="/predict", status="200", outcome="success").inc()
        >>> b"onnx_pipelines_requests_total" in m.exposition()
        True
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "onnx_pipelines_requests",
            "HTTP requests answered, by endpoint, status code and outcome (success, rejected, failed).",
            ["endpoint", "status", "outcome"],
            registry=r,
        )
        self.request_duration = Histogram(
            "onnx_pipelines_request_duration_seconds",
            "Time from request received to response sent.",
            ["endpoint"],
            buckets=_SECONDS,
            registry=r,
        )
        self.in_progress = Gauge(
            "onnx_pipelines_requests_in_progress",
            "Task requests being handled (validated, queued or running).",
            ["endpoint"],
            registry=r,
        )
        self.queue_duration = Histogram(
            "onnx_pipelines_queue_duration_seconds",
            "Time a request waited in the queue before its first input entered a batch.",
            buckets=_SECONDS,
            registry=r,
        )
        self.inference_duration = Histogram(
            "onnx_pipelines_inference_duration_seconds",
            "Time of one pipeline call (one batch).",
            buckets=_SECONDS,
            registry=r,
        )
        self.batch_size = Histogram(
            "onnx_pipelines_batch_size", "Inputs per pipeline call.", buckets=_SIZES, registry=r
        )
        self.batch_tokens = Histogram(
            "onnx_pipelines_batch_tokens",
            "Padded tokens per pipeline call (inputs x longest input).",
            buckets=_TOKENS,
            registry=r,
        )
        self.queue_size = Gauge("onnx_pipelines_queue_size", "Requests waiting for the model.", registry=r)
        self.inference_errors = Counter(
            "onnx_pipelines_inference_errors", "Pipeline calls that raised.", registry=r
        )

    def exposition(self) -> bytes:
        """Return the metrics in the Prometheus text format."""
        return generate_latest(self.registry)
