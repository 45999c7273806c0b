"""``accuracy`` metric for ``evaluate.load``, computed offline with scikit-learn's ``accuracy_score``."""

from __future__ import annotations

from typing import Any

import evaluate
from sklearn.metrics import accuracy_score

from onnx_pipelines.metrics import _sklearn

_INPUTS_DESCRIPTION = """
Args:
    predictions (list of int): predicted class ids (one list of ids per example for "multilabel").
    references (list of int): true class ids, same shape as predictions.
    normalize (bool): return the fraction of correct predictions (default) or their count.
    sample_weight (list of float, optional): per-example weights.

Returns:
    accuracy: a float.
"""


class Accuracy(evaluate.Metric):
    """Accuracy, the fraction of predictions equal to their reference."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=type(self).__doc__ or "",
            citation="",
            inputs_description=_INPUTS_DESCRIPTION,
            features=_sklearn.label_features(self.config_name),
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html"],
        )

    def _compute(
        self,
        predictions: list[Any],
        references: list[Any],
        normalize: bool = True,
        sample_weight: list[float] | None = None,
    ) -> dict[str, float]:
        score = accuracy_score(references, predictions, normalize=normalize, sample_weight=sample_weight)
        return {"accuracy": float(score)}
