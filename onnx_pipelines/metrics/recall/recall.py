"""``recall`` metric for ``evaluate.load``, computed offline with scikit-learn's ``recall_score``."""

from sklearn.metrics import recall_score

from onnx_pipelines.metrics import _sklearn


class Recall(_sklearn.AveragedClassificationMetric):
    """Recall, the fraction of true positives that are predicted: TP / (TP + FN)."""

    _score_function = staticmethod(recall_score)
