"""Length-aware batching: sort texts by token count, cut batches by a token budget, restore order.

Padding every batch to its longest item wastes compute when lengths vary (BBC articles run from a few
dozen to 512+ tokens). Sorting by length first makes each batch's items nearly the same length, and a
token budget (``batch size x padded length``) keeps long-text batches from blowing up memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from onnx_pipelines.errors import InvalidConfigError

T = TypeVar("T")


def batch_is_full(count: int, longest: int, next_length: int, *, max_batch_size: int, max_tokens: int) -> bool:
    """Whether a batch must close before taking one more item: the padded-token budget rule.

    A batch of ``count`` items padded to ``longest`` tokens is full when it already holds
    ``max_batch_size`` items, or when the next item would take it over ``max_tokens`` padded tokens
    (items x longest length). An empty batch is never full, so an over-long item gets a batch of its own.

    Example:
        >>> batch_is_full(2, 100, 5, max_batch_size=8, max_tokens=256)  # 3 x 100 > 256
        True
        >>> batch_is_full(0, 0, 9999, max_batch_size=8, max_tokens=256)
        False
    """
    if count == 0:
        return False
    return count >= max_batch_size or (count + 1) * max(longest, next_length) > max_tokens


def length_sorted_batches(lengths: Sequence[int], *, max_batch_size: int = 32,
                          max_tokens: int = 8192) -> list[list[int]]:
    """Group item indices into batches of similar length.

    Items are taken longest first (so the first batch shows the worst-case memory at once), and a
    batch closes when adding the next item would exceed ``max_batch_size`` items or ``max_tokens``
    padded tokens (items x longest length in the batch). An item longer than ``max_tokens`` gets a
    batch of its own.

    Args:
        lengths: Token count of each item.
        max_batch_size: Most items per batch.
        max_tokens: Most padded tokens per batch.

    Returns:
        Lists of indices into ``lengths``; every index appears exactly once.

    Example:
        >>> length_sorted_batches([5, 100, 7, 98], max_batch_size=2)
        [[1, 3], [2, 0]]
    """
    if max_batch_size < 1 or max_tokens < 1:
        raise InvalidConfigError(
            f"max_batch_size and max_tokens must be >= 1 (got {max_batch_size}, {max_tokens})."
        )
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        length = max(int(lengths[index]), 1)
        if batch_is_full(len(current), longest, length, max_batch_size=max_batch_size, max_tokens=max_tokens):
            batches.append(current)
            current, longest = [], 0
        current.append(index)
        longest = max(longest, length)
    if current:
        batches.append(current)
    return batches


def restore_order(batches: Sequence[Sequence[int]], results: Sequence[Sequence[T]]) -> list[T]:
    """Put per-batch results back into the original item order.

    Args:
        batches: The index batches from :func:`length_sorted_batches`.
        results: One result sequence per batch, aligned with its indices.
    """
    total = sum(len(b) for b in batches)
    ordered: list[T | None] = [None] * total
    for indices, values in zip(batches, results, strict=True):
        if len(indices) != len(values):
            raise ValueError(f"A batch of {len(indices)} items produced {len(values)} results.")
        for index, value in zip(indices, values, strict=True):
            ordered[index] = value
    return ordered  # type: ignore[return-value]
