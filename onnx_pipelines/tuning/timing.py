"""Time one ``tune`` candidate beside the PyTorch pipeline, each in its own measurement process.

The benchmark's worker (:mod:`onnx_pipelines.benchmark.worker`) runs each pipeline in a spawned process that
waits idle on its pipe while the other one is measured. One PyTorch process lives for the whole search; each
candidate gets a fresh process, and the two take turns (order alternating every round) on the same text, so
the candidate's speed-up is a ratio from the same minutes of the same machine, as ``bench`` reports them.

What is measured (:class:`TimingSettings`): latency of one text of ``seq_len`` tokens at batch 1 (the issue's
"batch 1 / 128 tokens"), and the time of one batch of ``batch_size`` copies of it (throughput).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from onnx_pipelines.benchmark.candidates import PYTORCH, Candidate, CandidateKind, PreparedCandidate, recipe_candidate
from onnx_pipelines.errors import InvalidConfigError


@dataclass(frozen=True)
class TimingSettings:
    """How each candidate is timed.

    Attributes:
        seq_len: Tokens of the timed text (special tokens included).
        batch_size: Copies of the text per call for the throughput figure.
        rounds: Alternating rounds (PyTorch, candidate / candidate, PyTorch, ...).
        repeats: Timed batch-1 calls per process and round (``max(2, repeats // batch_size)`` batched calls).
        warmup: Untimed calls before each timed block.
        threads: Intra-op threads of both processes (``None``: each library's default).
    """

    seq_len: int = 128
    batch_size: int = 16
    rounds: int = 3
    repeats: int = 20
    warmup: int = 2
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("seq_len", "batch_size", "rounds", "repeats"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidConfigError(f"Timing {name}={value!r} is not valid: pass an integer >= 1.")
        if self.seq_len < 4:
            raise InvalidConfigError("Timing seq_len must be at least 4 tokens.")

    @property
    def batch_repeats(self) -> int:
        """Timed calls per round at ``batch_size``."""
        return max(2, self.repeats // self.batch_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PairTimer:
    """A PyTorch measurement process kept for the search, and :meth:`time` for each candidate beside it.

    Use as a context manager; the processes are stopped on exit.
    """

    def __init__(self, model: str, task: str, texts: list[str], settings: TimingSettings, *, cache_dir: str) -> None:
        from onnx_pipelines.benchmark.runner import length_texts

        self.model, self.task, self.settings, self.cache_dir = model, task, settings, cache_dir
        self.text = length_texts(model, texts, [settings.seq_len])[settings.seq_len]
        self._pytorch: Any = None

    def __enter__(self) -> PairTimer:
        return self

    def __exit__(self, *_: object) -> None:
        if self._pytorch is not None:
            self._pytorch.stop()

    def _launch(self, prepared: PreparedCandidate) -> Any:
        from onnx_pipelines.benchmark.runner import Worker

        worker = Worker(prepared, self.task, self.model, self.cache_dir, None, self.settings.threads)
        worker.launch()
        return worker

    def _launch_pytorch(self) -> Any:
        weights = [p for p in Path(self.model).iterdir() if p.suffix in (".safetensors", ".bin")]
        prepared = PreparedCandidate(Candidate(PYTORCH, CandidateKind.PYTORCH), self.model, None,
                                     sum(p.stat().st_size for p in weights) / 1e6, None, "no export")
        return self._launch(prepared)

    def time(self, recipe: str | Path, artifact: str, model_file: str) -> dict[str, Any]:
        """Time the pipeline ``load_pipeline(recipe=recipe)`` beside PyTorch.

        Args:
            recipe: The candidate's recipe file.
            artifact: Folder of its built artifact (already in the cache: loading does not build).
            model_file: The graph file in ``artifact``.

        Returns:
            Medians (ms) of both at batch 1 and at ``batch_size``, the speed-ups (PyTorch time / candidate
            time), the candidate's throughput (texts/s) and the settings.

        Raises:
            BenchmarkError: A process failed to load or run (the message holds its traceback).
        """
        size = (Path(artifact) / model_file).stat().st_size / 1e6
        worker = self._launch(PreparedCandidate(recipe_candidate(recipe), artifact, model_file, size, None))
        settings = self.settings
        times: dict[tuple[str, int], list[float]] = {}
        try:
            if self._pytorch is None:  # the first time, both processes load at once
                self._pytorch = self._launch_pytorch()
                self._pytorch.ready()
            torch_worker = self._pytorch
            worker.ready()
            for round_index in range(settings.rounds):
                pair = [("pytorch", torch_worker), ("candidate", worker)]
                for batch, repeats in ((1, settings.repeats), (settings.batch_size, settings.batch_repeats)):
                    for who, process in pair if round_index % 2 == 0 else pair[::-1]:
                        reply = process.call("latency", text=self.text, batch_size=batch, repeats=repeats,
                                             warmup=settings.warmup if batch == 1 else 1)
                        times.setdefault((who, batch), []).extend(reply["times_ms"])
        finally:
            worker.stop()
        return summarize_times(times, settings)


def summarize_times(times: dict[tuple[str, int], list[float]], settings: TimingSettings) -> dict[str, Any]:
    """Medians and ratios of the raw call times (``(who, batch) -> ms``)."""
    med = {key: float(np.median(values)) for key, values in times.items()}
    batch = settings.batch_size
    return {
        "pytorch_b1_ms": med[("pytorch", 1)],
        "candidate_b1_ms": med[("candidate", 1)],
        "speedup_b1": med[("pytorch", 1)] / med[("candidate", 1)],
        "batch_size": batch,
        "pytorch_batch_ms": med[("pytorch", batch)],
        "candidate_batch_ms": med[("candidate", batch)],
        "speedup_batch": med[("pytorch", batch)] / med[("candidate", batch)],
        "throughput_per_s": batch * 1000 / med[("candidate", batch)],
        "calls": {f"{who}_b{b}": len(values) for (who, b), values in times.items()},
        "settings": settings.to_dict(),
    }
