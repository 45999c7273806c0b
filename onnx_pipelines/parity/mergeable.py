"""Mergeable parity statistics: compute them per block of rows, merge them in any order, get one report.

A parity run split into blocks (Ray actors, or shards of a dataset too big for one pass) needs every
number of the report to be the same whatever the split and the order the blocks finish in. Maxima,
minima and counts merge exactly; sums are kept exact with :class:`ExactSum` (Shewchuk's non-overlapping
partials, the algorithm behind :func:`math.fsum`), so a mean is the correctly rounded exact sum divided
by the count, never a float total that depends on the order of additions. The worst example and the
worst disagreements are kept with their row index, ties going to the smaller index, as the one-pass
comparison does.

:class:`OutputStats` mirrors :func:`compare_outputs` field by field and
returns the same :class:`~onnx_pipelines.parity.compare.OutputComparison`; :class:`TopK` keeps the
``k`` worst disagreements; :class:`ExactSum` is the sum both use.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from onnx_pipelines.errors import ParityError
from onnx_pipelines.parity.compare import DiffHistogram, OutputComparison, cosine_similarity


class ExactSum:
    """A float sum that is exact until it is read, so it can be split and merged in any order.

    Example:
        >>> a, b = ExactSum(), ExactSum()
        >>> a.add(1e16); a.add(1.0); b.add(-1e16)
        >>> a.merge(b).value
        1.0
    """

    __slots__ = ("partials",)

    def __init__(self, values: Iterable[float] = ()) -> None:
        self.partials: list[float] = []
        for value in values:
            self.add(value)

    def add(self, value: float) -> None:
        """Add one finite float, keeping the sum exact (Shewchuk's ``msum``)."""
        x = float(value)
        kept = 0
        for y in self.partials:
            if abs(x) < abs(y):
                x, y = y, x
            high = x + y
            low = y - (high - x)
            if low:
                self.partials[kept] = low
                kept += 1
            x = high
        self.partials[kept:] = [x]

    def merge(self, other: ExactSum) -> ExactSum:
        """Add every partial of ``other`` into this sum; returns ``self``."""
        for partial in other.partials:
            self.add(partial)
        return self

    @property
    def value(self) -> float:
        """The exact sum, rounded once to the nearest float."""
        return math.fsum(self.partials)

    def __getstate__(self) -> list[float]:
        return self.partials

    def __setstate__(self, state: list[float]) -> None:
        self.partials = list(state)


@dataclass
class OutputStats:
    """Running comparison of one output between the reference and a variant; ``merge`` two of them freely.

    Attributes:
        name: The compared output (``logits`` ...).
        cosine: Whether per-example cosine similarity is kept (embeddings).
    """

    name: str
    cosine: bool = False
    examples: int = 0
    values: int = 0
    nonfinite_values: int = 0
    abs_sum: ExactSum = field(default_factory=ExactSum)
    worst_value: float = -1.0
    worst_index: int | None = None
    max_rel: float = 0.0
    cosine_min: float = math.inf
    cosine_sum: ExactSum = field(default_factory=ExactSum)
    histogram_counts: np.ndarray | None = None
    histogram_zeros: int = 0
    histogram_nonfinite: int = 0

    def add(self, indices: Sequence[int], reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> None:
        """Compare the examples at row ``indices`` (positions among all evaluated rows) and fold them in.

        Raises:
            ParityError: Lengths differ, or an example's shapes differ.
        """
        if not len(indices) == len(reference) == len(candidate):
            raise ParityError(f"Output {self.name!r}: {len(indices)} indices, {len(reference)} reference and "
                              f"{len(candidate)} variant examples.")
        per_example_max = np.zeros(len(indices))
        for position, (index, ref_raw, cand_raw) in enumerate(zip(indices, reference, candidate, strict=True)):
            ref = np.asarray(ref_raw, dtype=np.float64)
            cand = np.asarray(cand_raw, dtype=np.float64)
            if ref.shape != cand.shape:
                raise ParityError(
                    f"Output {self.name!r} of example {index} has shape {cand.shape} in the variant but {ref.shape} "
                    "in the reference: the ONNX graph does not compute the same output."
                )
            bad = int(np.size(cand) - np.count_nonzero(np.isfinite(cand)))
            self.nonfinite_values += bad
            if bad:
                worst, relative = math.inf, math.inf
            else:
                diff = np.abs(cand - ref)
                worst = float(diff.max()) if diff.size else 0.0
                scale = float(np.abs(ref).max()) if ref.size else 0.0
                relative = worst / scale if scale > 0 else (0.0 if worst == 0 else math.inf)
                self.abs_sum.add(float(diff.sum()))
                self.values += int(diff.size)
                if self.cosine:
                    similarity = cosine_similarity(ref.ravel(), cand.ravel())
                    self.cosine_min = min(self.cosine_min, similarity)
                    self.cosine_sum.add(similarity)
            per_example_max[position] = worst
            self.max_rel = max(self.max_rel, relative)
            self._keep_worst(worst, int(index))
        self.examples += len(indices)
        self._add_histogram(DiffHistogram.of(per_example_max))

    def merge(self, other: OutputStats) -> OutputStats:
        """Fold ``other`` (the same output over other rows) into this one; returns ``self``."""
        if other.name != self.name:
            raise ParityError(f"Cannot merge statistics of output {other.name!r} into {self.name!r}.")
        self.examples += other.examples
        self.values += other.values
        self.nonfinite_values += other.nonfinite_values
        self.abs_sum.merge(other.abs_sum)
        if other.worst_index is not None:
            self._keep_worst(other.worst_value, other.worst_index)
        self.max_rel = max(self.max_rel, other.max_rel)
        self.cosine_min = min(self.cosine_min, other.cosine_min)
        self.cosine_sum.merge(other.cosine_sum)
        if other.histogram_counts is not None:
            self._add_histogram(DiffHistogram(self._edges(), list(other.histogram_counts), other.histogram_zeros,
                                              other.histogram_nonfinite))
        return self

    def comparison(self) -> OutputComparison:
        """The merged statistics as the report's :class:`OutputComparison`."""
        finite, count = self.nonfinite_values == 0, self.examples
        histogram = DiffHistogram(self._edges(), [int(c) for c in self._counts()], self.histogram_zeros,
                                  self.histogram_nonfinite)
        keep_cosine = self.cosine and finite and count > 0
        return OutputComparison(
            name=self.name,
            examples=count,
            max_abs_diff=(self.worst_value if count else 0.0) if finite else None,
            mean_abs_diff=(self.abs_sum.value / self.values if self.values else 0.0) if finite else None,
            max_rel_diff=(self.max_rel if count else 0.0) if finite else None,
            nonfinite_values=self.nonfinite_values,
            worst_example=self.worst_index,
            cosine_min=self.cosine_min if keep_cosine else None,
            cosine_mean=self.cosine_sum.value / count if keep_cosine else None,
            histogram=histogram,
        )

    def _keep_worst(self, value: float, index: int) -> None:
        if (self.worst_index is None or value > self.worst_value
                or (value == self.worst_value and index < self.worst_index)):
            self.worst_value, self.worst_index = value, index

    def _add_histogram(self, histogram: DiffHistogram) -> None:
        self.histogram_counts = self._counts() + np.asarray(histogram.counts, dtype=np.int64)
        self.histogram_zeros += histogram.zeros
        self.histogram_nonfinite += histogram.nonfinite

    def _counts(self) -> np.ndarray:
        if self.histogram_counts is None:
            return np.zeros(len(self._edges()) - 1, dtype=np.int64)
        return self.histogram_counts

    @staticmethod
    def _edges() -> list[float]:
        return DiffHistogram.of(np.zeros(0)).log10_edges


class TopK:
    """The ``k`` items with the smallest keys seen in any number of merged parts (ties: the smaller key wins).

    Keys must be unique and totally ordered, e.g. ``(-reference_margin, row_index)``.

    Example:
        >>> a, b = TopK(2), TopK(2)
        >>> a.add((-0.9, 4), "d"); a.add((-0.1, 1), "a"); b.add((-0.5, 2), "b")
        >>> [item for _, item in a.merge(b).items()]
        ['d', 'b']
    """

    def __init__(self, k: int) -> None:
        self.k = k
        self._heap: list[tuple[Any, Any]] = []  # max-heap on the key, through negated wrappers

    def add(self, key: Any, item: Any) -> None:
        if self.k <= 0:
            return
        entry = (_Reverse(key), item)
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, entry)  # type: ignore[misc]
        elif key < self._heap[0][0].key:
            heapq.heapreplace(self._heap, entry)  # type: ignore[misc]

    def merge(self, other: TopK) -> TopK:
        for key, item in other.items():
            self.add(key, item)
        return self

    def items(self) -> list[tuple[Any, Any]]:
        """``(key, item)`` pairs, smallest key first."""
        return sorted(((entry.key, item) for entry, item in self._heap), key=lambda pair: pair[0])


@dataclass(frozen=True)
class _Reverse:
    key: Any

    def __lt__(self, other: _Reverse) -> bool:
        return bool(other.key < self.key)


def compare_outputs(name: str, reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], *,
                    cosine: bool = False) -> OutputComparison:
    """Compare one output, example by example.

    Args:
        name: The output's name, for the report.
        reference: One array per example from the PyTorch reference.
        candidate: One array per example from the variant, same shapes.
        cosine: Also compute per-example cosine similarity (for vectors).

    Raises:
        ParityError: The lists differ in length, or an example's shapes differ (the variant's graph
            does not compute the same output).
    """
    if len(reference) != len(candidate):
        raise ParityError(f"Output {name!r}: {len(candidate)} variant examples for {len(reference)} reference ones.")
    # One code path for every engine: a run cut into blocks merges these same statistics.
    stats = OutputStats(name, cosine=cosine)
    stats.add(range(len(reference)), reference, candidate)
    return stats.comparison()


__all__ = ["ExactSum", "OutputStats", "TopK", "compare_outputs"]
