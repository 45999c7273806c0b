"""The task-adapter interface: everything about a task that the parity evaluator does not know.

The evaluator (:mod:`onnx_pipelines.parity.evaluator`) runs one fixed sequence for every task: load
the rows, tokenize them once, run the PyTorch reference and each ONNX variant on the *same* padded
batches, compare the raw outputs, derive predictions, score them. A :class:`TaskAdapter` supplies only
what differs, as class attributes (data) and a few small hooks:

=====================  ======================================================================
``task``               the task name it serves (a key of :data:`onnx_pipelines.tasks.TASKS`)
``input_roles``        :class:`~onnx_pipelines.eval_data.ColumnMapping` roles the rows must have
``optional_roles``     roles used when the user maps them (e.g. ``text_pair``)
``label_role``         the role holding gold labels, or ``None`` for tasks without labels
``model_outputs``      raw output names fetched from both models (``logits``, ``start_logits``...)
``compared``           the per-example arrays compared (:class:`OutputSpec`)
``metrics``            the task metrics (:class:`MetricSpec`), first one gates ``max_metric_drop``
``encode``             rows -> one tokenized, padded batch (numpy)
``split_outputs``      raw batch outputs -> one dict of arrays per example (masks applied)
``predict``            per-example outputs -> :class:`Predictions` (label + reference margin)
``references``         gold labels of the rows, in the form ``predict`` returns
``label_name``         a prediction as a human-readable string
=====================  ======================================================================

Adapters are stateless; everything about the model at hand comes in an :class:`AdapterContext`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from onnx_pipelines.eval_data import ColumnMapping


@dataclass(frozen=True)
class OutputSpec:
    """One per-example array the evaluator compares between the reference and a variant.

    Attributes:
        name: Key in the dicts :meth:`TaskAdapter.split_outputs` returns (``"logits"``,
            ``"sentence_embedding"``, ...).
        cosine: Also report per-example cosine similarity (embeddings).
    """

    name: str
    cosine: bool = False


@dataclass(frozen=True)
class MetricSpec:
    """A task metric computed with an ``evaluate`` module from :func:`onnx_pipelines.metrics.load_metric`.

    Attributes:
        name: Name in reports, e.g. ``"macro_f1"``.
        metric: The ``evaluate`` metric to load, e.g. ``"f1"``.
        key: The key of the value in the dict ``compute`` returns.
        kwargs: Extra arguments of ``compute`` (``{"average": "macro"}``).
        scale: Multiplier that brings the value to 0-1 (``squad`` reports percentages: ``0.01``).
        on_details: Score :attr:`Predictions.details` instead of the labels (a reranker's scores of every
            candidate, for NDCG and MRR).
    """

    name: str
    metric: str
    key: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    scale: float = 1.0
    on_details: bool = False


@dataclass(frozen=True)
class Predictions:
    """What a model predicts for each example, and how sure it is.

    Attributes:
        labels: One prediction per example (a label id, a neighbour index, a span ...), comparable
            with ``==`` between the reference and a variant.
        margins: Per example, how far the prediction is from changing (top-1 minus top-2 score). The
            evaluator ranks disagreements by the *reference's* margin: a variant that contradicts a
            confident reference is the worst case.
        scores: Per example, the score of the predicted label (a probability where the task has one).
        details: Per example, what a metric needs beyond the label (``MetricSpec.on_details``), e.g. the
            score of every candidate of a query; ``None`` when no metric needs more.
    """

    labels: list[Any]
    margins: np.ndarray
    scores: np.ndarray
    details: list[Any] | None = None


@dataclass(frozen=True)
class AdapterContext:
    """What the hooks may need to know about the model and the run.

    Attributes:
        model_path: The PyTorch model folder (config, tokenizer, sentence-transformers files).
        config: The parsed ``config.json``.
        tokenizer: The model's tokenizer (shared by the reference and every variant).
        max_length: Tokens kept per example.
        columns: The dataset's column mapping.
        options: Task options given by the user (zero-shot ``candidate_labels``, QA ``doc_stride`` ...).
    """

    model_path: Any
    config: Mapping[str, Any]
    tokenizer: Any
    max_length: int
    columns: ColumnMapping
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id2label(self) -> dict[int, str]:
        """``config.id2label`` with integer keys (empty when the model has no labels)."""
        return {int(k): str(v) for k, v in (self.config.get("id2label") or {}).items()}

    @property
    def label2id(self) -> dict[str, int]:
        """The inverse of :attr:`id2label`."""
        return {name: i for i, name in self.id2label.items()}


class TaskAdapter:
    """Base class of the per-task hooks; override the attributes and the hooks that differ.

    The defaults fit text tasks whose rows are one text (and optionally a second text), tokenized by
    the model's tokenizer with truncation at ``max_length``.

    Example:
        >>> class MyAdapter(TaskAdapter):  # doctest: +SKIP
        ...     task = "my-task"
        ...     model_outputs = ("logits",)
        ...     compared = (OutputSpec("logits"),)
        ...     def predict(self, outputs, ctx): ...
    """

    task: ClassVar[str] = ""
    input_roles: ClassVar[tuple[str, ...]] = ("text",)
    optional_roles: ClassVar[tuple[str, ...]] = ()
    label_role: ClassVar[str | None] = None
    model_outputs: ClassVar[tuple[str, ...]] = ()
    compared: ClassVar[tuple[OutputSpec, ...]] = ()
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()

    def default_max_length(self, config: Mapping[str, Any], tokenizer: Any, model_path: Any) -> int:
        """Tokens kept per example when the user gives no ``max_length``.

        The tokenizer's ``model_max_length`` capped at ``max_position_embeddings`` (tokenizers often
        report a huge sentinel).
        """
        limit = int(config.get("max_position_embeddings") or 512)
        reported = getattr(tokenizer, "model_max_length", None) or limit
        return int(min(int(reported), limit))

    def texts(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext) -> tuple[list[str], list[str] | None]:
        """The first texts and, when mapped, the second texts of ``rows``."""
        first = [str(t) for t in rows[ctx.columns.text]]
        pair = ctx.columns.text_pair
        if pair is not None and "text_pair" in self.optional_roles and pair in rows:
            return first, [str(t) for t in rows[pair]]
        return first, None

    def lengths(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext) -> list[int]:
        """Token count of each row after truncation (what length-sorted batching sorts by)."""
        first, second = self.texts(rows, ctx)
        encoded = ctx.tokenizer(first, second, truncation=True, max_length=ctx.max_length)
        return [len(ids) for ids in encoded["input_ids"]]

    def encode(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext) -> dict[str, np.ndarray]:
        """Tokenize ``rows`` (one batch) into padded int64 numpy arrays, fed unchanged to both models."""
        first, second = self.texts(rows, ctx)
        encoded = ctx.tokenizer(first, second, padding=True, truncation=True, max_length=ctx.max_length,
                                return_tensors="np")
        return {key: np.asarray(value, dtype=np.int64) for key, value in encoded.items()}

    def split_outputs(self, raw: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray],
                      ctx: AdapterContext) -> list[dict[str, np.ndarray]]:
        """Cut a batch's raw outputs into one dict per example, keyed by :attr:`compared` names.

        The default takes each output in :attr:`model_outputs` row by row; outputs with a sequence
        axis (``(batch, seq, ...)``) keep only the example's real tokens (``attention_mask``), so padding
        never enters a comparison.
        """
        mask = batch.get("attention_mask")
        count = len(next(iter(batch.values())))
        per_example: list[dict[str, np.ndarray]] = [{} for _ in range(count)]
        for name in self.model_outputs:
            values = np.asarray(raw[name], dtype=np.float32)
            for i in range(count):
                row = values[i]
                if mask is not None and values.ndim >= 3 and values.shape[1] == mask.shape[1]:
                    row = row[mask[i].astype(bool)]
                per_example[i][name] = row
        return per_example

    def predict(self, outputs: Sequence[Mapping[str, np.ndarray]], ctx: AdapterContext) -> Predictions | None:
        """Predictions from per-example outputs (``None`` when the task has no discrete prediction)."""
        raise NotImplementedError

    def compare_predictions(self, reference: Predictions, candidate: Predictions) -> dict[str, float]:
        """Measures of a variant's predictions against the reference's beyond label agreement (0-1, 1 = same).

        Reported with the task metrics, next to the reference's own value of 1 (e.g. a reranker's
        Kendall tau between the two orders of each query). None by default.
        """
        return {}

    def references(self, dataset: Any, ctx: AdapterContext) -> list[Any] | None:
        """Gold labels of the evaluated rows (a ``datasets.Dataset``) in the form :meth:`predict` returns.

        Called only when :attr:`label_role` is mapped to a column present in the data.
        """
        return None

    def label_name(self, label: Any, ctx: AdapterContext) -> str:
        """A prediction or gold label as a string for reports."""
        return str(label)

    def describe(self, rows: Mapping[str, Sequence[Any]], index: int, ctx: AdapterContext) -> str:
        """The input of example ``index`` as text, for the list of disagreements."""
        first, second = self.texts({k: [v[index]] for k, v in rows.items()}, ctx)
        return first[0] if second is None else f"{first[0]} [SEP] {second[0]}"
