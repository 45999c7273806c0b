"""The measurement process: one per candidate, so PyTorch's and ONNX Runtime's thread pools never share cores.

The coordinator (:mod:`onnx_pipelines.benchmark.runner`) starts one :func:`worker_main` per candidate and
sends it one command at a time; a worker that is not being measured waits on its pipe and uses no CPU.
"""

from __future__ import annotations

import resource
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from onnx_pipelines.benchmark.candidates import CandidateKind, PreparedCandidate, load_candidate
from onnx_pipelines.benchmark.tasks import BenchTask, get_bench_task

#: Highest token count a benchmark text is built for (the position limit of BERT-like models).
MODEL_MAX_LENGTH = 512


@dataclass
class _State:
    pipe: Any
    kind: CandidateKind
    max_length: int
    task: BenchTask
    options: dict[str, Any]


def worker_main(conn: Any, prepared: PreparedCandidate, task: str, model: str, cache_dir: str,
                calibration_texts: list[str] | None, threads: int | None,
                options: dict[str, Any] | None = None) -> None:
    """Load the candidate, report the load time, then serve commands until ``None`` arrives."""
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        started = time.perf_counter()
        pipe = load_candidate(prepared, task, model, cache_dir, calibration_texts, threads)
        load_s = time.perf_counter() - started
        limit = int(min(getattr(pipe.tokenizer, "model_max_length", MODEL_MAX_LENGTH) or MODEL_MAX_LENGTH,
                        MODEL_MAX_LENGTH))
        state = _State(pipe, prepared.candidate.kind, limit, get_bench_task(task, options), dict(options or {}))
        conn.send(("ok", {"load_s": load_s, "peak_rss_mb": peak_rss_mb()}))
    except Exception:
        conn.send(("error", traceback.format_exc()))
        return
    while True:
        message = conn.recv()
        if message is None:
            return
        command, kwargs = message
        try:
            conn.send(("ok", COMMANDS[command](state, **kwargs)))
        except Exception:
            conn.send(("error", traceback.format_exc()))


def peak_rss_mb() -> float:
    """Peak resident memory of this process (``ru_maxrss``) in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1e6 if sys.platform == "darwin" else 1e3)


def _classify(state: _State, texts: Any, batch_size: int, max_length: int) -> Any:
    return state.task.call(state.pipe, texts, batch_size, max_length, state.options)


def latency(state: _State, text: str, batch_size: int, repeats: int, warmup: int,
            model_only: bool = False) -> dict[str, Any]:
    """Milliseconds per pipeline call on ``batch_size`` copies of ``text`` (a plain string at batch 1).

    With ``model_only``, each pipeline call is followed by a call of the bare model on the already tokenized
    text, so the two are measured under the same machine load: their difference is the pipeline's own cost.
    """
    inputs: Any = text if batch_size == 1 else [text] * batch_size
    calls = [lambda: _classify(state, inputs, batch_size, state.max_length)]
    if model_only:
        calls.append(_model_call(state, text))
    for _ in range(warmup):
        for call in calls:
            call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeats):
        for call, bucket in zip(calls, times, strict=True):
            started = time.perf_counter()
            call()
            bucket.append((time.perf_counter() - started) * 1000)
    return {"times_ms": times[0], "model_ms": times[1] if model_only else []}


def _model_call(state: _State, text: str) -> Callable[[], Any]:
    """The bare model on pre-tokenized ``text``: ``model(**inputs)`` for PyTorch, ``session.run`` for ONNX."""
    pipe = state.pipe
    if state.kind is CandidateKind.PYTORCH:
        import torch

        encoded = state.task.model_input(pipe.tokenizer, text, state.max_length, state.options, "pt")

        def torch_call() -> Any:
            with torch.inference_mode():
                return pipe.model(**encoded)
        return torch_call

    from onnx_pipelines.session_runner import OrtRunner

    # Our pipelines carry their runner; the Optimum-docs rows are plain transformers pipelines over an ORTModel.
    runner = pipe.runner() if hasattr(pipe, "runner") else OrtRunner(pipe.model.session)
    encoded = state.task.model_input(pipe.tokenizer, text, state.max_length, state.options, "np")
    if not hasattr(runner, "feed"):  # OpenVINO: its feed conversion (a no-op for int64 inputs) is in the call
        return lambda: runner.run(encoded)
    feed, session = runner.feed(encoded), runner.session  # the feed is built once: only the model call is timed
    return lambda: session.run(None, feed)


def dataset(state: _State, texts: list[str], mode: str, max_length: int, batch_size: int,
            max_tokens: int) -> dict[str, Any]:
    """Seconds to run the whole dataset, with the pipeline's default batching or length-aware batching."""
    started = time.perf_counter()
    if mode == "default":
        outputs = _classify(state, texts, batch_size, max_length)
    else:
        outputs = state.task.run_dataset(state.pipe, texts, batch_size=batch_size, max_tokens=max_tokens,
                                         max_length=max_length, options=state.options)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "labels": [state.task.label(o) for o in outputs]}


def memory(state: _State) -> dict[str, Any]:
    """Peak resident memory so far."""
    return {"peak_rss_mb": peak_rss_mb()}



COMMANDS: dict[str, Callable[..., dict[str, Any]]] = {
    "latency": latency,
    "dataset": dataset,
    "memory": memory,
}
