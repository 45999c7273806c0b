"""Run a function in a fresh process, so thread pools of PyTorch and ONNX Runtime never share cores.

Measured on a 2-core machine: a PyTorch pipeline took 135 ms per call when interleaved with ONNX Runtime
sessions in one process, and 25 ms alone. Every timing this library reports comes from its own process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def run_isolated(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn(*args, **kwargs)`` in a new (spawned) process and return its result.

    ``fn`` must be importable at module level and its arguments and result picklable. Exceptions raised
    in the child are re-raised here.
    """
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes=1) as pool:
        result = pool.apply(_quiet_call, (fn, *args), kwargs)
        # Let the worker exit on its own: a terminated one leaves its semaphores to the resource tracker,
        # which warns about "leaked semaphore objects" at shutdown.
        pool.close()
        pool.join()
    return result


def _quiet_call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` in the child with third-party noise routed to (the child's) debug logging."""
    from onnx_pipelines.quiet import third_party_quiet

    with third_party_quiet():
        return fn(*args, **kwargs)
