"""Run an app under uvicorn, with a graceful shutdown that ends the process with status 0."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

_HANDLED = (signal.SIGINT, signal.SIGTERM)


def run_server(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    graceful_timeout_s: int = 30,
    log_level: str = "info",
) -> int:
    """Serve ``app`` until SIGTERM or SIGINT, then shut down gracefully.

    On the signal uvicorn stops accepting connections, lets in-flight requests finish (at most
    ``graceful_timeout_s`` seconds), then runs the app's lifespan shutdown, which drains the batcher.

    Args:
        app: The ASGI app, e.g. from :func:`onnx_pipelines.serving.create_app`.
        host: Interface to bind; ``0.0.0.0`` to accept connections from other machines.
        port: TCP port.
        graceful_timeout_s: Longest wait for in-flight requests after the signal.
        log_level: uvicorn log level.

    Returns:
        0 after a clean shutdown, 1 if the app failed to start.
    """
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=graceful_timeout_s,
        lifespan="on",
    )
    server = uvicorn.Server(config)

    def after_uvicorn(signum: int, frame: FrameType | None) -> None:
        # uvicorn handles the signal while it serves, then raises it again once it has shut down so
        # that the previous handler runs; under the default handler a clean SIGTERM shutdown would
        # end with status 143. The work is done by then, so return normally.
        if server.should_exit:
            return
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    # Signal handlers can only be set from the main thread (and uvicorn then handles none either).
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, after_uvicorn) for sig in _HANDLED} if on_main_thread else {}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if server.started else 1
