"""ASGI middleware of the server: request metrics, and the request body size limit."""

from __future__ import annotations

import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onnx_pipelines.serving.metrics import ServingMetrics, outcome
from onnx_pipelines.serving.responses import error_response


class MetricsMiddleware:
    """Count every HTTP request by endpoint, status and outcome, and time it.

    Paths outside ``paths`` are counted as ``other``, so random URLs cannot blow up label cardinality.
    """

    def __init__(self, app: ASGIApp, metrics: ServingMetrics, paths: Iterable[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = scope["path"] if scope["path"] in self.paths else "other"
        status = 500  # if the app raises before answering, the server answers 500

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            self.metrics.request_duration.labels(endpoint=endpoint).observe(time.perf_counter() - started)
            self.metrics.requests.labels(endpoint=endpoint, status=str(status), outcome=outcome(status)).inc()


class PayloadLimitMiddleware:
    """Answer 413 to a body over ``max_bytes``, before the app parses any of it.

    A declared ``Content-Length`` over the limit is refused without reading; otherwise the body is
    read up to the limit (chunked uploads included) and handed to the app in one piece.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more_body = True
        while more_body:
            message = await receive()
            if message["type"] != "http.request":  # the client disconnected
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more_body = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            f"The request body is larger than {self.max_bytes} bytes (--max-payload-bytes). "
            "Send fewer or shorter inputs per request.",
            "payload_too_large",
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
