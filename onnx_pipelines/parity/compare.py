"""Numeric comparison of per-example outputs: absolute / relative differences, cosine, NaN and inf.

Every statistic is computed in float64 over the examples' real values (the adapter has already cut
padding away), so two runs on the same outputs give the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Histogram of per-example max |difference|: log10 bins from 1e-10 to 1e4, a quarter decade each.
HISTOGRAM_LOG10_RANGE: tuple[float, float] = (-10.0, 4.0)
HISTOGRAM_BINS_PER_DECADE = 4


@dataclass(frozen=True)
class DiffHistogram:
    """How per-example max absolute differences spread, on a log scale (for the HTML plot).

    Attributes:
        log10_edges: Bin edges in log10 units (``len(counts) + 1`` values).
        counts: Examples per bin; values below the first edge go to the first bin, above the last to
            the last.
        zeros: Examples whose outputs match exactly.
        nonfinite: Examples whose variant outputs hold NaN or inf.
    """

    log10_edges: list[float]
    counts: list[int]
    zeros: int
    nonfinite: int

    @classmethod
    def of(cls, per_example_max: np.ndarray) -> DiffHistogram:
        low, high = HISTOGRAM_LOG10_RANGE
        edges = np.linspace(low, high, int((high - low) * HISTOGRAM_BINS_PER_DECADE) + 1)
        finite = per_example_max[np.isfinite(per_example_max)]
        positive = finite[finite > 0]
        logs = np.clip(np.log10(positive), low, high) if positive.size else np.empty(0)
        counts, _ = np.histogram(logs, bins=edges)
        return cls(
            log10_edges=[round(float(e), 4) for e in edges],
            counts=[int(c) for c in counts],
            zeros=int(np.sum(finite == 0)),
            nonfinite=int(per_example_max.size - finite.size),
        )


@dataclass(frozen=True)
class OutputComparison:
    """How far one output of a variant is from the reference, over all examples.

    Attributes:
        name: The compared output (``logits``, ``sentence_embedding`` ...).
        examples: Number of examples compared.
        max_abs_diff: Largest ``|variant - reference|`` over every value; ``None`` when the variant
            produced NaN or inf.
        mean_abs_diff: Mean ``|variant - reference|`` over every value; ``None`` as above.
        max_rel_diff: Largest, over examples, of ``max|variant - reference| / max|reference|`` (an
            example's worst error relative to its largest output); ``None`` as above.
        nonfinite_values: NaN or inf values in the variant's outputs (any is a failure).
        worst_example: Index (in evaluated-row order) of the example with the largest difference.
        cosine_min: Smallest per-example cosine similarity (embeddings only, else ``None``).
        cosine_mean: Mean per-example cosine similarity (embeddings only, else ``None``).
        histogram: Distribution of the per-example max absolute differences.
    """

    name: str
    examples: int
    max_abs_diff: float | None
    mean_abs_diff: float | None
    max_rel_diff: float | None
    nonfinite_values: int
    worst_example: int | None
    cosine_min: float | None
    cosine_mean: float | None
    histogram: DiffHistogram

    @property
    def finite(self) -> bool:
        """Whether every value of the variant's output was a finite number."""
        return self.nonfinite_values == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutputComparison:
        fields = dict(data)
        fields["histogram"] = DiffHistogram(**fields["histogram"])
        return cls(**fields)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two flat vectors; two zero vectors are identical (1.0), one zero vector is not (0.0)."""
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norms == 0:
        return 1.0 if not a.any() and not b.any() else 0.0
    return float(np.dot(a, b) / norms)
