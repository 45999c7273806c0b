"""Reranking with a cross-encoder: score (query, passage) pairs and order passages by relevance.

A cross-encoder is a sequence-classification model over the pair ``[CLS] query [SEP] passage [SEP]``,
with one output (a relevance logit, read through a sigmoid) or two (softmax over "not relevant" /
"relevant"). :class:`OnnxTextRankingPipeline` runs it on ONNX Runtime and answers as
``sentence_transformers.CrossEncoder`` does: :meth:`~OnnxTextRankingPipeline.predict` gives one score per
pair, :meth:`~OnnxTextRankingPipeline.rank` the passages of one query, best first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from onnx_pipelines.errors import InvalidInputError, TaskMismatchError
from onnx_pipelines.pipelines.text_classification import OnnxTextClassificationPipeline

#: Label names (lower case) that mark the "relevant" class of a two-label cross-encoder head.
RELEVANT_LABELS = ("relevant", "relevance", "positive", "yes", "true", "label_1", "1")


def relevant_index(config: Mapping[str, Any]) -> int | None:
    """Which logit is the relevance score: ``None`` for a one-logit head, else the "relevant" label's index.

    Args:
        config: A parsed ``config.json`` (``id2label``, ``num_labels``).

    Raises:
        TaskMismatchError: The head has more than two labels, or two without a "relevant" label.

    Example:
        >>> relevant_index({"id2label": {"0": "relevance"}})
        >>> relevant_index({"id2label": {"0": "irrelevant", "1": "relevant"}})
        1
    """
    id2label = {int(k): str(v) for k, v in (config.get("id2label") or {}).items()}
    count = len(id2label) or int(config.get("num_labels") or 0)
    if count == 1:
        return None
    if count == 2:
        for index, name in sorted(id2label.items()):
            if name.lower() in RELEVANT_LABELS:
                return index
    raise TaskMismatchError(
        f"A text-ranking model needs a sequence-classification head with one relevance logit, or two labels of "
        f"which one is named {' / '.join(RELEVANT_LABELS[:3])}; this one has {count} labels "
        f"({', '.join(id2label.values()) or 'none named'}). Use --task text-classification for a classifier."
    )


def check_ranking_config(config: Mapping[str, Any]) -> None:
    """The task registry's ``config_check`` for text-ranking (see :func:`relevant_index`)."""
    relevant_index(config)


def relevance_logits(logits: np.ndarray, relevant: int | None) -> np.ndarray:
    """The raw relevance score of each row: the logit (one label) or the log-odds of "relevant" (two)."""
    logits = np.asarray(logits, dtype=np.float32)
    if relevant is None:
        return logits.reshape(len(logits), -1)[:, 0]
    return logits[:, relevant] - logits[:, 1 - relevant]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, in float32 as sentence-transformers applies it."""
    return (1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float32)))).astype(np.float32)


def _pairs(inputs: Any) -> list[tuple[str, str]]:
    if isinstance(inputs, (tuple, list)) and len(inputs) == 2 and all(isinstance(x, str) for x in inputs):
        inputs = [inputs]  # one pair, as CrossEncoder.predict takes it
    pairs = []
    for i, pair in enumerate(inputs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise InvalidInputError(f"inputs[{i}] must be a (query, passage) pair of strings; got {pair!r:.80}.")
        pairs.append((pair[0], pair[1]))
    return pairs


class OnnxTextRankingPipeline(OnnxTextClassificationPipeline):
    """A cross-encoder reranker on ONNX Runtime, with ``sentence_transformers.CrossEncoder``'s ``predict`` / ``rank``.

    Scores are the sigmoid of the relevance logit (``raw_scores=True``: the logit itself), as
    ``CrossEncoder`` computes them for a one-label model; for a two-label head, the softmax probability of
    the "relevant" label (raw: its log-odds). Pairs are truncated longest-first to the model's length.

    Called directly, it takes ``{"text": query, "text_pair": passage}`` pairs (answered ``{"score"}``) or
    ``{"query": ..., "texts": [...]}`` (answered with the ranking ``[{"index", "score"}, ...]``, best first);
    a single input gives a single output and a list a list.

    Example:
        >>> ranker = load_pipeline("text-ranking", "../shared/models/bbc-rerank-minilm")  # doctest: +SKIP
        >>> ranker.rank("Shares rise", ["The team won.", "Stocks climbed."], top_k=1)  # doctest: +SKIP
        [{'corpus_id': 1, 'score': 0.97}]
    """

    def predict(self, pairs: Sequence[Sequence[str]] | Sequence[str], *, batch_size: int = 32,
                raw_scores: bool = False, truncation: bool = True) -> np.ndarray:
        """One relevance score per (query, passage) pair, as ``CrossEncoder.predict`` returns them.

        Args:
            pairs: ``[(query, passage), ...]``, or one pair.
            batch_size: Pairs per model call.
            raw_scores: Return the relevance logit instead of its sigmoid.
            truncation: Cut pairs longer than the model takes (longest first); ``False`` lets the model fail.

        Returns:
            A float32 array, one score per pair (shape ``(1,)`` for one pair).

        Raises:
            InvalidInputError: A pair is not two strings.
        """
        items = _pairs(pairs)
        if not items:
            return np.zeros(0, dtype=np.float32)
        relevant = relevant_index(self.model.config.to_dict())
        tokenizer_kwargs: dict[str, Any] = {"truncation": "longest_first"} if truncation else {}
        scores = []
        for start in range(0, len(items), max(int(batch_size), 1)):
            chunk = [{"text": q, "text_pair": p} for q, p in items[start:start + batch_size]]
            scores.append(relevance_logits(self._logits(chunk, tokenizer_kwargs), relevant))
        raw = np.concatenate(scores).astype(np.float32)
        return raw if raw_scores else sigmoid(raw)

    def rank(self, query: str, documents: Sequence[str], *, top_k: int | None = None,
             return_documents: bool = False, raw_scores: bool = False, batch_size: int = 32,
             truncation: bool = True) -> list[dict[str, Any]]:
        """The documents ordered by relevance to ``query``, as ``CrossEncoder.rank`` returns them.

        Args:
            query: The query.
            documents: The passages to order.
            top_k: Keep the ``top_k`` best; all when ``None``.
            return_documents: Add each document's ``text``.
            raw_scores, batch_size, truncation: As in :meth:`predict`.

        Returns:
            ``[{"corpus_id": index, "score": float, ("text": str)}, ...]``, best first; equal scores keep
            the documents' order.

        Raises:
            InvalidInputError: ``query`` or a document is not a string, or ``top_k`` is below 1.
        """
        if not isinstance(query, str) or isinstance(documents, str):
            raise InvalidInputError("rank(query, documents): query is a string and documents a list of strings.")
        if top_k is not None and top_k < 1:
            raise InvalidInputError(f"top_k must be at least 1 (or None for all); got {top_k}.")
        scores = self.predict([(query, d) for d in documents], batch_size=batch_size, raw_scores=raw_scores,
                              truncation=truncation)
        order = np.argsort(-scores, kind="stable")[:top_k]
        ranked: list[dict[str, Any]] = []
        for index in order:
            entry: dict[str, Any] = {"corpus_id": int(index), "score": float(scores[index])}
            if return_documents:
                entry["text"] = documents[index]
            ranked.append(entry)
        return ranked

    def __call__(self, inputs: Any = None, *args: Any, **kwargs: Any) -> Any:
        """Score pairs or rank queries' passages; a single input gives a single output, a list a list.

        Args:
            inputs: A ``{"text": query, "text_pair": passage}`` pair (what ``onnx-pipelines predict --text Q
                --text-pair D`` sends) answered with ``{"score": float}``; or ``{"query": ..., "texts": [...]}``,
                answered with its ranking ``[{"index", "score"}, ...]``, best first; or a list of either.
            **kwargs: ``top_k`` (rankings), ``raw_scores``, ``batch_size``, ``truncation`` (as in :meth:`predict`);
                ``max_length`` is accepted and capped by the model's length.

        Raises:
            InvalidInputError: An input of neither form.
        """
        single = isinstance(inputs, Mapping)
        entries = [inputs] if single else list(inputs or [])
        options = {k: kwargs[k] for k in ("raw_scores", "batch_size", "truncation") if k in kwargs}
        pairs = [(i, e) for i, e in enumerate(entries) if isinstance(e, Mapping) and "text_pair" in e]
        scores = self.predict([(str(e["text"]), str(e["text_pair"])) for _, e in pairs], **options)
        answers: list[Any] = [None] * len(entries)
        for (i, _), score in zip(pairs, scores, strict=True):
            answers[i] = {"score": float(score)}
        for i, entry in enumerate(entries):
            if answers[i] is not None:
                continue
            if not (isinstance(entry, Mapping) and isinstance(entry.get("query"), str)
                    and isinstance(entry.get("texts"), (list, tuple))):
                raise InvalidInputError(
                    f'inputs[{i}] must be {{"text": query, "text_pair": passage}} or {{"query": str, "texts": '
                    f"[str, ...]}}; got {entry!r:.80}.")
            ranked = self.rank(entry["query"], list(entry["texts"]), top_k=kwargs.get("top_k"), **options)
            answers[i] = [{"index": r["corpus_id"], "score": r["score"]} for r in ranked]
        return answers[0] if single else answers
