"""What every route of one app shares: the served task and pipeline, the limits, the token counter, the batcher.

The task endpoint, the TEI extras (``/``, ``/similarity``, ``/tokenize``) and the OpenAI routes all run the
model through :meth:`ServedTask.run`, so every one of them is limited, queued, batched and counted the
same way.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi.responses import Response

from onnx_pipelines.serving.batcher import Batcher
from onnx_pipelines.serving.responses import json_response
from onnx_pipelines.serving.schemas import TaskRequest
from onnx_pipelines.serving.settings import ServingSettings
from onnx_pipelines.serving.tasks import Endpoint, Item, check_items
from onnx_pipelines.serving.tokens import TokenCounter

_T = TypeVar("_T")


@dataclass(frozen=True)
class Ran:
    """One request's run: its inputs, the tokens each one cost (after truncation), and the outputs."""

    items: list[Item]
    tokens: list[int]
    outputs: list[Any]


@dataclass(frozen=True)
class ServedTask:
    """The task one app serves and the machinery its routes share.

    Attributes:
        task: The task's name in the task registry (aliases resolved).
        spec: The task's endpoint.
        pipeline: The pipeline the batcher runs.
        model_name: What ``/info`` and ``/v1/models`` report as the model.
        settings: Limits and batching.
        counter: Counts the tokens of each input.
        batcher: Queues and batches the model calls.
    """

    task: str
    spec: Endpoint
    pipeline: Any
    model_name: str
    settings: ServingSettings
    counter: TokenCounter
    batcher: Batcher
    _tokenizer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _tokenizer_copy: list[Any] = field(default_factory=list, repr=False, compare=False)

    async def run(self, request: TaskRequest, items: list[Item] | None = None) -> Ran:
        """Run the model on a request's inputs (``spec.to_items(request)`` unless ``items`` are given).

        Raises:
            InvalidInputError: No inputs, or an empty text.
            InputLimitError: Too many inputs, or one too long without ``truncate``.
            ServerOverloadedError, ServerShuttingDownError, InferenceError: From the batcher.
        """
        inputs = self.spec.to_items(request) if items is None else items
        check_items(inputs, self.settings.max_input_items)
        self.batcher.check_capacity()  # refuse before tokenizing when the queue is already full
        # Each item gets its encoding attached: the tokens counted are the tokens the pipeline runs.
        encoded, costs = await asyncio.to_thread(self.counter.encode, inputs, truncate=request.truncate)
        outputs = await self.batcher.submit(encoded, costs)
        return Ran(encoded, list(costs), list(outputs))

    async def respond(self, request: TaskRequest) -> Response:
        """Run one validated request of the task and encode its answer as the task's endpoint does."""
        ran = await self.run(request)
        return await asyncio.to_thread(lambda: json_response(self.spec.shape(request, ran.outputs)))

    @property
    def has_tokenizer(self) -> bool:
        """Whether the pipeline has a tokenizer (``/tokenize`` and ``/decode`` need one)."""
        return getattr(self.pipeline, "tokenizer", None) is not None

    async def with_tokenizer(self, work: Callable[[Any], _T]) -> _T:
        """Run ``work(tokenizer)`` off the event loop on a private copy of the pipeline's tokenizer.

        A fast tokenizer is not safe to use from two threads while one changes its truncation
        settings (the inference thread does), so ``/tokenize`` and ``/decode`` use their own copy.
        """

        def locked() -> _T:
            with self._tokenizer_lock:
                if not self._tokenizer_copy:
                    self._tokenizer_copy.append(copy.deepcopy(self.pipeline.tokenizer))
                return work(self._tokenizer_copy[0])

        return await asyncio.to_thread(locked)
