"""``f1`` metric for ``evaluate.load``, computed offline with scikit-learn's ``f1_score``."""

from sklearn.metrics import f1_score

from onnx_pipelines.metrics import _sklearn


class F1(_sklearn.AveragedClassificationMetric):
    """F1 score, the harmonic mean of precision and recall: 2 * P * R / (P + R)."""

    _score_function = staticmethod(f1_score)
