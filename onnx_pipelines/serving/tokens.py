"""Count the tokens of each input, to bound batches by a token budget and refuse over-long inputs.

The encoding made to count an input is the one the model runs: :meth:`TokenCounter.encode` attaches it to
the input (:class:`~onnx_pipelines.pipelines.inputs.Encoded`) when the served pipeline takes encodings, so a
request is tokenized once (as text-embeddings-inference's queue entries carry their encodings).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
from collections.abc import Sequence
from typing import Any

from onnx_pipelines.errors import InputLimitError
from onnx_pipelines.serving.tasks import Item

# Sub-word tokenizers give about 4 tokens per 3 English words; 2 more for [CLS] and [SEP].
_TOKENS_PER_WORD = 4 / 3
_SPECIAL_TOKENS = 2
# transformers marks "no limit" with a huge model_max_length (int(1e30)).
_NO_LIMIT = 1_000_000


class TokenCounter:
    """Counts tokens with the pipeline's tokenizer, or estimates them from words without one.

    The counter works on a private copy of the tokenizer under a lock: a fast tokenizer is not safe to
    call from two threads while one of them changes its truncation settings, and the inference thread
    calls the pipeline's own tokenizer with truncation on while we count with it off.

    Args:
        pipeline: The served pipeline. Read: ``tokenizer`` (optional), ``max_seq_length`` (optional,
            sentence-transformers style), ``model.config.max_position_embeddings`` (optional).

    Example:
        >>> counter = TokenCounter(object())  # no tokenizer: estimate from words
        >>> counter.count([Item("three short words")])
        [6]
    """

    def __init__(self, pipeline: Any) -> None:
        tokenizer = getattr(pipeline, "tokenizer", None)
        self._tokenizer = copy.deepcopy(tokenizer) if tokenizer is not None else None
        self._lock = threading.Lock()
        #: Longest input the model takes, in tokens; ``None`` when unknown (then nothing is refused).
        self.max_input_tokens = _max_input_tokens(pipeline, tokenizer)
        #: Whether the pipeline runs the encodings made here (our pipelines for text classification, sentence
        #: embeddings and feature extraction) instead of tokenizing the texts again.
        self.keeps_encodings = bool(getattr(pipeline, "accepts_encoded", False)) and tokenizer is not None

    @property
    def exact(self) -> bool:
        """Whether counts come from a tokenizer (``False``: a word-count estimate)."""
        return self._tokenizer is not None

    def count(self, items: Sequence[Item]) -> list[int]:
        """Return the number of tokens of each item, special tokens included, without truncation."""
        if self._tokenizer is None:
            return [_estimate(item) for item in items]
        return [len(features["input_ids"]) for features in self._tokenize(items)]

    def _tokenize(self, items: Sequence[Item]) -> list[dict[str, list[int]]]:
        """The tokenizer's untruncated output for each item (singles and pairs tokenized in one call each)."""
        assert self._tokenizer is not None  # callers check
        features: list[dict[str, list[int]]] = [{} for _ in items]
        singles = [i for i, item in enumerate(items) if item.text_pair is None]
        pairs = [i for i, item in enumerate(items) if item.text_pair is not None]
        with self._lock:
            for indices, texts in ((singles, ([items[i].text for i in singles],)),
                                   (pairs, ([items[i].text for i in pairs], [items[i].text_pair for i in pairs]))):
                if not indices:
                    continue
                encoded = self._tokenizer(*texts, truncation=False, verbose=False)
                for row, i in enumerate(indices):
                    features[i] = {key: list(values[row]) for key, values in encoded.items()}
        return features

    def encode(self, items: Sequence[Item], *, truncate: bool) -> tuple[list[Item], list[int]]:
        """Count each item's tokens, refuse over-long ones, and attach the encoding the model will run.

        Args:
            items: One request's inputs.
            truncate: Whether the request accepts truncation. Without it an input longer than
                :attr:`max_input_tokens` is refused (only when counts are exact, not estimated).

        Returns:
            The items (each carrying its :class:`~onnx_pipelines.pipelines.inputs.Encoded` where the pipeline
            takes encodings and the input fits the model whole; a truncated input is tokenized again, cut, by
            the pipeline) and what each costs the token budget once truncated.

        Raises:
            InputLimitError: An input is too long and ``truncate`` is false.
        """
        if self._tokenizer is None:
            return list(items), self._limit([_estimate(item) for item in items], truncate=truncate)
        from onnx_pipelines.pipelines.inputs import Encoded

        features = self._tokenize(items)
        costs = self._limit([len(f["input_ids"]) for f in features], truncate=truncate)
        if not self.keeps_encodings:
            return list(items), costs
        limit = self.max_input_tokens
        kept = [
            dataclasses.replace(item, encoding=Encoded(item.text, item.text_pair, f))
            if limit is None or len(f["input_ids"]) <= limit else item
            for item, f in zip(items, features, strict=True)
        ]
        return kept, costs

    def costs(self, items: Sequence[Item], *, truncate: bool) -> list[int]:
        """What each item costs the token budget once truncated (see :meth:`encode`, which also keeps the encoding).

        Raises:
            InputLimitError: An input is too long and ``truncate`` is false.
        """
        return self.encode(items, truncate=truncate)[1]

    def _limit(self, tokens: list[int], *, truncate: bool) -> list[int]:
        limit = self.max_input_tokens
        if limit is None:
            return tokens
        if not truncate and self.exact:
            for i, n in enumerate(tokens):
                if n > limit:
                    raise InputLimitError(
                        f"`inputs[{i}]` has {n} tokens; the model takes at most {limit}. "
                        'Send a shorter text or set "truncate": true.'
                    )
        return [min(n, limit) for n in tokens]


def _estimate(item: Item) -> int:
    words = len(item.text.split()) + (len(item.text_pair.split()) if item.text_pair else 0)
    return math.ceil(words * _TOKENS_PER_WORD) + _SPECIAL_TOKENS


def _max_input_tokens(pipeline: Any, tokenizer: Any) -> int | None:
    config = getattr(getattr(pipeline, "model", None), "config", None)
    for candidate in (
        getattr(pipeline, "max_seq_length", None),
        getattr(tokenizer, "model_max_length", None),
        getattr(config, "max_position_embeddings", None),
    ):
        if isinstance(candidate, int) and 0 < candidate < _NO_LIMIT:
            return candidate
    return None
