"""One worker of a sharded job: opens its own session from the built artifact, predicts whole shards.

The same :class:`ShardPredictor` runs in-process for the local engine and as the callable class of a
Ray actor pool for the Ray engine, so both engines read the same rows, cut the same length-aware
batches inside each shard (:func:`~onnx_pipelines.pipelines.dataset_prediction.predict_dataset`) and
write the same files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from onnx_pipelines.scale.shards import Shard, write_shard

if TYPE_CHECKING:
    from onnx_pipelines.scale.job_spec import PredictJob

#: The column holding each row's position in the input (sort by it to restore the input order).
ROW_COLUMN = "row"
#: The column holding the pipeline's output for the row.
PREDICTION_COLUMN = "prediction"


def open_job_pipeline(job: PredictJob) -> Any:
    """The job's pipeline on its artifact, with ``job.threads`` intra-op threads and one inter-op thread.

    ONNX Runtime sizes its own thread pools and ignores ``OMP_NUM_THREADS``, so the session is told how
    many cores its worker was given.
    """
    from onnx_pipelines.cache import Artifact, read_manifest
    from onnx_pipelines.pipeline import open_pipeline

    folder = Path(job.artifact_path)
    artifact = Artifact(folder, job.model_file, read_manifest(folder) or {}, built=False)
    runtime = replace(job.request.runtime, intra_op_threads=job.threads, inter_op_threads=1)
    return open_pipeline(replace(job.request, runtime=runtime), artifact)


class ShardPredictor:
    """Predicts whole shards of a job's input and writes each as one Parquet file.

    Args:
        job: The resolved job (picklable: Ray ships it to every actor).

    Example:
        >>> worker = ShardPredictor(job)  # doctest: +SKIP
        >>> worker.predict_shard(Shard(0, 0, 1000))  # doctest: +SKIP
        {'shard': 0, 'rows': 1000, 'seconds': 12.5, 'pid': 4242}
    """

    def __init__(self, job: PredictJob) -> None:
        self.job = job
        self.pipe = open_job_pipeline(job)
        self.rows = job.data.load()  # memory-mapped Arrow: shards are read without loading the whole input

    def predict_shard(self, shard: Shard) -> dict[str, Any]:
        """Predict rows ``shard.start``-``shard.stop`` and write ``part-NNNNN.parquet``; returns a summary."""
        import pyarrow as pa

        started = time.perf_counter()
        rows = self.rows.select(range(shard.start, shard.stop))
        items = self.job.data.items(rows)
        outputs = self.pipe.predict_dataset(
            items, max_batch_size=self.job.batch_size, max_tokens=self.job.max_tokens, **self.job.call_options)
        columns: dict[str, Any] = {ROW_COLUMN: pa.array(np.arange(shard.start, shard.stop, dtype=np.int64))}
        if self.job.data.id_column is not None:
            columns[self.job.data.id_column] = pa.array(rows[self.job.data.id_column])
        columns[PREDICTION_COLUMN] = to_arrow(outputs)
        write_shard(Path(self.job.output), shard, pa.table(columns))
        return {"shard": shard.index, "rows": shard.rows, "seconds": time.perf_counter() - started,
                "pid": os.getpid()}

    def __call__(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ray ``map_batches`` entry: ``batch`` holds shard descriptors (``index``, ``start``, ``stop``)."""
        summaries = [self.predict_shard(Shard(int(i), int(a), int(b)))
                     for i, a, b in zip(batch["index"], batch["start"], batch["stop"], strict=True)]
        return {key: np.array([s[key] for s in summaries]) for key in ("shard", "rows", "seconds", "pid")}


def to_arrow(outputs: Sequence[Any] | np.ndarray) -> Any:
    """Pipeline outputs as one Arrow column: arrays as fixed-size float lists, dicts as structs."""
    import pyarrow as pa

    if isinstance(outputs, np.ndarray):  # (n, dim) sentence embeddings
        values = np.ascontiguousarray(outputs, dtype=np.float32)
        return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])
    return pa.array([_plain(o) for o in outputs])


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python values (Arrow infers struct and list types from them)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


__all__ = ["PREDICTION_COLUMN", "ROW_COLUMN", "ShardPredictor", "open_job_pipeline", "to_arrow"]
