"""Per-task parity adapters, registered by task name.

:data:`ADAPTERS` maps a task name of :data:`onnx_pipelines.tasks.TASKS` to the dotted path of its
:class:`~onnx_pipelines.parity.adapters.base.TaskAdapter` class (or to the class itself), imported on
first use. Adding a task
to parity means writing one adapter module (attributes plus the hooks that differ) and adding one line
here, or calling :func:`register_adapter` from your own code.
"""

from __future__ import annotations

import importlib

from onnx_pipelines.errors import UnsupportedTaskError
from onnx_pipelines.parity.adapters.base import (
    AdapterContext,
    MetricSpec,
    OutputSpec,
    Predictions,
    TaskAdapter,
)
from onnx_pipelines.tasks import get_task

ADAPTERS: dict[str, str | type[TaskAdapter]] = {
    "text-classification": "onnx_pipelines.parity.adapters.text_classification.TextClassificationAdapter",
    "sentence-embeddings": "onnx_pipelines.parity.adapters.sentence_embeddings.SentenceEmbeddingsAdapter",
    "token-classification": "onnx_pipelines.parity.adapters.token_classification.TokenClassificationAdapter",
    "question-answering": "onnx_pipelines.parity.adapters.question_answering.QuestionAnsweringAdapter",
    "zero-shot-classification": "onnx_pipelines.parity.adapters.zero_shot.ZeroShotAdapter",
    "feature-extraction": "onnx_pipelines.parity.adapters.feature_extraction.FeatureExtractionAdapter",
    "text-ranking": "onnx_pipelines.parity.adapters.text_ranking.TextRankingAdapter",
}


def register_adapter(task: str, adapter: str | type[TaskAdapter]) -> None:
    """Register the adapter class (or its dotted path) for ``task``, replacing any previous one.

    Args:
        task: A task name of the task registry.
        adapter: A :class:`TaskAdapter` subclass or ``"package.module.ClassName"``.
    """
    ADAPTERS[get_task(task).name] = adapter


def get_adapter(task: str) -> TaskAdapter:
    """An instance of the adapter registered for ``task`` (aliases accepted).

    Raises:
        UnsupportedTaskError: The task is unknown, or parity has no adapter for it yet; the message lists
            the tasks parity supports.
    """
    name = get_task(task).name
    if name not in ADAPTERS:
        raise UnsupportedTaskError(
            f"Parity has no adapter for task {name!r} yet. Tasks parity can evaluate: {', '.join(sorted(ADAPTERS))}."
        )
    entry = ADAPTERS[name]
    if isinstance(entry, str):
        module_name, _, class_name = entry.rpartition(".")
        entry = getattr(importlib.import_module(module_name), class_name)
    return entry()


def parity_tasks() -> list[str]:
    """Tasks with a registered parity adapter, sorted."""
    return sorted(ADAPTERS)


__all__ = [
    "ADAPTERS",
    "AdapterContext",
    "MetricSpec",
    "OutputSpec",
    "Predictions",
    "TaskAdapter",
    "get_adapter",
    "parity_tasks",
    "register_adapter",
]
