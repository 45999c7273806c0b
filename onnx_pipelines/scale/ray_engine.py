"""The Ray engine: shards go through Ray Data to a pool of actors, each with its own ONNX Runtime session.

Ray is an optional extra (``pip install 'onnx-pipelines[ray]'``) and is imported only here, only when
the engine is used. The pipeline is ``ray.data.from_items(shards)`` → ``map_batches(ShardPredictor,
compute=ActorPoolStrategy(size=workers), num_cpus=cpus_per_worker)``: one shard per call, so a shard's
length-aware batches are the same as on the local engine. Each actor writes its shard's Parquet file
itself and sends back a one-row summary, so predictions never pass through the driver.

Faults: Ray Data starts actor pools with ``max_restarts=-1`` and ``max_task_retries=-1`` (Ray 2.60,
``ActorPoolMapOperator._apply_default_remote_args``): an actor that dies is restarted and the shard it
held is run again. A shard file is written to a temporary name and renamed, so a redone shard replaces
nothing half-written and the same shard done twice leaves one file.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from typing import Any

from onnx_pipelines.errors import EngineUnavailableError
from onnx_pipelines.scale.shards import Shard

#: Seconds to wait for a TCP connection to a cluster address before saying it cannot be reached.
CONNECT_TIMEOUT_S = 5.0


def require_ray() -> Any:
    """Import Ray (with Ray Data), or say which extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Data is a separate part of the ray package)
    except ImportError as e:
        raise EngineUnavailableError(
            f"engine='ray' needs Ray Data, which is not installed ({e}). Install the extra: "
            "pip install 'onnx-pipelines[ray]' (or use engine='local' / --engine local)."
        ) from e
    return ray


def connect(address: str | None = None) -> Any:
    """Join the Ray cluster at ``address`` (default ``$RAY_ADDRESS``), or start a local one when neither is set.

    A Ray session already started in this process (``ray.init(...)``) is used as it is.

    Raises:
        EngineUnavailableError: Ray is not installed, or the address does not answer.
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    where = f"--address / RAY_ADDRESS {address!r}"
    if address is not None and address not in ("auto", "local"):
        _check_reachable(address, where)
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise EngineUnavailableError(
            f"Could not connect to the Ray cluster at {where}: {e}. Start the cluster (ray start --head) or fix the "
            "address; leave both unset to run on a local Ray started for this job."
        ) from e
    return ray


def _check_reachable(address: str, where: str) -> None:
    # ray.init retries an unreachable address for minutes; a plain TCP probe answers in seconds.
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise EngineUnavailableError(
            f"{where} is not a cluster address: pass HOST:PORT (the head's GCS port, 6379 by default), "
            "ray://HOST:10001 for Ray Client, or 'auto' for the cluster started on this machine."
        )
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        raise EngineUnavailableError(
            f"Could not reach the Ray cluster at {where} ({e}). Check that the head node is running "
            "(ray status on it) and that this machine can reach that port; leave --address and RAY_ADDRESS unset "
            "to run on a local Ray started for this job."
        ) from e


def run_shards(worker_class: type, constructor_args: tuple[Any, ...], shards: Sequence[Shard], *, workers: int,
               cpus_per_worker: int, address: str | None = None) -> Iterator[dict[str, Any]]:
    """Run ``worker_class(*constructor_args)(batch)`` over every shard on a Ray actor pool; yield summaries.

    Args:
        worker_class: A callable class taking a batch of shard descriptors (``index``, ``start``,
            ``stop`` columns) and returning one summary row per shard.
        constructor_args: Arguments of the class (shipped to every actor).
        shards: The shards to run.
        workers: Actors in the pool.
        cpus_per_worker: CPUs Ray reserves for each actor (and its ONNX Runtime threads).
        address: The cluster (default ``$RAY_ADDRESS``, else a local Ray).
    """
    ray = connect(address)
    if not shards:
        return
    quiet_ray_data(ray)
    items = [{"index": s.index, "start": s.start, "stop": s.stop} for s in shards]
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    results = dataset.map_batches(
        worker_class,
        fn_constructor_args=constructor_args,
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus_per_worker,
    )
    for row in results.iter_rows():
        yield {key: _python(value) for key, value in row.items()}


def quiet_ray_data(ray: Any) -> None:
    """Ray Data's own progress output off the terminal: our jobs report progress per shard themselves, and
    Ray Data's progress lines (logged, not drawn, when stderr is no terminal) and start-up notices would bury
    them. Its errors still reach stderr; everything it logs still goes to Ray's session log files."""
    import logging
    import sys

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    for handler in logging.getLogger("ray.data").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stderr, sys.stdout):
            handler.setLevel(logging.ERROR)


def _python(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value

__all__ = ["CONNECT_TIMEOUT_S", "connect", "require_ray", "run_shards"]
