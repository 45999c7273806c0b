"""Parity hooks for text ranking (cross-encoder rerankers): one example is one query with its candidates.

Each row holds a query (the ``text`` role), its candidate passages (``text_pair``, a list) and, when
given, their relevance labels (``label``, a list of 0/1 or graded values). Every (query, passage) pair
is tokenized as ``CrossEncoder`` does (longest-first truncation) and scored by both models on the same
batches. Compared: each query's raw relevance scores. Prediction: the top-1 passage (agreement is top-1
agreement); margin: the sigmoid score gap between the first and second passage. Metrics with labels:
NDCG@10, MRR and top-1 accuracy; against the reference: Kendall tau of the two orders, per query, averaged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from onnx_pipelines.errors import DatasetError
from onnx_pipelines.parity.adapters.base import AdapterContext, MetricSpec, OutputSpec, Predictions, TaskAdapter
from onnx_pipelines.pipelines.text_ranking import relevance_logits, relevant_index, sigmoid

#: Key of the per-row candidate counts in an encoded batch (no model takes it as an input).
_COUNTS = "candidates_per_row"


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b of two score lists over the same candidates (1: same order; 1 when both are constant)."""
    from scipy.stats import kendalltau

    if len(a) < 2:
        return 1.0
    tau = kendalltau(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)).statistic
    return 1.0 if np.isnan(tau) else float(tau)


class TextRankingAdapter(TaskAdapter):
    """Queries with candidate passages, scored by a cross-encoder (``AutoModelForSequenceClassification``)."""

    task = "text-ranking"
    input_roles = ("text", "text_pair")
    label_role = "label"
    model_outputs = ("logits",)
    compared = (OutputSpec("scores"),)
    metrics = (
        MetricSpec(name="ndcg@10", metric="ranking", key="ndcg", kwargs={"k": 10}, on_details=True),
        MetricSpec(name="mrr", metric="ranking", key="mrr", on_details=True),
        MetricSpec(name="top1_accuracy", metric="ranking", key="top1_accuracy", on_details=True),
    )

    def _pairs(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext) -> tuple[list[str], list[str], list[int]]:
        queries, passages, counts = [], [], []
        pair_column = ctx.columns.text_pair
        for i, (query, candidates) in enumerate(zip(rows[ctx.columns.text], rows[str(pair_column)], strict=True)):
            if isinstance(candidates, str) or not candidates:
                raise DatasetError(f"Row {i}: the {pair_column!r} column must hold a non-empty list of passages "
                                   f"for text-ranking; got {candidates!r:.60}.")
            queries += [str(query)] * len(candidates)
            passages += [str(c) for c in candidates]
            counts.append(len(candidates))
        return queries, passages, counts

    def lengths(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext) -> list[int]:
        """Per row, its longest pair in tokens (a row is padded to it with the other rows of its batch)."""
        queries, passages, counts = self._pairs(rows, ctx)
        ids = ctx.tokenizer(queries, passages, truncation="longest_first", max_length=ctx.max_length)["input_ids"]
        bounds = np.cumsum([0, *counts])
        return [max(len(x) for x in ids[bounds[r]:bounds[r + 1]]) for r in range(len(counts))]

    def encode(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext) -> dict[str, np.ndarray]:
        queries, passages, counts = self._pairs(rows, ctx)
        encoded = ctx.tokenizer(queries, passages, padding=True, truncation="longest_first",
                                max_length=ctx.max_length, return_tensors="np")
        batch = {key: np.asarray(value, dtype=np.int64) for key, value in encoded.items()}
        batch[_COUNTS] = np.asarray(counts, dtype=np.int64)
        return batch

    def split_outputs(self, raw: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray],
                      ctx: AdapterContext) -> list[dict[str, np.ndarray]]:
        scores = relevance_logits(np.asarray(raw["logits"]), relevant_index(ctx.config))
        bounds = np.cumsum([0, *batch[_COUNTS].tolist()])
        return [{"scores": scores[bounds[r]:bounds[r + 1]]} for r in range(len(bounds) - 1)]

    def predict(self, outputs: Sequence[Mapping[str, np.ndarray]], ctx: AdapterContext) -> Predictions:
        labels, margins, scores, details = [], [], [], []
        for output in outputs:
            probs = sigmoid(np.asarray(output["scores"], dtype=np.float64)).astype(np.float64)
            order = np.argsort(-probs, kind="stable")
            labels.append(int(order[0]))
            margins.append(float(probs[order[0]] - probs[order[1]]) if len(order) > 1 else 1.0)
            scores.append(float(probs[order[0]]))
            details.append(probs.tolist())
        return Predictions(labels=labels, margins=np.asarray(margins), scores=np.asarray(scores), details=details)

    def compare_predictions(self, reference: Predictions, candidate: Predictions) -> dict[str, float]:
        assert reference.details is not None and candidate.details is not None  # predict sets them
        taus = [kendall_tau(a, b) for a, b in zip(reference.details, candidate.details, strict=True)]
        return {"kendall_tau": float(np.mean(taus)) if taus else 1.0}

    def references(self, dataset: Any, ctx: AdapterContext) -> list[Any] | None:
        column = ctx.columns.label
        if column is None:
            return None
        relevance = [[float(x) for x in row] for row in dataset[column]]
        counts = [len(row) for row in dataset[str(ctx.columns.text_pair)]]
        if [len(r) for r in relevance] != counts:
            raise DatasetError(f"The {column!r} column must hold one relevance value per passage of "
                               f"{ctx.columns.text_pair!r} in every row.")
        return relevance

    def label_name(self, label: Any, ctx: AdapterContext) -> str:
        if isinstance(label, list):  # gold: the relevant candidates
            return "relevant: " + ", ".join(f"#{i}" for i, x in enumerate(label) if x > 0)
        return f"passage #{label}"

    def describe(self, rows: Mapping[str, Sequence[Any]], index: int, ctx: AdapterContext) -> str:
        return str(rows[ctx.columns.text][index])
