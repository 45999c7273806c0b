"""Mergeable parity statistics: any split into blocks, merged in any order, gives the same numbers."""

from __future__ import annotations

import math
import pickle
import random

import numpy as np
import pytest

from onnx_pipelines.parity.mergeable import ExactSum, OutputStats, TopK, compare_outputs


def _outputs(count: int, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    reference = [rng.normal(size=(int(rng.integers(3, 9)), 5)).astype(np.float32) * 10.0 ** int(rng.integers(-3, 4))
                 for _ in range(count)]
    candidate = [r + rng.normal(scale=1e-5, size=r.shape).astype(np.float32) for r in reference]
    candidate[3] = reference[3].copy()  # an exact match
    candidate[7] = candidate[7] + 0.5  # the worst example
    return reference, candidate


def _merged(reference, candidate, blocks: list[list[int]], order: list[int], cosine: bool = False) -> OutputStats:
    parts = []
    for block in blocks:
        stats = OutputStats("logits", cosine=cosine)
        stats.add(block, [reference[i] for i in block], [candidate[i] for i in block])
        parts.append(pickle.loads(pickle.dumps(stats)))  # what a Ray actor sends back
    total = OutputStats("logits", cosine=cosine)
    for i in order:
        total.merge(parts[i])
    return total


@pytest.mark.parametrize("cosine", [False, True])
def test_any_split_and_order_gives_identical_numbers(cosine: bool) -> None:
    reference, candidate = _outputs(40)
    whole = _merged(reference, candidate, [list(range(40))], [0], cosine).comparison()
    rng = random.Random(1)
    for _ in range(5):
        cuts = sorted(rng.sample(range(1, 40), 6))
        blocks = [list(range(a, b)) for a, b in zip([0, *cuts], [*cuts, 40], strict=True)]
        order = list(range(len(blocks)))
        rng.shuffle(order)
        assert _merged(reference, candidate, blocks, order, cosine).comparison() == whole
    assert whole == compare_outputs("logits", reference, candidate, cosine=cosine)  # the local engine's numbers
    diffs = [np.abs(c.astype(np.float64) - r) for r, c in zip(reference, candidate, strict=True)]
    assert whole.worst_example == 7 and whole.max_abs_diff == max(float(d.max()) for d in diffs)
    assert whole.mean_abs_diff == pytest.approx(float(np.concatenate([d.ravel() for d in diffs]).mean()), rel=1e-12)
    assert whole.histogram.zeros == 1 and sum(whole.histogram.counts) == 39
    if cosine:
        assert 0.5 < whole.cosine_min < whole.cosine_mean <= 1.0


def test_nonfinite_outputs_are_counted_and_void_the_diffs() -> None:
    reference, candidate = _outputs(12, seed=2)
    candidate[5] = candidate[5].copy()
    candidate[5][0, 0] = np.nan
    candidate[9] = np.full_like(candidate[9], np.inf)
    merged = _merged(reference, candidate, [list(range(6)), list(range(6, 12))], [1, 0]).comparison()
    one_pass = compare_outputs("logits", reference, candidate)
    assert merged == one_pass  # no sums survive, so even the one-pass numbers match exactly
    assert merged.nonfinite_values == 1 + candidate[9].size and merged.max_abs_diff is None


def test_exact_sum_does_not_depend_on_the_order() -> None:
    values = [1e16, 1.0, -1e16, 3.3, 1e-8, -2.2, 7e15, -7e15] * 50
    expected = math.fsum(values)
    rng = random.Random(0)
    for _ in range(5):
        rng.shuffle(values)
        left, right = ExactSum(values[:123]), ExactSum(values[123:])
        assert right.merge(left).value == expected


def test_top_k_keeps_the_smallest_keys_across_parts() -> None:
    keys = [(-random.Random(i).random(), i) for i in range(50)]
    parts = [TopK(5) for _ in range(4)]
    for key in keys:
        parts[key[1] % 4].add(key, key[1])
    merged = TopK(5)
    for part in reversed(parts):
        merged.merge(part)
    assert [item for _, item in merged.items()] == [k[1] for k in sorted(keys)[:5]]
    assert TopK(0).items() == []
