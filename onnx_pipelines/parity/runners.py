"""Run the PyTorch reference and the ONNX variants on the same numpy batches, timing only the model calls.

The runners themselves (:class:`~onnx_pipelines.session_runner.TorchRunner`,
:class:`~onnx_pipelines.session_runner.OrtRunner`) are the library's one way of feeding a model.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from onnx_pipelines.parity.report import Timing
from onnx_pipelines.session_runner import ModelRunner

Batch = Mapping[str, np.ndarray]
Outputs = dict[str, np.ndarray]


def run_batches(runner: ModelRunner, output_names: Sequence[str], batches: Sequence[Batch],
                on_batch: Callable[[int, Outputs], None], *, threads: int | None, desc: str,
                progress: bool) -> Timing:
    """Run every batch through ``runner``, handing each float32 result to ``on_batch(batch_number, outputs)``.

    One untimed warm-up call on the shortest batch comes first (lazy allocations, kernel selection);
    then only the model calls are timed, so tokenization (shared by all models) is excluded.
    """
    from tqdm.auto import tqdm

    if not batches:
        return Timing(examples_per_second=0.0, seconds=0.0, batches=0, threads=threads)
    def call(batch: Batch) -> Outputs:
        return {name: np.asarray(value, dtype=np.float32) for name, value in runner.run(batch, output_names).items()}

    call(batches[-1])
    total = sum(len(next(iter(batch.values()))) for batch in batches)
    elapsed = 0.0
    with tqdm(total=total, desc=desc, unit="ex", disable=not progress, file=sys.stderr, leave=False) as bar:
        for number, batch in enumerate(batches):
            started = time.perf_counter()
            outputs = call(batch)
            elapsed += time.perf_counter() - started
            on_batch(number, outputs)
            bar.update(len(next(iter(batch.values()))))
    return Timing(
        examples_per_second=round(total / elapsed, 3) if elapsed > 0 else 0.0,
        seconds=round(elapsed, 4),
        batches=len(batches),
        threads=threads,
    )
