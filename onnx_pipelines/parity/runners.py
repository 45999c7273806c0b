"""Run the PyTorch reference and the ONNX variants on the same numpy batches, timing only the model calls."""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from onnx_pipelines.errors import ParityError
from onnx_pipelines.parity.report import Timing

Batch = Mapping[str, np.ndarray]
Outputs = dict[str, np.ndarray]


class TorchRunner:
    """The PyTorch reference: ``AutoModelFor...`` in eval mode, fed numpy batches as tensors."""

    def __init__(self, model_path: Path, torch_class: Any, output_names: Sequence[str]) -> None:
        import torch

        self.output_names = tuple(output_names)
        use_safetensors = (model_path / "model.safetensors").is_file() or any(model_path.glob("model-*.safetensors"))
        self.model = torch_class.from_pretrained(model_path, use_safetensors=use_safetensors or None).eval()
        self.model_class = type(self.model).__name__
        self.threads: int | None = torch.get_num_threads()
        # Batches may also carry an adapter's per-row metadata (word ids, offsets): feed only model inputs,
        # as OrtRunner feeds only the inputs the graph declares.
        self.input_names = frozenset(inspect.signature(self.model.forward).parameters)

    def __call__(self, batch: Batch) -> Outputs:
        import torch

        with torch.inference_mode():
            outputs = self.model(**{key: torch.from_numpy(np.ascontiguousarray(value))
                                    for key, value in batch.items() if key in self.input_names})
        missing = [name for name in self.output_names if name not in outputs]
        if missing:
            raise ParityError(f"The PyTorch model {self.model_class} returned no {missing}; outputs: {list(outputs)}.")
        return {name: outputs[name].detach().float().numpy() for name in self.output_names}


class OrtRunner:
    """An ONNX Runtime session, fed the inputs it declares from the same batches."""

    def __init__(self, session: Any, output_names: Sequence[str], threads: int | None = None) -> None:
        self.session = session
        self.output_names = tuple(output_names)
        self.threads = threads
        self.input_names = [i.name for i in session.get_inputs()]
        available = [o.name for o in session.get_outputs()]
        missing = [name for name in self.output_names if name not in available]
        if missing:
            raise ParityError(f"The ONNX graph has no output {missing}; its outputs are {available}.")

    def __call__(self, batch: Batch) -> Outputs:
        feed = {name: np.asarray(batch[name], dtype=np.int64) for name in self.input_names if name in batch}
        missing = [name for name in self.input_names if name not in feed]
        if missing:
            raise ParityError(f"The ONNX graph expects inputs {missing} that the tokenizer does not produce.")
        values = self.session.run(list(self.output_names), feed)
        pairs = zip(self.output_names, values, strict=True)
        return {name: np.asarray(value, dtype=np.float32) for name, value in pairs}


class NamedOutputs:
    """A :class:`~onnx_pipelines.session_runner.ModelRunner` (OpenVINO) called like :class:`OrtRunner`."""

    def __init__(self, runner: Any, output_names: Sequence[str]) -> None:
        self.runner = runner
        self.output_names = tuple(output_names)
        missing = [name for name in self.output_names if name not in runner.output_names]
        if missing:
            raise ParityError(f"The model has no output {missing}; its outputs are {list(runner.output_names)}.")

    def __call__(self, batch: Batch) -> Outputs:
        values = self.runner.run(batch, list(self.output_names))
        return {name: np.asarray(values[name], dtype=np.float32) for name in self.output_names}


def run_batches(runner: Callable[[Batch], Outputs], batches: Sequence[Batch],
                on_batch: Callable[[int, Outputs], None], *, threads: int | None, desc: str,
                progress: bool) -> Timing:
    """Run every batch through ``runner``, handing each result to ``on_batch(batch_number, outputs)``.

    One untimed warm-up call on the shortest batch comes first (lazy allocations, kernel selection);
    then only the model calls are timed, so tokenization (shared by all models) is excluded.
    """
    from tqdm.auto import tqdm

    if not batches:
        return Timing(examples_per_second=0.0, seconds=0.0, batches=0, threads=threads)
    runner(batches[-1])
    total = sum(len(next(iter(batch.values()))) for batch in batches)
    elapsed = 0.0
    with tqdm(total=total, desc=desc, unit="ex", disable=not progress, file=sys.stderr, leave=False) as bar:
        for number, batch in enumerate(batches):
            started = time.perf_counter()
            outputs = runner(batch)
            elapsed += time.perf_counter() - started
            on_batch(number, outputs)
            bar.update(len(next(iter(batch.values()))))
    return Timing(
        examples_per_second=round(total / elapsed, 3) if elapsed > 0 else 0.0,
        seconds=round(elapsed, 4),
        batches=len(batches),
        threads=threads,
    )
