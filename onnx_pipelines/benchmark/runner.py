"""Run the benchmark: build every candidate, then measure each in its own process, alternating over rounds.

Every candidate gets a long-lived worker process (:mod:`onnx_pipelines.benchmark.worker`). After loading
(timed one at a time), the workers are driven round-robin: for each round and each measurement, every
candidate runs in turn (the order rotates every round) while the others wait idle on their pipe. Slow
drifts in machine load then hit all candidates alike, and ratios come from the same run.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from onnx_pipelines.benchmark.candidates import Candidate, PreparedCandidate, prepare_candidates
from onnx_pipelines.benchmark.tasks import get_bench_task
from onnx_pipelines.errors import BenchmarkError, InvalidConfigError
from onnx_pipelines.isolated import run_isolated

logger = logging.getLogger(__name__)

#: Pause between two candidates' turns, so the previous one's spinning threads go to sleep.
SETTLE_S = 0.05
#: Texts of these many tokens (special tokens included) are built for the latency measurements.
MIN_SEQ_LEN = 4


@dataclass(frozen=True)
class BenchSettings:
    """What to measure and how often.

    Attributes:
        seq_lens: Token counts for the batch-1 latency measurement.
        batch_sizes: Batch sizes for the batch sweep (at ``batch_seq_len`` tokens).
        batch_seq_len: Tokens per text in the batch sweep.
        rounds: Rounds of the latency measurements.
        repeats: Timed calls per candidate, configuration and round at batch 1 (fewer for big batches).
        warmup: Untimed calls before each timed block.
        max_lengths: Truncation lengths for the dataset throughput runs (real lengths up to this).
        dataset_rounds: Rounds of the dataset throughput runs (0: skip them).
        dataset_batch_size: Batch size of the dataset runs (both batching modes).
        max_tokens: Padded-token budget per batch of length-aware batching.
        threads: Intra-op threads for every candidate (``None``: each library's default).
    """

    seq_lens: tuple[int, ...] = (16, 64, 128, 256)
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    batch_seq_len: int = 128
    rounds: int = 5
    repeats: int = 20
    warmup: int = 3
    max_lengths: tuple[int, ...] = (512,)
    dataset_rounds: int = 3
    dataset_batch_size: int = 32
    max_tokens: int = 8192
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("rounds", "repeats", "dataset_batch_size", "max_tokens", "batch_seq_len"):
            if int(getattr(self, name)) < 1:
                raise InvalidConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}.")
        for name in ("warmup", "dataset_rounds"):
            if int(getattr(self, name)) < 0:
                raise InvalidConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}.")
        for name in ("seq_lens", "batch_sizes", "max_lengths"):
            values = getattr(self, name)
            if not values or any(int(v) < 1 for v in values):
                raise InvalidConfigError(f"{name} must be a non-empty list of positive integers, got {values!r}.")
        if any(v < MIN_SEQ_LEN for v in (*self.seq_lens, self.batch_seq_len)):
            raise InvalidConfigError(f"Sequence lengths must be at least {MIN_SEQ_LEN} tokens.")

    @classmethod
    def quick(cls, **overrides: Any) -> BenchSettings:
        """A smoke configuration: two short lengths, small batches, one dataset round."""
        base = cls(seq_lens=(16, 64), batch_sizes=(1, 4), batch_seq_len=64, rounds=2, repeats=3, warmup=1,
                   max_lengths=(128,), dataset_rounds=1, dataset_batch_size=8)
        return replace(base, **overrides)


@dataclass
class BenchData:
    """The texts the benchmark runs on.

    Attributes:
        texts: Dataset texts for the throughput runs (real lengths); also the source of the latency texts.
        gold: Gold label names aligned with ``texts`` (``None``: no accuracy).
        name: Where the texts come from, for the report.
        calibration_texts: Texts for static int8 calibration (never the evaluation texts).
        options: Task options (:mod:`onnx_pipelines.benchmark.tasks`): QA ``question``, zero-shot
            ``candidate_labels``.
    """

    texts: list[str]
    gold: list[str] | None = None
    name: str = ""
    calibration_texts: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class CandidateResult:
    """Everything measured for one candidate."""

    prepared: PreparedCandidate
    load_s: float = float("nan")
    peak_rss_mb: float = float("nan")
    latency: dict[tuple[int, int], list[list[float]]] = field(default_factory=dict)  # (len, batch) -> rounds
    model_only: dict[int, list[list[float]]] = field(default_factory=dict)
    dataset: dict[tuple[int, str], list[float]] = field(default_factory=dict)  # (max_length, mode) -> seconds
    labels: dict[tuple[int, str], list[str]] = field(default_factory=dict)


def run_benchmark(model: str, task: str, candidates: Sequence[Candidate], data: BenchData,
                  settings: BenchSettings, *, cache_dir: str, work_dir: str,
                  progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Build, load and measure every candidate; return the raw results as a JSON-ready dict.

    Raises:
        InvalidConfigError: For a task the benchmark cannot drive, or no candidates.
        BenchmarkError: If a candidate fails to build, load or run (the message holds its traceback).
    """
    get_bench_task(task, data.options)  # the task is one the benchmark drives, with the options it needs
    if not candidates:
        raise InvalidConfigError("No candidates to benchmark.")
    started = time.time()
    load_before = _load_average()
    progress(f"Building {len(candidates)} candidates in a fresh process (timed)")
    prepared = run_isolated(prepare_candidates, list(candidates), model, task, work_dir, cache_dir,
                            data.calibration_texts)
    texts_by_len = length_texts(model, data.texts, sorted({*settings.seq_lens, settings.batch_seq_len}))
    results = [CandidateResult(p) for p in prepared]
    workers: list[_Worker] = []
    try:
        for result in results:
            progress(f"Loading {result.prepared.candidate.name} in its own process")
            worker = _Worker(result.prepared, task, model, cache_dir, data.calibration_texts, settings.threads,
                             data.options)
            workers.append(worker)
            loaded = worker.start()
            result.load_s, result.peak_rss_mb = loaded["load_s"], loaded["peak_rss_mb"]
        _measure_latency(workers, results, texts_by_len, settings, progress)
        _measure_datasets(workers, results, data.texts, settings, progress)
        for worker, result in zip(workers, results, strict=True):
            result.peak_rss_mb = worker.call("memory")["peak_rss_mb"]
    finally:
        for worker in workers:
            worker.stop()
    return {
        "model": model,
        "task": task,
        "dataset": {"name": data.name, "items": len(data.texts), "has_labels": data.gold is not None},
        "task_options": data.options,
        "settings": asdict(settings),
        "machine": machine_info(load_before, _load_average()),
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "duration_s": time.time() - started,
        "gold": data.gold,
        "candidates": [_as_json(r) for r in results],
    }


def _measure_latency(workers: list[_Worker], results: list[CandidateResult], texts: dict[int, str],
                     settings: BenchSettings, progress: Callable[[str], None]) -> None:
    configs = [(n, 1) for n in settings.seq_lens]
    configs += [(settings.batch_seq_len, b) for b in settings.batch_sizes if (settings.batch_seq_len, b) not in configs]
    for round_index in range(settings.rounds):
        progress(f"Latency round {round_index + 1}/{settings.rounds}")
        for seq_len, batch in configs:
            repeats = max(2, settings.repeats // batch)
            for i in _rotation(len(workers), round_index):
                reply = workers[i].call("latency", text=texts[seq_len], batch_size=batch, repeats=repeats,
                                        warmup=settings.warmup if batch == 1 else min(settings.warmup, 1),
                                        model_only=batch == 1)
                results[i].latency.setdefault((seq_len, batch), []).append(reply["times_ms"])
                if batch == 1:
                    results[i].model_only.setdefault(seq_len, []).append(reply["model_ms"])


def _measure_datasets(workers: list[_Worker], results: list[CandidateResult], texts: list[str],
                      settings: BenchSettings, progress: Callable[[str], None]) -> None:
    for round_index in range(settings.dataset_rounds):
        for max_length in settings.max_lengths:
            for mode in ("default", "length-aware"):
                progress(f"Dataset round {round_index + 1}/{settings.dataset_rounds}: {len(texts)} texts, "
                         f"max_length {max_length}, {mode} batching")
                for i in _rotation(len(workers), round_index):
                    reply = workers[i].call("dataset", texts=texts, mode=mode, max_length=max_length,
                                            batch_size=settings.dataset_batch_size, max_tokens=settings.max_tokens)
                    results[i].dataset.setdefault((max_length, mode), []).append(reply["seconds"])
                    results[i].labels.setdefault((max_length, mode), reply["labels"])


def _rotation(count: int, round_index: int) -> list[int]:
    start = round_index % count
    return list(range(start, count)) + list(range(start))


def length_texts(model: str, texts: Sequence[str], lengths: Sequence[int]) -> dict[int, str]:
    """Texts that tokenize to exactly ``n`` tokens (special tokens included), cut from real text.

    Raises:
        BenchmarkError: If no text can be cut to a requested length.
    """
    from onnx_pipelines.loaders import load_tokenizer

    tokenizer = load_tokenizer(model)
    source = " ".join(sorted(texts, key=len, reverse=True)[:8]) or "benchmark text " * 400
    ids = tokenizer(source, add_special_tokens=False)["input_ids"]
    special = len(tokenizer.build_inputs_with_special_tokens([]))
    out: dict[int, str] = {}
    for n in lengths:
        body = max(n - special, 1)
        for cut in range(body, max(body - 16, 0), -1):  # a decode/encode round trip can merge pieces
            text = tokenizer.decode(ids[:cut]).strip()
            if len(tokenizer(text)["input_ids"]) == n:
                out[n] = text
                break
        else:
            raise BenchmarkError(f"Could not build a text of exactly {n} tokens from the dataset texts.")
    return out


class _Worker:
    """A candidate's measurement process and the pipe to it."""

    def __init__(self, prepared: PreparedCandidate, task: str, model: str, cache_dir: str,
                 calibration_texts: list[str] | None, threads: int | None,
                 options: dict[str, Any] | None = None) -> None:
        from onnx_pipelines.benchmark.worker import worker_main

        self.name = prepared.candidate.name
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=worker_main, args=(child, prepared, task, model, cache_dir, calibration_texts, threads, options),
            daemon=True,
        )

    def start(self) -> dict[str, Any]:
        self.launch()
        return self.ready()

    def launch(self) -> None:
        """Start the process without waiting for it to load (so several can load at once)."""
        self.process.start()

    def ready(self) -> dict[str, Any]:
        """Wait for a launched process to report its load time and memory."""
        return self._reply()

    def call(self, command: str, **kwargs: Any) -> dict[str, Any]:
        time.sleep(SETTLE_S)
        self.conn.send((command, kwargs))
        return self._reply()

    def _reply(self) -> dict[str, Any]:
        try:
            status, payload = self.conn.recv()
        except EOFError as e:
            raise BenchmarkError(f"The measurement process of {self.name} died (exit code "
                                 f"{self.process.exitcode}); out of memory?") from e
        if status != "ok":
            raise BenchmarkError(f"{self.name} failed in its measurement process:\n{payload}")
        return payload

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)


#: A candidate's measurement process and the pipe to it (``tune`` times its candidates with it).
Worker = _Worker


def _as_json(result: CandidateResult) -> dict[str, Any]:
    candidate = result.prepared.candidate
    return {
        "name": candidate.name,
        "kind": candidate.kind.value,
        "variant": candidate.variant,
        "description": candidate.description,
        "model_dir": result.prepared.model_dir,
        "model_file": result.prepared.model_file,
        "size_mb": result.prepared.size_mb,
        "build_s": result.prepared.build_s,
        "build_note": result.prepared.build_note,
        "load_s": result.load_s,
        "peak_rss_mb": result.peak_rss_mb,
        "latency": [{"seq_len": n, "batch_size": b, "rounds_ms": rounds} for (n, b), rounds in result.latency.items()],
        "model_only": [{"seq_len": n, "rounds_ms": rounds} for n, rounds in result.model_only.items()],
        "dataset": [{"max_length": n, "mode": mode, "seconds": secs, "labels": result.labels[(n, mode)]}
                    for (n, mode), secs in result.dataset.items()],
    }


def machine_info(load_before: list[float], load_after: list[float]) -> dict[str, Any]:
    """CPU, core count, int8 instruction set, library versions and load averages."""
    from onnx_pipelines.config import detect_cpu_isa
    from onnx_pipelines.versions import REPORTED_LIBRARIES, library_versions

    versions = library_versions(REPORTED_LIBRARIES)
    return {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "isa": detect_cpu_isa(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "load_average_before": load_before,
        "load_average_after": load_after,
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def percentile(values: Sequence[float], q: float) -> float:
    """``q``-th percentile (0-100) of ``values``; NaN when empty."""
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")
