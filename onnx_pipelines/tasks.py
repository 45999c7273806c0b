"""The task registry: what differs from one task to the next, as data, in one table.

Each :class:`TaskSpec` of :data:`TASKS` is the one place a task is described: how it is exported and
loaded, and which serving endpoint, benchmark driver, parity adapter and ``predict`` options it has.
Per-task *code* lives with the code that runs it (``serving/tasks.py``, ``benchmark/tasks.py``,
``parity/adapters/``); the registry names it by dotted path, imported on first use, so importing this
module stays cheap (no torch, transformers, fastapi or pydantic). Adding a task: see
``docs/contributing.md``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from onnx_pipelines.errors import UnsupportedTaskError

#: Kinds of real input an export can be validated on (the texts themselves live in ``export.py``).
VALIDATION_INPUT_KINDS: tuple[str, ...] = ("texts", "pairs", "question-context", "query-passages")


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
        extra_outputs: Further model outputs compared against PyTorch besides ``output_name`` (question
            answering compares ``start_logits`` and ``end_logits``).
        token_level: The compared outputs have one row per token, so padded positions are left out of
            comparisons (they hold arbitrary values in both runtimes).
        validation_inputs: Which of :data:`onnx_pipelines.export.VALIDATION_INPUTS` an export is validated
            on: ``"texts"`` (single texts), ``"pairs"`` (text pairs), ``"question-context"`` (questions with
            contexts, the context truncated), ``"query-passages"`` (queries with candidate passages, one
            longer than the model's window, truncated longest-first as a reranker is fed).
        input_fields: The fields of one input example, e.g. ``("question", "context")``.
        optional_input_fields: Fields an example may add, e.g. ``("text_pair",)`` for classification.
        required_options: Call-time keyword arguments the pipeline cannot run without, e.g.
            ``("candidate_labels",)`` for zero-shot classification.
        config_check: Dotted path of a function ``(config: dict) -> None`` that raises when a model's
            ``config.json`` cannot serve the task beyond its head type (zero-shot needs an entailment
            label); run before anything is exported.
        metric: The default task metric (a name :func:`onnx_pipelines.metrics.load_metric` accepts), or
            ``None`` where a task has no labels to score against.
        call_options: Keyword arguments the pipeline takes at call time that ``onnx-pipelines predict``
            offers as flags (``top_k`` is ``--top-k``) and passes on when given. ``predict`` also takes
            a flag per input field besides ``text`` (``--text-pair``, ``--question``, ``--context``).
        endpoint: Dotted path of the task's :class:`onnx_pipelines.serving.tasks.Endpoint`, or ``None``
            where the task is not served.
        bench_driver: Dotted path of the task's :class:`onnx_pipelines.benchmark.tasks.BenchTask`, or
            ``None`` where ``onnx-pipelines bench`` cannot measure the task.
        parity_adapter: Dotted path of the task's
            :class:`~onnx_pipelines.parity.adapters.base.TaskAdapter` class, or ``None`` where parity cannot
            evaluate the task.
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
    extra_outputs: tuple[str, ...] = ()
    token_level: bool = False
    validation_inputs: tuple[str, ...] = ("texts",)
    input_fields: tuple[str, ...] = ("text",)
    optional_input_fields: tuple[str, ...] = ()
    required_options: tuple[str, ...] = ()
    config_check: str | None = None
    metric: str | None = None
    call_options: tuple[str, ...] = ()
    endpoint: str | None = None
    bench_driver: str | None = None
    parity_adapter: str | None = None

    def __post_init__(self) -> None:
        unknown = set(self.validation_inputs) - set(VALIDATION_INPUT_KINDS)
        if unknown or not self.validation_inputs:
            raise ValueError(
                f"TaskSpec {self.name!r}: validation_inputs {self.validation_inputs} must be a non-empty subset "
                f"of {VALIDATION_INPUT_KINDS}."
            )
        missing = set(self.required_options) - set(self.call_options)
        if missing:
            raise ValueError(
                f"TaskSpec {self.name!r}: required_options {sorted(missing)} must also be in call_options."
            )

    @property
    def cli_options(self) -> tuple[str, ...]:
        """Every ``predict`` option of the task: its input fields besides ``text``, then ``call_options``."""
        fields = (*self.input_fields, *self.optional_input_fields)
        return (*(f for f in fields if f != "text"), *self.call_options)

    @property
    def output_names(self) -> tuple[str, ...]:
        """Every model output compared against PyTorch (``output_name`` first)."""
        return (self.output_name, *self.extra_outputs)

    def load_ort_class(self) -> Any:
        """Import and return the Optimum ``ORTModelFor...`` class."""
        module = importlib.import_module("optimum.onnxruntime")
        return getattr(module, self.ort_model_class)

    def load_torch_class(self) -> Any:
        """Import and return the ``transformers`` ``AutoModelFor...`` class."""
        module = importlib.import_module("transformers")
        return getattr(module, self.torch_model_class)

    def check_config(self, config: dict[str, Any]) -> None:
        """Run ``config_check`` (if any) on a parsed ``config.json``; it raises when the model does not fit."""
        if self.config_check is not None:
            load_object(self.config_check)(config)

    def load_pipeline_class(self) -> Any:
        """Import and return the pipeline class."""
        return load_object(self.pipeline_class)


def load_object(dotted_path: str) -> Any:
    """Import ``"package.module.NAME"`` and return ``NAME`` (how the registry's dotted paths are resolved)."""
    module_name, _, attr = dotted_path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


_PIPELINES = "onnx_pipelines.pipelines"
_ENDPOINTS = "onnx_pipelines.serving.tasks"
_BENCH = "onnx_pipelines.benchmark.tasks"
_ADAPTERS = "onnx_pipelines.parity.adapters"

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="text-classification",
            ort_model_class="ORTModelForSequenceClassification",
            export_task="text-classification",
            pipeline_task="text-classification",
            pipeline_class=f"{_PIPELINES}.text_classification.OnnxTextClassificationPipeline",
            output_name="logits",
            head_suffixes=("ForSequenceClassification",),
            torch_model_class="AutoModelForSequenceClassification",
            description="labels and scores for single texts or text pairs",
            validation_inputs=("texts", "pairs"),
            optional_input_fields=("text_pair",),
            metric="accuracy",
            call_options=("top_k",),
            endpoint=f"{_ENDPOINTS}.TEXT_CLASSIFICATION",
            bench_driver=f"{_BENCH}.TEXT_CLASSIFICATION",
            parity_adapter=f"{_ADAPTERS}.text_classification.TextClassificationAdapter",
        ),
        TaskSpec(
            name="token-classification",
            ort_model_class="ORTModelForTokenClassification",
            export_task="token-classification",
            pipeline_task="token-classification",
            pipeline_class=f"{_PIPELINES}.token_classification.OnnxTokenClassificationPipeline",
            output_name="logits",
            head_suffixes=("ForTokenClassification",),
            torch_model_class="AutoModelForTokenClassification",
            description="a label per token or entity spans (NER), with aggregation strategies",
            token_level=True,
            metric="seqeval",
            call_options=("aggregation_strategy", "stride"),
            endpoint=f"{_ENDPOINTS}.TOKEN_CLASSIFICATION",
            bench_driver=f"{_BENCH}.TOKEN_CLASSIFICATION",
            parity_adapter=f"{_ADAPTERS}.token_classification.TokenClassificationAdapter",
        ),
        TaskSpec(
            name="question-answering",
            ort_model_class="ORTModelForQuestionAnswering",
            export_task="question-answering",
            pipeline_task="question-answering",
            pipeline_class=f"{_PIPELINES}.question_answering.OnnxQuestionAnsweringPipeline",
            output_name="start_logits",
            head_suffixes=("ForQuestionAnswering",),
            torch_model_class="AutoModelForQuestionAnswering",
            description="extractive answers: a span of the context for each question",
            extra_outputs=("end_logits",),
            token_level=True,
            validation_inputs=("question-context",),
            input_fields=("question", "context"),
            metric="squad",
            call_options=("top_k", "doc_stride"),
            endpoint=f"{_ENDPOINTS}.QUESTION_ANSWERING",
            bench_driver=f"{_BENCH}.QUESTION_ANSWERING",
            parity_adapter=f"{_ADAPTERS}.question_answering.QuestionAnsweringAdapter",
        ),
        TaskSpec(
            name="zero-shot-classification",
            ort_model_class="ORTModelForSequenceClassification",
            export_task="text-classification",
            pipeline_task="zero-shot-classification",
            pipeline_class=f"{_PIPELINES}.zero_shot.OnnxZeroShotClassificationPipeline",
            output_name="logits",
            head_suffixes=("ForSequenceClassification",),
            torch_model_class="AutoModelForSequenceClassification",
            description="scores for labels chosen at call time, from an NLI (entailment) model",
            validation_inputs=("texts", "pairs"),
            required_options=("candidate_labels",),
            config_check=f"{_PIPELINES}.zero_shot.check_nli_config",
            metric="accuracy",
            call_options=("candidate_labels", "hypothesis_template", "multi_label"),
            endpoint=f"{_ENDPOINTS}.ZERO_SHOT_CLASSIFICATION",
            bench_driver=f"{_BENCH}.ZERO_SHOT_CLASSIFICATION",
            parity_adapter=f"{_ADAPTERS}.zero_shot.ZeroShotAdapter",
        ),
        TaskSpec(
            name="text-ranking",
            ort_model_class="ORTModelForSequenceClassification",
            export_task="text-classification",
            pipeline_task="text-classification",
            pipeline_class=f"{_PIPELINES}.text_ranking.OnnxTextRankingPipeline",
            output_name="logits",
            head_suffixes=("ForSequenceClassification",),
            torch_model_class="AutoModelForSequenceClassification",
            description="cross-encoder reranking: relevance scores of (query, passage) pairs, passages best first",
            validation_inputs=("query-passages",),
            input_fields=("text", "text_pair"),  # query, passage: predict takes --text and --text-pair
            config_check=f"{_PIPELINES}.text_ranking.check_ranking_config",
            endpoint=f"{_ENDPOINTS}.TEXT_RANKING",  # POST /rerank
            bench_driver=f"{_BENCH}.TEXT_RANKING",
            parity_adapter=f"{_ADAPTERS}.text_ranking.TextRankingAdapter",
        ),
        TaskSpec(
            name="feature-extraction",
            ort_model_class="ORTModelForFeatureExtraction",
            export_task="feature-extraction",
            pipeline_task="feature-extraction",
            pipeline_class=f"{_PIPELINES}.feature_extraction.OnnxFeatureExtractionPipeline",
            output_name="last_hidden_state",
            head_suffixes=(),
            torch_model_class="AutoModel",
            description="token-level hidden states as nested lists, as transformers' feature-extraction gives",
            token_level=True,
            endpoint=f"{_ENDPOINTS}.FEATURE_EXTRACTION",
            bench_driver=f"{_BENCH}.FEATURE_EXTRACTION",
            parity_adapter=f"{_ADAPTERS}.feature_extraction.FeatureExtractionAdapter",
        ),
        TaskSpec(
            name="sentence-embeddings",
            ort_model_class="ORTModelForFeatureExtraction",
            export_task="feature-extraction",
            pipeline_task="feature-extraction",
            pipeline_class=f"{_PIPELINES}.sentence_embeddings.SentenceEmbeddingPipeline",
            output_name="last_hidden_state",
            head_suffixes=(),
            torch_model_class="AutoModel",
            description="pooled sentence vectors, as sentence-transformers computes them",
            token_level=True,
            endpoint=f"{_ENDPOINTS}.SENTENCE_EMBEDDINGS",
            parity_adapter=f"{_ADAPTERS}.sentence_embeddings.SentenceEmbeddingsAdapter",
        ),
    )
}

TASK_ALIASES: dict[str, str] = {
    "sentiment-analysis": "text-classification",
    "sentence-similarity": "sentence-embeddings",
    "ner": "token-classification",
    "zero-shot": "zero-shot-classification",
    "rerank": "text-ranking",
    "reranking": "text-ranking",
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
