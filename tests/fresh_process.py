"""Run Python code in a fresh interpreter with a fresh Hugging Face cache, for offline-loading tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_fresh_python(code: str, workdir: Path, *, hub_offline: bool) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with ``HF_HOME`` in ``workdir`` and no other ``HF_*`` variables inherited.

    A fresh process matters: ``huggingface_hub``, ``datasets`` and ``evaluate`` read their offline
    switches and cache paths at import.

    Args:
        code: The Python source to run; it can import ``onnx_pipelines`` from this checkout.
        workdir: The working directory; the cache goes in ``workdir / "hf-home"``.
        hub_offline: Whether to set ``HF_HUB_OFFLINE=1``.

    Returns:
        The finished process, with its stdout and stderr as text.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HF_", "HUGGINGFACE_")) and key != "PYTHONPATH"
    }
    env.update(HF_HOME=str(workdir / "hf-home"), PYTHONPATH=str(REPO_ROOT))
    if hub_offline:
        env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
