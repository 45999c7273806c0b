"""``squad`` metric for ``evaluate.load``: SQuAD v1.1 exact match and token F1, offline.

Answers are compared after the official v1.1 normalization (lower case, punctuation and the articles
a/an/the removed, whitespace collapsed); each question scores its best match over the gold answers,
and both scores are percentages over the references. As in the official script and the Hugging Face
Hub metric, a reference without a prediction scores 0 and predictions without a reference are ignored.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any

import datasets
import evaluate

from onnx_pipelines.errors import InvalidInputError

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")

_INPUTS_DESCRIPTION = """
Args:
    predictions (list of dict): {"id": str, "prediction_text": str} per question.
    references (list of dict): {"id": str, "answers": {"text": [str, ...], "answer_start": [int, ...]}}
        per question; answer_start is not used for scoring.

Returns:
    exact_match: percentage of questions whose normalized prediction equals a normalized gold answer.
    f1: mean over questions of the best token-overlap F1 against the gold answers, as a percentage.
"""


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and articles, and collapse whitespace (SQuAD v1.1 normalization).

    Args:
        text: An answer.

    Returns:
        The normalized answer.
    """
    text = "".join(char for char in text.lower() if char not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match_score(prediction: str, gold: str) -> float:
    """Whether the normalized answers are equal.

    Args:
        prediction: The predicted answer.
        gold: One gold answer.

    Returns:
        1.0 when they are equal after :func:`normalize_answer`, else 0.0.
    """
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    """F1 of the normalized answers' tokens, each answer taken as a bag of words.

    Args:
        prediction: The predicted answer.
        gold: One gold answer.

    Returns:
        The F1 score, between 0.0 and 1.0 (0.0 when no token is shared).
    """
    prediction_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    num_same = sum((Counter(prediction_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


class Squad(evaluate.Metric):
    """SQuAD v1.1 exact match and F1 of extractive question answering."""

    def _info(self) -> evaluate.MetricInfo:
        string_value = datasets.Value("string")
        return evaluate.MetricInfo(
            description=type(self).__doc__ or "",
            citation="",
            inputs_description=_INPUTS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": {"id": string_value, "prediction_text": string_value},
                    "references": {
                        "id": string_value,
                        "answers": {
                            "text": datasets.List(string_value),
                            "answer_start": datasets.List(datasets.Value("int32")),
                        },
                    },
                }
            ),
            reference_urls=["https://rajpurkar.github.io/SQuAD-explorer/"],
        )

    def _compute(
        self, predictions: list[dict[str, Any]], references: list[dict[str, Any]]
    ) -> dict[str, float]:
        if not references:
            raise InvalidInputError("squad got no references: pass at least one question to score.")
        predicted = {prediction["id"]: prediction["prediction_text"] for prediction in predictions}
        exact_match = f1 = 0.0
        for reference in references:
            if reference["id"] not in predicted:
                continue
            answer = predicted[reference["id"]]
            golds = reference["answers"]["text"]
            if not golds:
                raise InvalidInputError(
                    f"Reference {reference['id']!r} has no gold answer: SQuAD v1 scoring needs at least one "
                    "(unanswerable questions belong to SQuAD v2)."
                )
            exact_match += max(exact_match_score(answer, gold) for gold in golds)
            f1 += max(f1_score(answer, gold) for gold in golds)
        total = len(references)
        return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}
