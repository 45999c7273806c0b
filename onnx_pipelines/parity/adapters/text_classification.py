"""Parity hooks for text classification: compare logits, agree on the top-1 label, score accuracy and F1."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from onnx_pipelines.eval_data import encode_labels
from onnx_pipelines.parity.adapters.base import AdapterContext, MetricSpec, OutputSpec, Predictions, TaskAdapter

#: Accuracy and macro-F1 on gold labels: the metrics of every single-label classification adapter.
CLASSIFICATION_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(name="accuracy", metric="accuracy", key="accuracy"),
    MetricSpec(name="macro_f1", metric="f1", key="f1", kwargs={"average": "macro"}),
)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed in float64 so that ties and margins are stable."""
    shifted = logits.astype(np.float64) - np.max(logits, axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / np.sum(exp, axis=-1, keepdims=True)


class TextClassificationAdapter(TaskAdapter):
    """Single texts or text pairs with one label each (``AutoModelForSequenceClassification``).

    Compared: the raw ``logits``. Prediction: the arg-max label; margin: top-1 minus top-2 probability
    (for a single-logit head, the sigmoid's distance from 0.5, doubled). Metrics: accuracy and
    macro-F1 on the gold labels, which may be label names or ids.
    """

    task = "text-classification"
    input_roles = ("text",)
    optional_roles = ("text_pair",)
    label_role = "label"
    model_outputs = ("logits",)
    compared = (OutputSpec("logits"),)
    metrics = CLASSIFICATION_METRICS

    def predict(self, outputs: Sequence[Mapping[str, np.ndarray]], ctx: AdapterContext) -> Predictions:
        logits = np.stack([np.asarray(o["logits"], dtype=np.float64).reshape(-1) for o in outputs])
        if logits.shape[1] == 1:  # one logit: binary head read through a sigmoid
            positive = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            labels = (positive > 0.5).astype(int)
            scores = np.where(labels == 1, positive, 1.0 - positive)
            return Predictions(labels=labels.tolist(), margins=np.abs(2.0 * positive - 1.0), scores=scores)
        probs = softmax(logits)
        ranked = np.sort(probs, axis=1)
        labels = np.argmax(logits, axis=1)
        return Predictions(labels=[int(x) for x in labels], margins=ranked[:, -1] - ranked[:, -2],
                           scores=ranked[:, -1])

    def references(self, dataset: Any, ctx: AdapterContext) -> list[Any] | None:
        column = ctx.columns.label
        if column is None:
            return None
        label2id = ctx.label2id or {str(i): i for i in range(int(ctx.config.get("num_labels", 2)))}
        return encode_labels(dataset, column, label2id)

    def label_name(self, label: Any, ctx: AdapterContext) -> str:
        return ctx.id2label.get(int(label), str(label))
