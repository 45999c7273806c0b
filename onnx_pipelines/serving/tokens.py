"""Count the tokens of each input, to bound batches by a token budget and refuse over-long inputs."""

from __future__ import annotations

import copy
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

    @property
    def exact(self) -> bool:
        """Whether counts come from a tokenizer (``False``: a word-count estimate)."""
        return self._tokenizer is not None

    def count(self, items: Sequence[Item]) -> list[int]:
        """Return the number of tokens of each item, special tokens included, without truncation."""
        if self._tokenizer is None:
            return [_estimate(item) for item in items]
        counts = [0] * len(items)
        singles = [i for i, item in enumerate(items) if item.text_pair is None]
        pairs = [i for i, item in enumerate(items) if item.text_pair is not None]
        with self._lock:
            if singles:
                encoded = self._tokenizer([items[i].text for i in singles], truncation=False, verbose=False)
                for i, ids in zip(singles, encoded["input_ids"], strict=True):
                    counts[i] = len(ids)
            if pairs:
                encoded = self._tokenizer(
                    [items[i].text for i in pairs],
                    [items[i].text_pair for i in pairs],
                    truncation=False,
                    verbose=False,
                )
                for i, ids in zip(pairs, encoded["input_ids"], strict=True):
                    counts[i] = len(ids)
        return counts

    def costs(self, items: Sequence[Item], *, truncate: bool) -> list[int]:
        """Return what each item costs the token budget once truncated; refuse over-long items.

        Args:
            items: One request's inputs.
            truncate: Whether the request accepts truncation. Without it an input longer than
                :attr:`max_input_tokens` is refused (only when counts are exact, not estimated).

        Raises:
            InputLimitError: An input is too long and ``truncate`` is false.
        """
        tokens = self.count(items)
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
