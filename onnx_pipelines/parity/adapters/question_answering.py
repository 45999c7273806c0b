"""Parity hooks for extractive question answering: start/end logits over every window, answer agreement, SQuAD.

A context longer than the window is split as transformers' question-answering pipeline splits it
(``max_length`` tokens per window, default 384, overlapping by ``doc_stride`` tokens, default 128,
the question repeated in each window); both models see the same windows. The best span over all
windows is decoded the pipeline's way (softmax per window over the context tokens, start × end
probability, at most ``max_answer_len`` tokens).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from onnx_pipelines.errors import DatasetError, InvalidConfigError
from onnx_pipelines.parity.adapters.base import AdapterContext, MetricSpec, OutputSpec, Predictions, TaskAdapter

#: Window size of transformers' question-answering pipeline.
QA_MAX_LENGTH = 384
DEFAULT_DOC_STRIDE = 128
DEFAULT_MAX_ANSWER_LEN = 15
# Batch keys carrying per-window metadata (the runners feed only model inputs).
EXAMPLE = "example_index"
OFFSETS = "offsets"
IN_CONTEXT = "in_context"
CONTEXTS = "contexts"


class QuestionAnsweringAdapter(TaskAdapter):
    """Question + context rows, optional SQuAD-style gold answers (``AutoModelForQuestionAnswering``).

    Compared: ``start_logits`` and ``end_logits`` of every real token of every window. Prediction: the
    answer text (equal when the answers are); margin: best minus second-best span score. Metrics:
    SQuAD exact match (primary) and F1, when an answers column is mapped.
    """

    task = "question-answering"
    input_roles = ("question", "context")
    label_role = "answers"
    model_outputs = ("start_logits", "end_logits")
    compared = (OutputSpec("start_logits"), OutputSpec("end_logits"))
    metrics = (
        MetricSpec(name="exact_match", metric="squad", key="exact_match", scale=0.01),
        MetricSpec(name="f1", metric="squad", key="f1", scale=0.01),
    )

    def default_max_length(self, config: Mapping[str, Any], tokenizer: Any, model_path: Any) -> int:
        return min(QA_MAX_LENGTH, super().default_max_length(config, tokenizer, model_path))

    def pairs(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext) -> tuple[list[str], list[str]]:
        """Questions and contexts of ``rows``, checked to be non-empty strings."""
        columns = (str(ctx.columns.question), str(ctx.columns.context))
        values: list[list[str]] = []
        for column in columns:
            for index, value in enumerate(rows[column]):
                if not isinstance(value, str) or not value.strip():
                    raise DatasetError(
                        f"Row {index} of the {column!r} column is {value!r}: every row needs a non-empty question "
                        "and context. Drop such rows or check --question-column / --context-column."
                    )
            values.append([str(v) for v in rows[column]])
        return values[0], values[1]

    def doc_stride(self, ctx: AdapterContext) -> int:
        stride = ctx.options.get("doc_stride", min(DEFAULT_DOC_STRIDE, ctx.max_length // 2))
        if isinstance(stride, bool) or not isinstance(stride, int) or not 0 < stride < ctx.max_length // 2 + 1:
            raise InvalidConfigError(
                f"doc_stride={stride!r} must be a positive number of tokens at most half the window "
                f"({ctx.max_length} tokens)."
            )
        return int(stride)

    def _tokenize(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext, **kwargs: Any) -> Any:
        questions, contexts = self.pairs(rows, ctx)
        return ctx.tokenizer(questions, contexts, truncation="only_second", max_length=ctx.max_length,
                             stride=self.doc_stride(ctx), return_overflowing_tokens=True, **kwargs)

    def lengths(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext) -> list[int]:
        encoded = self._tokenize(rows, ctx)
        totals = [0] * len(rows[str(ctx.columns.question)])
        for window, example in enumerate(encoded["overflow_to_sample_mapping"]):
            totals[example] += len(encoded["input_ids"][window])  # a long context costs all its windows
        return totals

    def encode(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext) -> dict[str, np.ndarray]:
        encoded = self._tokenize(rows, ctx, padding=True, return_offsets_mapping=True, return_tensors="np")
        windows = len(encoded["input_ids"])
        batch = {key: np.asarray(encoded[key], dtype=np.int64)
                 for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoded}
        batch[EXAMPLE] = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)
        batch[OFFSETS] = np.asarray(encoded["offset_mapping"], dtype=np.int64)
        batch[IN_CONTEXT] = np.array([[s == 1 for s in encoded.sequence_ids(w)] for w in range(windows)])
        batch[CONTEXTS] = np.array(self.pairs(rows, ctx)[1], dtype=object)[batch[EXAMPLE]]
        return batch

    def split_outputs(self, raw: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray],
                      ctx: AdapterContext) -> list[dict[str, np.ndarray]]:
        max_answer_len = int(ctx.options.get("max_answer_len", DEFAULT_MAX_ANSWER_LEN))
        examples = batch[EXAMPLE]
        per_example = []
        for example in range(int(examples.max()) + 1):
            windows = np.flatnonzero(examples == example)
            starts, ends, spans = [], [], []
            for w in windows:
                mask = batch["attention_mask"][w].astype(bool)
                start, end = raw["start_logits"][w], raw["end_logits"][w]
                starts.append(start[mask])
                ends.append(end[mask])
                spans += _window_spans(start, end, batch[IN_CONTEXT][w], batch[OFFSETS][w], max_answer_len)
            spans.sort(key=lambda s: -s[0])
            best = spans[0] if spans else (0.0, 0, 0)
            second = spans[1][0] if len(spans) > 1 else 0.0
            context = str(batch[CONTEXTS][windows[0]])
            per_example.append({
                "start_logits": np.concatenate(starts),
                "end_logits": np.concatenate(ends),
                "answer": np.asarray(context[best[1]:best[2]], dtype=object),
                "score": np.asarray([best[0], second]),
            })
        return per_example

    def predict(self, outputs: Sequence[Mapping[str, np.ndarray]], ctx: AdapterContext) -> Predictions:
        labels = [{"id": str(i), "prediction_text": str(o["answer"])} for i, o in enumerate(outputs)]
        scores = np.array([float(o["score"][0]) for o in outputs])
        margins = np.array([float(o["score"][0] - o["score"][1]) for o in outputs])
        return Predictions(labels=labels, margins=margins, scores=scores)

    def references(self, dataset: Any, ctx: AdapterContext) -> list[Any] | None:
        column = ctx.columns.answers
        if column is None:
            return None
        gold, unanswered = [], []
        for index, answers in enumerate(dataset[column]):
            texts = answers.get("text") if isinstance(answers, Mapping) else None
            if not isinstance(texts, list) or not [t for t in texts if isinstance(t, str) and t.strip()]:
                unanswered.append(index)
                continue
            starts = answers.get("answer_start") or [-1] * len(texts)
            gold.append({"id": str(index), "answers": {"text": [str(t) for t in texts],
                                                       "answer_start": [int(s) for s in starts]}})
        if unanswered:
            raise DatasetError(
                f"SQuAD exact match / F1 need gold answers, and rows {unanswered[:10]} of the {column!r} column have "
                "none (answers must be {'text': [...], 'answer_start': [...]} with at least one text). Drop those "
                "rows, or leave --answers-column out to compare the models without a task metric."
            )
        return gold

    def label_name(self, label: Any, ctx: AdapterContext) -> str:
        if "prediction_text" in label:
            return repr(label["prediction_text"])
        return " | ".join(repr(t) for t in label["answers"]["text"])

    def describe(self, rows: Mapping[str, Sequence[Any]], index: int, ctx: AdapterContext) -> str:
        return f"Q: {rows[str(ctx.columns.question)][index]} C: {rows[str(ctx.columns.context)][index]}"


def _window_spans(start: np.ndarray, end: np.ndarray, in_context: np.ndarray, offsets: np.ndarray,
                  max_answer_len: int) -> list[tuple[float, int, int]]:
    """The two best ``(score, start_char, end_char)`` spans of one window, scored as transformers does."""
    context = np.flatnonzero(in_context)
    if context.size == 0:
        return []
    # As the pipeline: probabilities over the context tokens and the [CLS] token (position 0), which
    # stays in the softmax (models use it for "no answer") but cannot start or end an answer.
    kept = np.concatenate([[0], context])
    start_p = _softmax(np.asarray(start, dtype=np.float64)[kept])[1:]
    end_p = _softmax(np.asarray(end, dtype=np.float64)[kept])[1:]
    scores = np.triu(np.outer(start_p, end_p))
    scores = np.tril(scores, max_answer_len - 1)
    flat = np.argsort(scores, axis=None)[::-1][:2]
    spans = []
    for index in flat:
        i, j = np.unravel_index(index, scores.shape)
        if scores[i, j] > 0:
            spans.append((float(scores[i, j]), int(offsets[context[i]][0]), int(offsets[context[j]][1])))
    return spans


def _softmax(values: np.ndarray) -> np.ndarray:
    exp = np.exp(values - values.max())
    return exp / exp.sum()
