"""Shared pieces of the bundled scikit-learn classification metrics.

The metric scripts (``accuracy/accuracy.py``, ``f1/f1.py``, ...) import this module as a whole
(``from onnx_pipelines.metrics import _sklearn``) rather than its classes: ``evaluate.load`` takes the
first concrete ``EvaluationModule`` subclass it finds in a script's namespace as the metric, so a base
class imported by name would shadow the real one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import datasets
import evaluate
import numpy as np

_INPUTS_DESCRIPTION = """
Args:
    predictions (list of int): predicted class ids (one list of ids per example for "multilabel").
    references (list of int): true class ids, same shape as predictions.
    labels (list of int, optional): the labels to include when ``average`` is not "binary".
    pos_label (int): the positive class when ``average="binary"``. Defaults to 1.
    average (str or None): "binary" (default), "micro", "macro", "weighted", "samples", or None for one
        score per label.
    sample_weight (list of float, optional): per-example weights.
    zero_division ("warn", 0, 1 or nan): the value returned when the score is undefined.

Returns:
    the score under the metric's name ("f1", "precision" or "recall"): a float, or a list of floats
    (one per label) when ``average=None``.
"""


def label_features(config_name: str) -> datasets.Features:
    """Features of integer class ids, with one list of ids per example for the "multilabel" config.

    Args:
        config_name: The metric's config name ("default" or "multilabel").

    Returns:
        The ``predictions`` / ``references`` features.
    """
    label: Any = datasets.Value("int32")
    if config_name == "multilabel":
        label = datasets.List(datasets.Value("int32"))
    return datasets.Features({"predictions": label, "references": label})


class AveragedClassificationMetric(evaluate.Metric):
    """Base of the metrics that wrap one scikit-learn score taking an ``average`` argument.

    A subclass sets ``_score_function`` (e.g. ``staticmethod(f1_score)``) and a class docstring; the
    result key is the metric's name, derived by ``evaluate`` from the class name (``F1`` -> ``f1``).
    """

    _score_function: ClassVar[Callable[..., Any]]

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=type(self).__doc__ or "",
            citation="",
            inputs_description=_INPUTS_DESCRIPTION,
            features=label_features(self.config_name),
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html"],
        )

    def _compute(
        self,
        predictions: list[Any],
        references: list[Any],
        labels: list[int] | None = None,
        pos_label: int = 1,
        average: str | None = "binary",
        sample_weight: list[float] | None = None,
        zero_division: str | float = "warn",
    ) -> dict[str, float | list[float]]:
        score = self._score_function(
            references,
            predictions,
            labels=labels,
            pos_label=pos_label,
            average=average,
            sample_weight=sample_weight,
            zero_division=zero_division,
        )
        value: float | list[float] = float(score) if np.ndim(score) == 0 else [float(s) for s in score]
        return {self.name: value}
