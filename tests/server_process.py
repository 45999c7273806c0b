"""A real ``python -m onnx_pipelines.serving`` process on a free loopback port, for the end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 300  # the first server of a session may export the model (under a lock, once)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``python -m onnx_pipelines.serving MODEL --task TASK OPTIONS...``, its output in ``log``."""

    def __init__(self, model: Path, task: str, cache: Path, log: Path, *options: str) -> None:
        command = [sys.executable, "-m", "onnx_pipelines.serving", str(model), "--task", task,
                   "--cache-dir", str(cache), "--log-level", "warning", *options]
        self.start(command, log)

    @classmethod
    def from_command(cls, command: list[str], log: Path, env: dict[str, str]) -> ServerProcess:
        """Start ``command`` (which must take a trailing ``--port N``) with ``env`` added to the environment."""
        server = cls.__new__(cls)
        server.start(command, log, env)
        return server

    def start(self, command: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen([*command, "--port", str(self.port)], cwd=REPO, stdout=out,
                                            stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"server not ready after {STARTUP_TIMEOUT_S} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
