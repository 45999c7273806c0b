"""Run any pipeline over a whole dataset with length-aware batching, results in the original order.

transformers' pipelines batch items in the order given and pad each batch to its longest item, so a
batch holding one 512-token article and 31 short ones pays for 32 x 512 tokens. :func:`predict_dataset`
tokenizes once to learn each item's length, groups items of similar length under a padded-token budget
(:func:`~onnx_pipelines.length_batches.length_sorted_batches`), runs the batches, and puts the results back in
input order. It works with any ``transformers`` text pipeline: ours, and the plain PyTorch ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from onnx_pipelines.errors import DatasetError, InvalidInputError
from onnx_pipelines.length_batches import length_sorted_batches, restore_order
from onnx_pipelines.pipelines.truncation import cut_texts
from onnx_pipelines.text_column import column_items

#: Texts tokenized per call when measuring lengths (bounds the tokenizer's memory on huge datasets).
_LENGTH_CHUNK = 1024


def predict_dataset(
    pipe: Any,
    texts_or_dataset: Any,
    *,
    max_batch_size: int = 32,
    max_tokens: int = 8192,
    column: str = "text",
    **call_kwargs: Any,
) -> list[Any] | np.ndarray:
    """Run ``pipe`` on every item, batching items of similar token length together.

    Args:
        pipe: A ``transformers`` text pipeline (e.g. from :func:`~onnx_pipelines.load_pipeline`, or
            ``transformers.pipeline(...)`` on PyTorch).
        texts_or_dataset: A list of texts (or ``{"text", "text_pair"}`` dicts), or a ``datasets.Dataset``
            whose ``column`` holds the texts.
        max_batch_size: Most items per model call.
        max_tokens: Most padded tokens (items x longest item) per model call; bounds memory on long texts.
        column: The text column when a ``datasets.Dataset`` is given.
        **call_kwargs: Passed to every pipeline call (e.g. ``truncation=True``, ``max_length=256``,
            ``top_k=2``). ``max_length`` also caps the lengths used for batching.

    Returns:
        One result per item, in input order: a list of what the pipeline returns per item, or a
        ``(n, dim)`` array for pipelines that return arrays (sentence embeddings).

    Raises:
        DatasetError: If the dataset has no ``column``.
        InvalidInputError: If an item is not a non-empty string or text pair.
        InvalidConfigError: If ``max_batch_size`` or ``max_tokens`` is below 1.

    Example:
        >>> clf = load_pipeline("text-classification", "models/bbc-news-minilm")  # doctest: +SKIP
        >>> predict_dataset(clf, articles, max_length=512)[:1]  # doctest: +SKIP
        [{'label': 'business', 'score': 0.98}]
    """
    items = dataset_items(texts_or_dataset, column)
    if not items:
        return []
    lengths = token_lengths(pipe.tokenizer, items, _length_limit(pipe, call_kwargs))
    batches = length_sorted_batches(lengths, max_batch_size=max_batch_size, max_tokens=max_tokens)
    results = []
    for indices in batches:
        outputs = pipe([items[i] for i in indices], batch_size=len(indices), **call_kwargs)
        results.append(list(outputs))
    ordered = restore_order(batches, results)
    if isinstance(ordered[0], np.ndarray):
        return np.stack(ordered)
    return ordered


def dataset_items(texts_or_dataset: Any, column: str = "text") -> list[Any]:
    """The texts (or text-pair dicts) of a list or a ``datasets.Dataset`` column, checked."""
    items = column_items(texts_or_dataset, column, what="The data", error=InvalidInputError,
                         column_error=DatasetError, column_option="column")
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            if not isinstance(item.get("text"), str) or not item["text"].strip():
                raise InvalidInputError(f"Item {index} is a dict without a non-empty 'text'.")
        elif not isinstance(item, str) or not item.strip():
            raise InvalidInputError(f"Item {index} is {item!r}: every item must be a non-empty string.")
    return items


def token_lengths(tokenizer: Any, items: Sequence[Any], max_length: int | None) -> list[int]:
    """Token count of each item (with special tokens), capped at ``max_length``.

    Uses the tokenizer's batch call (parallel in fast tokenizers), a chunk at a time.
    """
    lengths: list[int] = []
    for start in range(0, len(items), _LENGTH_CHUNK):
        chunk = items[start:start + _LENGTH_CHUNK]
        pairs = [i for i in chunk if isinstance(i, Mapping)]
        if pairs and len(pairs) != len(chunk):
            raise InvalidInputError("Mix of plain texts and text pairs: pass one kind per dataset.")
        if pairs:
            encoded = tokenizer([p["text"] for p in pairs], [p.get("text_pair") or "" for p in pairs],
                                truncation=max_length is not None, max_length=max_length)
        else:
            # Lengths only order the batches, so cut texts need no check here (see ``truncation.py``).
            texts = cut_texts(list(chunk), max_length) if max_length else list(chunk)
            encoded = tokenizer(texts, truncation=max_length is not None, max_length=max_length)
        lengths.extend(len(ids) for ids in encoded["input_ids"])
    return lengths


def _length_limit(pipe: Any, call_kwargs: Mapping[str, Any]) -> int | None:
    if call_kwargs.get("truncation") is False:
        return None
    if call_kwargs.get("max_length"):
        return int(call_kwargs["max_length"])
    pooled_limit = getattr(getattr(pipe, "pooling", None), "max_seq_length", None)
    if pooled_limit:
        return int(pooled_limit)
    limit = getattr(pipe.tokenizer, "model_max_length", None)
    return int(limit) if limit and limit < 1_000_000 else None
