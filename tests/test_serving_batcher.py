"""Unit tests of the batcher, with a stand-in ``run_batch`` (no model): batching rules, order, limits,
failure isolation and draining on close."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

pytest.importorskip("prometheus_client", reason="needs the serve extra: pip install 'onnx-pipelines[serve]'")

from onnx_pipelines.errors import (  # noqa: E402
    InferenceError,
    InvalidInputError,
    ServerOverloadedError,
    ServerShuttingDownError,
)
from onnx_pipelines.serving.batcher import Batcher  # noqa: E402
from onnx_pipelines.serving.settings import ServingSettings  # noqa: E402

pytestmark = pytest.mark.anyio


class Recorder:
    """``run_batch`` that doubles numbers, remembers each batch, and can be held until released."""

    def __init__(self, fail_on: int | None = None, hold: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on
        self.gate = threading.Event()
        self.entered = threading.Event()
        if not hold:
            self.gate.set()

    def __call__(self, items: list[int]) -> Sequence[int]:
        self.entered.set()
        assert self.gate.wait(10), "test never released the gate"
        self.batches.append(list(items))
        if self.fail_on is not None and self.fail_on in items:
            raise RuntimeError(f"secret internals: cannot handle {self.fail_on}")
        return [2 * x for x in items]


async def wait_until_running(recorder: Recorder) -> None:
    assert await asyncio.to_thread(recorder.entered.wait, 10)


async def test_each_request_gets_its_own_outputs_in_order() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, ServingSettings(max_batch_size=8, max_wait_ms=20))
    requests = [list(range(i * 10, i * 10 + n)) for i, n in enumerate([1, 3, 5, 2, 7, 1, 4])]
    results = await asyncio.gather(*(batcher.submit(r, [10] * len(r)) for r in requests))
    await batcher.close()
    assert results == [[2 * x for x in r] for r in requests]
    assert max(len(b) for b in recorder.batches) <= 8
    assert len(recorder.batches) < len(requests), "concurrent requests should have shared batches"


async def test_large_request_is_split_over_batches_and_reassembled() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, ServingSettings(max_batch_size=4, max_wait_ms=0))
    assert await batcher.submit(list(range(10)), [5] * 10) == [2 * x for x in range(10)]
    await batcher.close()
    assert [len(b) for b in recorder.batches] == [4, 4, 2]


async def test_token_budget_counts_padded_tokens_but_always_admits_one_input() -> None:
    recorder = Recorder()
    # 250 padded tokens: two inputs of 100 fit (2 x 100), a third does not (3 x 100).
    batcher = Batcher(recorder, ServingSettings(max_batch_tokens=250, max_wait_ms=0))
    await batcher.submit([1, 2, 3, 4, 5], [100, 100, 100, 100, 100])
    # One input over the whole budget still runs, alone; a short one after it pays for the long one.
    await batcher.submit([6, 7], [1000, 10])
    await batcher.close()
    assert recorder.batches == [[1, 2], [3, 4], [5], [6], [7]]


async def test_requests_arriving_within_max_wait_share_a_batch() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, ServingSettings(max_wait_ms=200))
    first = asyncio.ensure_future(batcher.submit([1], [5]))
    await asyncio.sleep(0.02)
    second = asyncio.ensure_future(batcher.submit([2], [5]))
    assert await asyncio.gather(first, second) == [[2], [4]]
    await batcher.close()
    assert recorder.batches == [[1, 2]]


async def test_full_batch_does_not_wait_for_max_wait() -> None:
    batcher = Batcher(Recorder(), ServingSettings(max_batch_size=2, max_wait_ms=60_000))
    result = await asyncio.wait_for(asyncio.gather(batcher.submit([1], [5]), batcher.submit([2], [5])), 5)
    assert result == [[2], [4]]
    await batcher.close()


async def test_without_batching_each_request_runs_alone() -> None:
    recorder = Recorder(hold=True)
    batcher = Batcher(recorder, ServingSettings(batching=False, max_wait_ms=1000))
    tasks = [asyncio.ensure_future(batcher.submit([i, i + 100], [5, 5])) for i in range(4)]
    await wait_until_running(recorder)
    recorder.gate.set()
    assert await asyncio.gather(*tasks) == [[2 * i, 2 * i + 200] for i in range(4)]
    await batcher.close()
    assert recorder.batches == [[i, i + 100] for i in range(4)]


async def test_full_queue_refuses_but_admits_the_health_probe() -> None:
    recorder = Recorder(hold=True)
    batcher = Batcher(recorder, ServingSettings(max_queue=2, max_batch_size=1, max_wait_ms=0))
    running = asyncio.ensure_future(batcher.submit([0], [5]))
    await wait_until_running(recorder)  # taken out of the queue: the queue is empty again
    queued = [asyncio.ensure_future(batcher.submit([i], [5])) for i in (1, 2)]
    await asyncio.sleep(0)
    assert batcher.queued == 2
    with pytest.raises(ServerOverloadedError, match="--max-queue"):
        batcher.check_capacity()
    with pytest.raises(ServerOverloadedError):
        await batcher.submit([3], [5])
    probe = asyncio.ensure_future(batcher.submit([9], [5], admit_when_full=True))
    recorder.gate.set()
    assert await asyncio.gather(running, *queued, probe) == [[0], [2], [4], [18]]
    await batcher.close()


async def test_close_drains_queued_requests_then_refuses_new_ones() -> None:
    recorder = Recorder(hold=True)
    batcher = Batcher(recorder, ServingSettings(max_batch_size=2, max_wait_ms=0))
    tasks = [asyncio.ensure_future(batcher.submit([i], [5])) for i in range(6)]
    await wait_until_running(recorder)
    closing = asyncio.ensure_future(batcher.close())
    await asyncio.sleep(0.05)
    assert not closing.done(), "close() must wait for queued work"
    with pytest.raises(ServerShuttingDownError):
        await batcher.submit([7], [5])
    recorder.gate.set()
    await asyncio.wait_for(closing, 10)
    assert [t.result() for t in tasks] == [[2 * i] for i in range(6)]


async def test_a_failing_request_does_not_fail_its_batch_mates() -> None:
    recorder = Recorder(fail_on=13, hold=True)
    batcher = Batcher(recorder, ServingSettings(max_wait_ms=50))
    good = [asyncio.ensure_future(batcher.submit([i], [5])) for i in (1, 2)]
    bad = asyncio.ensure_future(batcher.submit([13], [5]))
    recorder.gate.set()
    assert await asyncio.gather(*good) == [[2], [4]]
    with pytest.raises(InferenceError) as caught:
        await bad
    assert "secret" not in str(caught.value), "the client-facing message must not carry internals"
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert recorder.batches[0] == [1, 2, 13], "the three requests were first run together"
    assert batcher.seconds_since_success() is not None
    await batcher.close()


async def test_input_errors_from_the_pipeline_reach_the_caller_unchanged() -> None:
    def refuse(items: list[int]) -> Sequence[int]:
        raise InvalidInputError("item 5 is not allowed")

    batcher = Batcher(refuse, ServingSettings(max_wait_ms=0))
    with pytest.raises(InvalidInputError, match="item 5"):
        await batcher.submit([5], [5])
    assert batcher.seconds_since_success() is None
    await batcher.close()


async def test_wrong_number_of_outputs_is_a_model_failure() -> None:
    batcher = Batcher(lambda items: [0], ServingSettings(max_wait_ms=0))
    with pytest.raises(InferenceError):
        await batcher.submit([1, 2], [5, 5])
    await batcher.close()


async def test_a_cancelled_request_is_skipped_and_the_rest_complete() -> None:
    recorder = Recorder(hold=True)
    batcher = Batcher(recorder, ServingSettings(max_batch_size=1, max_wait_ms=0))
    first = asyncio.ensure_future(batcher.submit([1], [5]))
    await wait_until_running(recorder)
    gone = asyncio.ensure_future(batcher.submit([2], [5]))
    last = asyncio.ensure_future(batcher.submit([3], [5]))
    await asyncio.sleep(0)
    gone.cancel()
    recorder.gate.set()
    assert await asyncio.gather(first, last) == [[2], [6]]
    await batcher.close()
    assert recorder.batches == [[1], [3]]


async def test_a_request_cancelled_while_its_batch_gathers_leaves_the_batcher_working() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, ServingSettings(max_wait_ms=100))
    alone = asyncio.ensure_future(batcher.submit([1], [5]))
    await asyncio.sleep(0.02)  # the batcher is waiting for batch mates
    alone.cancel()
    await asyncio.sleep(0.15)  # ... and its wait ends with nothing left to run
    assert await asyncio.wait_for(batcher.submit([2], [5]), 5) == [4]
    await batcher.close()
    assert recorder.batches == [[2]]
