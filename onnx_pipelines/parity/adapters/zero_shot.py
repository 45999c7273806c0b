"""Parity hooks for zero-shot classification: NLI logits of every (text, hypothesis) pair, label agreement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.eval_data import encode_labels
from onnx_pipelines.parity.adapters.base import AdapterContext, OutputSpec, Predictions, TaskAdapter
from onnx_pipelines.parity.adapters.text_classification import CLASSIFICATION_METRICS, softmax


class ZeroShotAdapter(TaskAdapter):
    """Texts scored against candidate labels by an NLI head, as transformers' zero-shot pipeline scores them.

    Options (``AdapterContext.options``): ``candidate_labels`` (required; a list or a comma-separated
    string), ``hypothesis_template`` (default ``"This example is {}."``), ``multi_label``.

    Each row becomes one premise/hypothesis pair per candidate label (the text truncated, never the
    hypothesis). Compared: the NLI ``logits`` of every pair. Prediction: the candidate with the highest
    entailment score (softmax over candidates, or entailment vs contradiction per label with
    ``multi_label``). Metrics: accuracy and macro-F1 against gold label *names* among the candidates.
    """

    task = "zero-shot-classification"
    input_roles = ("text",)
    label_role = "label"
    model_outputs = ("logits",)
    compared = (OutputSpec("logits"),)
    metrics = CLASSIFICATION_METRICS

    def candidates(self, ctx: AdapterContext) -> list[str]:
        """The candidate labels of the run."""
        from onnx_pipelines.pipelines.zero_shot import check_candidate_labels

        if ctx.options.get("candidate_labels") is None:
            raise InvalidConfigError(
                "zero-shot-classification parity needs the candidate labels: pass --candidate-labels A,B,... "
                "(or task_options={'candidate_labels': [...]}); the gold labels must be among them."
            )
        return check_candidate_labels(ctx.options["candidate_labels"])

    def hypotheses(self, ctx: AdapterContext) -> list[str]:
        from onnx_pipelines.pipelines.zero_shot import DEFAULT_HYPOTHESIS_TEMPLATE, check_hypothesis_template

        template = check_hypothesis_template(ctx.options.get("hypothesis_template") or DEFAULT_HYPOTHESIS_TEMPLATE)
        return [template.format(label) for label in self.candidates(ctx)]

    def _pairs(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext) -> tuple[list[str], list[str]]:
        hypotheses = self.hypotheses(ctx)
        texts = [str(t) for t in rows[ctx.columns.text]]
        return [t for t in texts for _ in hypotheses], hypotheses * len(texts)

    def lengths(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext) -> list[int]:
        premises, hypotheses = self._pairs(rows, ctx)
        encoded = ctx.tokenizer(premises, hypotheses, truncation="only_first", max_length=ctx.max_length)
        per_label = len(self.candidates(ctx))
        ids = encoded["input_ids"]
        return [sum(len(x) for x in ids[i:i + per_label]) for i in range(0, len(ids), per_label)]

    def encode(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext) -> dict[str, np.ndarray]:
        premises, hypotheses = self._pairs(rows, ctx)
        encoded = ctx.tokenizer(premises, hypotheses, padding=True, truncation="only_first",
                                max_length=ctx.max_length, return_tensors="np")
        return {key: np.asarray(value, dtype=np.int64) for key, value in encoded.items()}

    def split_outputs(self, raw: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray],
                      ctx: AdapterContext) -> list[dict[str, np.ndarray]]:
        per_label = len(self.candidates(ctx))
        logits = np.asarray(raw["logits"], dtype=np.float32)
        return [{"logits": logits[i:i + per_label]} for i in range(0, len(logits), per_label)]

    def predict(self, outputs: Sequence[Mapping[str, np.ndarray]], ctx: AdapterContext) -> Predictions:
        from onnx_pipelines.pipelines.zero_shot import entailment_index

        entail = entailment_index(ctx.id2label)
        logits = np.stack([np.asarray(o["logits"], dtype=np.float64) for o in outputs])  # (rows, labels, classes)
        if ctx.options.get("multi_label"):
            contradiction = -1 if entail == 0 else 0
            probs = softmax(logits[..., [contradiction, entail]])[..., 1]
        else:
            probs = softmax(logits[..., entail])
        ranked = np.sort(probs, axis=1)
        second = ranked[:, -2] if probs.shape[1] > 1 else np.zeros(len(probs))
        return Predictions(labels=[int(x) for x in probs.argmax(axis=1)], margins=ranked[:, -1] - second,
                           scores=ranked[:, -1])

    def references(self, dataset: Any, ctx: AdapterContext) -> list[Any] | None:
        column = ctx.columns.label
        if column is None:
            return None
        return encode_labels(dataset, column, {label: i for i, label in enumerate(self.candidates(ctx))})

    def label_name(self, label: Any, ctx: AdapterContext) -> str:
        return self.candidates(ctx)[int(label)]
