"""``seqeval`` metric for ``evaluate.load``: entity-level scores of IOB-tagged sequences, offline.

Same inputs and output keys as the Hugging Face Hub ``seqeval`` metric: one dict per entity type
(``{"precision", "recall", "f1", "number"}``) plus ``overall_precision``, ``overall_recall``,
``overall_f1`` and ``overall_accuracy`` (token accuracy).
"""

from __future__ import annotations

from typing import Any

import datasets
import evaluate
import seqeval.scheme
from seqeval.metrics import accuracy_score, classification_report

from onnx_pipelines.errors import InvalidConfigError

_SCHEMES = ("IOB1", "IOB2", "IOE1", "IOE2", "IOBES", "BILOU")

_INPUTS_DESCRIPTION = """
Args:
    predictions (list of list of str): predicted tags per sentence, e.g. [["B-PER", "I-PER", "O"]].
    references (list of list of str): true tags per sentence, same lengths as predictions.
    suffix (bool): True if the tag type comes before the IOB prefix ("PER-B"). Defaults to False.
    scheme (str, optional): one of IOB1, IOB2, IOE1, IOE2, IOBES, BILOU; None for seqeval's lenient
        default chunking.
    mode (str, optional): "strict" to count only exact entity matches under ``scheme``.
    sample_weight (list of float, optional): per-sentence weights.
    zero_division ("warn", 0 or 1): the value returned when a score is undefined.

Returns:
    one dict per entity type with precision, recall, f1 and number (its support), and
    overall_precision, overall_recall, overall_f1 (micro-averaged over entities) and overall_accuracy
    (over tokens).
"""


class Seqeval(evaluate.Metric):
    """Entity-level precision, recall and F1 of sequence labelling (NER, chunking), with seqeval."""

    def _info(self) -> evaluate.MetricInfo:
        tags = datasets.List(datasets.Value("string"))
        return evaluate.MetricInfo(
            description=type(self).__doc__ or "",
            citation="",
            inputs_description=_INPUTS_DESCRIPTION,
            features=datasets.Features({"predictions": tags, "references": tags}),
            codebase_urls=["https://github.com/chakki-works/seqeval"],
        )

    def _compute(
        self,
        predictions: list[list[str]],
        references: list[list[str]],
        suffix: bool = False,
        scheme: str | None = None,
        mode: str | None = None,
        sample_weight: list[float] | None = None,
        zero_division: str | int = "warn",
    ) -> dict[str, Any]:
        scheme_class = None
        if scheme is not None:
            if scheme not in _SCHEMES:
                raise InvalidConfigError(
                    f"Unknown seqeval scheme {scheme!r}: use one of {', '.join(_SCHEMES)}, or None."
                )
            scheme_class = getattr(seqeval.scheme, scheme)
        report = classification_report(
            y_true=references,
            y_pred=predictions,
            suffix=suffix,
            output_dict=True,
            scheme=scheme_class,
            mode=mode,
            sample_weight=sample_weight,
            zero_division=zero_division,
        )
        overall = report.pop("micro avg")
        report.pop("macro avg")
        report.pop("weighted avg")
        scores: dict[str, Any] = {
            entity_type: {
                "precision": float(row["precision"]),
                "recall": float(row["recall"]),
                "f1": float(row["f1-score"]),
                "number": int(row["support"]),
            }
            for entity_type, row in report.items()
        }
        scores["overall_precision"] = float(overall["precision"])
        scores["overall_recall"] = float(overall["recall"])
        scores["overall_f1"] = float(overall["f1-score"])
        scores["overall_accuracy"] = float(accuracy_score(y_true=references, y_pred=predictions))
        return scores
