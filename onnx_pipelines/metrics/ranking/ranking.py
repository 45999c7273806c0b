"""``ranking`` metric for ``evaluate.load``: NDCG@k, MRR and top-1 accuracy of rankings against relevance labels."""

from __future__ import annotations

from typing import Any

import datasets
import evaluate
import numpy as np

_INPUTS_DESCRIPTION = """
Args:
    predictions (list of list of float): per query, one score per candidate (higher is more relevant).
    references (list of list of float): per query, the graded relevance of each candidate (0 = not relevant).
    k (int): the cut-off of NDCG (default 10).

Returns:
    ndcg: mean NDCG@k over queries (queries without a relevant candidate count 0).
    mrr: mean reciprocal rank of the first relevant candidate (0 when none is relevant).
    top1_accuracy: fraction of queries whose best-scored candidate is relevant.
"""


def order_of(scores: Any) -> np.ndarray:
    """Candidate indices best first; equal scores keep the candidates' order (as a stable sort)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def ndcg_at(scores: Any, relevance: Any, k: int) -> float:
    """NDCG@k of one query (linear gain, log2 discount)."""
    gains = np.asarray(relevance, dtype=np.float64)
    discounts = 1.0 / np.log2(np.arange(2, min(k, len(gains)) + 2))
    dcg = float(np.sum(gains[order_of(scores)][:k] * discounts))
    ideal = float(np.sum(np.sort(gains)[::-1][:k] * discounts))
    return dcg / ideal if ideal > 0 else 0.0


def reciprocal_rank(scores: Any, relevance: Any) -> float:
    """1 / rank of the first relevant candidate (0 when none is relevant)."""
    relevant = np.asarray(relevance, dtype=np.float64)[order_of(scores)] > 0
    return 1.0 / (int(np.argmax(relevant)) + 1) if relevant.any() else 0.0


class Ranking(evaluate.Metric):
    """Ranking quality of per-query candidate scores against relevance labels."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=type(self).__doc__ or "",
            citation="",
            inputs_description=_INPUTS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Value("float64")),
                "references": datasets.Sequence(datasets.Value("float64")),
            }),
        )

    def _compute(self, predictions: list[list[float]], references: list[list[float]], k: int = 10) -> dict[str, float]:
        pairs = list(zip(predictions, references, strict=True))
        if not pairs:
            return {"ndcg": 0.0, "mrr": 0.0, "top1_accuracy": 0.0}
        return {
            "ndcg": float(np.mean([ndcg_at(p, r, k) for p, r in pairs])),
            "mrr": float(np.mean([reciprocal_rank(p, r) for p, r in pairs])),
            "top1_accuracy": float(np.mean([float(np.asarray(r)[order_of(p)[0]] > 0) for p, r in pairs])),
        }
