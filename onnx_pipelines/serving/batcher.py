"""Dynamic batching: gather concurrent requests into pipeline calls bounded by size, tokens and time.

Requests wait in a FIFO queue. One consumer task on the event loop forms a batch from the head of the
queue (a large request may be split over several batches) and runs it in a single worker thread, so
the loop keeps accepting requests while the model works; ONNX Runtime already uses every core, so a
second inference thread would only contend. Outputs go back to each request in order.

When a batch mixing several requests fails, each request is re-run alone, so one poisonous input
fails only its own request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from onnx_pipelines.errors import (
    InferenceError,
    InvalidInputError,
    ServerOverloadedError,
    ServerShuttingDownError,
)
from onnx_pipelines.length_batches import batch_is_full
from onnx_pipelines.serving.metrics import ServingMetrics
from onnx_pipelines.serving.settings import ServingSettings

logger = logging.getLogger(__name__)

#: Runs the pipeline on a list of inputs and returns one output per input (in the worker thread).
RunBatch = Callable[[list[Any]], Sequence[Any]]


@dataclass(eq=False)
class _Job:
    """One submitted request while it waits and runs."""

    items: Sequence[Any]
    costs: Sequence[int]
    future: asyncio.Future[list[Any]]
    enqueued_at: float
    outputs: list[Any] = field(default_factory=list)
    taken: int = 0  # items already placed in a batch

    @property
    def complete(self) -> bool:
        return self.future.done() or self.taken == len(self.items)


# (job, first item, end) of one request's share of a batch
_Slice = tuple[_Job, int, int]


class Batcher:
    """Queue, batch and run requests against one pipeline.

    Args:
        run_batch: ``run_batch(items) -> outputs``; one call per batch, in the worker thread.
        settings: Batch size, token budget, wait, queue length, and whether to batch at all.
        metrics: Where to record queue, batch and inference figures; a private set when omitted.

    Example:
        >>> async def demo():
        ...     batcher = Batcher(lambda xs: [x.upper() for x in xs], ServingSettings())
        ...     out = await batcher.submit(["a", "b"], costs=[3, 3])
        ...     await batcher.close()
        ...     return out
        >>> asyncio.run(demo())
        ['A', 'B']
    """

    def __init__(
        self, run_batch: RunBatch, settings: ServingSettings, metrics: ServingMetrics | None = None
    ) -> None:
        self._run_batch = run_batch
        self._settings = settings
        self._metrics = metrics or ServingMetrics()
        self._queue: deque[_Job] = deque()
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx-pipelines-inference")
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._last_success: float | None = None

    @property
    def queued(self) -> int:
        """Requests waiting for their first batch (or for the rest of a split request)."""
        return len(self._queue)

    @property
    def closing(self) -> bool:
        """Whether :meth:`close` was called: no new work is accepted."""
        return self._closing

    def seconds_since_success(self) -> float | None:
        """Seconds since a pipeline call last succeeded; ``None`` if none has yet."""
        return None if self._last_success is None else time.monotonic() - self._last_success

    def check_capacity(self) -> None:
        """Raise now if :meth:`submit` would refuse a request (lets callers skip needless work).

        Raises:
            ServerShuttingDownError: :meth:`close` was called.
            ServerOverloadedError: ``max_queue`` requests are already waiting.
        """
        if self._closing:
            raise ServerShuttingDownError("The server is shutting down and takes no new requests.")
        if len(self._queue) >= self._settings.max_queue:
            raise ServerOverloadedError(
                f"The server is overloaded: {self._settings.max_queue} requests are already waiting "
                "(--max-queue). Retry later."
            )

    def start(self) -> None:
        """Start the consumer task on the running loop (done by the first :meth:`submit` otherwise)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._consume(), name="onnx-pipelines-batcher"
            )

    async def submit(
        self, items: Sequence[Any], costs: Sequence[int], *, admit_when_full: bool = False
    ) -> list[Any]:
        """Queue one request and wait for its outputs.

        Args:
            items: The request's inputs, as ``run_batch`` takes them.
            costs: Tokens of each input (after any truncation), for the token budget.
            admit_when_full: Queue even when ``max_queue`` is reached (for the health probe).

        Returns:
            One output per item, in order.

        Raises:
            ServerShuttingDownError: The batcher is closing.
            ServerOverloadedError: The queue is full.
            InferenceError: The pipeline raised on this request (the cause is chained and logged).
            InvalidInputError: The pipeline refused this request's input.
        """
        if len(items) != len(costs):
            raise ValueError(f"got {len(items)} items but {len(costs)} costs")
        if self._closing or not admit_when_full:
            self.check_capacity()
        if not items:
            return []
        self.start()
        job = _Job(items, costs, asyncio.get_running_loop().create_future(), time.monotonic())
        self._queue.append(job)
        self._metrics.queue_size.set(len(self._queue))
        self._wakeup.set()
        return await job.future

    async def close(self) -> None:
        """Stop accepting work, finish every queued request, then stop the worker thread."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)

    # --- consumer ----------------------------------------------------------------------------------

    async def _consume(self) -> None:
        try:
            while True:
                self._drop_finished()
                if not self._queue:
                    if self._closing:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                if self._settings.batching:
                    await self._gather()
                slices = self._take()
                if slices:  # empty when every waiting request was cancelled meanwhile
                    await self._run(slices)
        except Exception:
            # A bug here must not leave callers waiting forever: fail them, refuse new work.
            logger.exception("The batcher stopped unexpectedly")
            self._closing = True
            for job in self._queue:
                if not job.future.done():
                    job.future.set_exception(InferenceError("The server failed; the log has the details."))

    async def _gather(self) -> None:
        """Wait for more requests until the batch is full or the head request has waited long enough."""
        deadline = self._queue[0].enqueued_at + self._settings.max_wait_ms / 1000
        while not self._closing and not self._plan()[1]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _plan(self) -> tuple[list[_Slice], bool]:
        """Choose the next batch from the queue head; also say whether it is full."""
        s = self._settings
        slices: list[_Slice] = []
        count = longest = 0
        for job in self._queue:
            if job.future.done():
                continue
            start = end = job.taken
            while end < len(job.items):
                cost = job.costs[end]
                if batch_is_full(count, longest, cost, max_batch_size=s.max_batch_size, max_tokens=s.max_batch_tokens):
                    if end > start:
                        slices.append((job, start, end))
                    return slices, True
                count, longest, end = count + 1, max(longest, cost), end + 1
            slices.append((job, start, end))
            if not s.batching:  # each request alone
                return slices, True
        return slices, count >= s.max_batch_size

    def _take(self) -> list[_Slice]:
        slices = self._plan()[0]
        now = time.monotonic()
        for job, start, end in slices:
            if start == 0:
                self._metrics.queue_duration.observe(now - job.enqueued_at)
            job.taken = end
        self._drop_finished()
        if not slices:
            return slices
        count = sum(end - start for _, start, end in slices)
        longest = max(job.costs[i] for job, start, end in slices for i in range(start, end))
        self._metrics.batch_size.observe(count)
        self._metrics.batch_tokens.observe(count * longest)
        return slices

    def _drop_finished(self) -> None:
        if any(job.complete for job in self._queue):
            self._queue = deque(job for job in self._queue if not job.complete)
        self._metrics.queue_size.set(len(self._queue))

    async def _run(self, slices: list[_Slice]) -> None:
        groups = [list(job.items[start:end]) for job, start, end in slices]
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, self._execute, groups)
        except Exception as e:  # a bug in the batcher itself: fail the batch, keep serving
            logger.exception("Batch execution failed unexpectedly")
            results = [e] * len(slices)
        for (job, _, _), result in zip(slices, results, strict=True):
            if job.future.done():  # the caller went away
                continue
            if isinstance(result, BaseException):
                job.future.set_exception(_client_error(result))
                continue
            self._last_success = time.monotonic()
            job.outputs.extend(result)
            if len(job.outputs) == len(job.items):
                job.future.set_result(job.outputs)

    # --- worker thread -----------------------------------------------------------------------------

    def _execute(self, groups: list[list[Any]]) -> list[list[Any] | BaseException]:
        """Run the batch; if several requests share it and it fails, run each alone."""
        try:
            outputs = self._call([item for group in groups for item in group])
        except Exception as e:
            if len(groups) == 1:
                return [e]
            logger.warning(
                "A batch of %d requests failed; running each alone to isolate the cause", len(groups)
            )
            return [self._call_or_error(group) for group in groups]
        results: list[list[Any] | BaseException] = []
        offset = 0
        for group in groups:
            results.append(outputs[offset : offset + len(group)])
            offset += len(group)
        return results

    def _call_or_error(self, items: list[Any]) -> list[Any] | BaseException:
        try:
            return self._call(items)
        except Exception as e:
            return e

    def _call(self, items: list[Any]) -> list[Any]:
        started = time.perf_counter()
        try:
            outputs = list(self._run_batch(items))
            if len(outputs) != len(items):
                raise RuntimeError(f"the pipeline returned {len(outputs)} outputs for {len(items)} inputs")
            return outputs
        except Exception:
            self._metrics.inference_errors.inc()
            logger.exception("Pipeline call on %d inputs failed", len(items))
            raise
        finally:
            self._metrics.inference_duration.observe(time.perf_counter() - started)


def _client_error(error: BaseException) -> BaseException:
    """Pass our own input errors through; hide anything else behind an :class:`InferenceError`."""
    if isinstance(error, InvalidInputError):
        return error
    wrapped = InferenceError("The model failed on this request; the server log has the details.")
    wrapped.__cause__ = error
    return wrapped
