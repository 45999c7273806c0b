"""The task registry: what differs from one task to the next, as data.

Adding a task means adding one :class:`TaskSpec` to :data:`TASKS` (and, where transformers has no
pipeline for it, a pipeline class). Nothing else in the export / cache / load path branches on task.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from onnx_pipelines.errors import UnsupportedTaskError


@dataclass(frozen=True)
class TaskSpec:
    """What the library needs to know about one task.

    Attributes:
        name: Our task name, as users pass it to ``load_pipeline``.
        ort_model_class: Name of the Optimum ``ORTModelFor...`` class in ``optimum.onnxruntime``.
        export_task: The Optimum exporter's task name.
        pipeline_task: The ``transformers.pipeline`` task the pipeline class implements.
        pipeline_class: Dotted path of the pipeline class to instantiate (a ``transformers.Pipeline``
            subclass).
        output_name: The model output compared against PyTorch when validating an export.
        head_suffixes: Architecture name endings (``config.architectures``) that fit this task. Empty
            means any architecture works (the exporter drops heads it does not need).
        torch_model_class: The ``transformers`` ``AutoModelFor...`` class of the PyTorch reference.
        description: One line for ``--help`` and error messages.
    """

    name: str
    ort_model_class: str
    export_task: str
    pipeline_task: str
    pipeline_class: str
    output_name: str
    head_suffixes: tuple[str, ...]
    torch_model_class: str
    description: str

    def load_ort_class(self) -> Any:
        """Import and return the Optimum ``ORTModelFor...`` class."""
        module = importlib.import_module("optimum.onnxruntime")
        return getattr(module, self.ort_model_class)

    def load_torch_class(self) -> Any:
        """Import and return the ``transformers`` ``AutoModelFor...`` class."""
        module = importlib.import_module("transformers")
        return getattr(module, self.torch_model_class)

    def load_pipeline_class(self) -> Any:
        """Import and return the pipeline class."""
        module_name, _, attr = self.pipeline_class.rpartition(".")
        return getattr(importlib.import_module(module_name), attr)


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="text-classification",
            ort_model_class="ORTModelForSequenceClassification",
            export_task="text-classification",
            pipeline_task="text-classification",
            pipeline_class="onnx_pipelines.pipelines.text_classification.OnnxTextClassificationPipeline",
            output_name="logits",
            head_suffixes=("ForSequenceClassification",),
            torch_model_class="AutoModelForSequenceClassification",
            description="labels and scores for single texts or text pairs",
        ),
        TaskSpec(
            name="sentence-embeddings",
            ort_model_class="ORTModelForFeatureExtraction",
            export_task="feature-extraction",
            pipeline_task="feature-extraction",
            pipeline_class="onnx_pipelines.pipelines.sentence_embeddings.SentenceEmbeddingPipeline",
            output_name="last_hidden_state",
            head_suffixes=(),
            torch_model_class="AutoModel",
            description="pooled sentence vectors, as sentence-transformers computes them",
        ),
    )
}

TASK_ALIASES: dict[str, str] = {
    "sentiment-analysis": "text-classification",
    "sentence-similarity": "sentence-embeddings",
}


def get_task(name: str) -> TaskSpec:
    """Look a task up by name (or alias).

    Raises:
        UnsupportedTaskError: If the task is unknown; the message lists the supported ones.
    """
    if not isinstance(name, str):
        raise UnsupportedTaskError(f"task must be a string, got {type(name).__name__}. {_supported()}")
    key = TASK_ALIASES.get(name.strip().lower(), name.strip().lower())
    try:
        return TASKS[key]
    except KeyError:
        raise UnsupportedTaskError(f"Unknown task {name!r}. {_supported()}") from None


def supported_tasks() -> list[str]:
    """Names of the supported tasks, sorted."""
    return sorted(TASKS)


def _supported() -> str:
    return "Supported tasks: " + ", ".join(supported_tasks()) + "."


def infer_task(config: dict[str, Any]) -> TaskSpec:
    """The task a model's head implies (``config.architectures``); headless models give sentence embeddings."""
    architectures = config.get("architectures") or []
    for spec in TASKS.values():
        if spec.head_suffixes and any(a.endswith(spec.head_suffixes) for a in architectures):
            return spec
    if any(not a.endswith(("Model", "Pretraining", "ForMaskedLM")) for a in architectures):
        raise UnsupportedTaskError(
            f"Cannot tell the task of a {architectures[0]} model; pass --task. {_supported()}"
        )
    return TASKS["sentence-embeddings"]
