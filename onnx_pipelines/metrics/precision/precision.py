"""``precision`` metric for ``evaluate.load``, computed offline with scikit-learn's ``precision_score``."""

from sklearn.metrics import precision_score

from onnx_pipelines.metrics import _sklearn


class Precision(_sklearn.AveragedClassificationMetric):
    """Precision, the fraction of predicted positives that are true positives: TP / (TP + FP)."""

    _score_function = staticmethod(precision_score)
