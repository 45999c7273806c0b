"""Scoring a variant: task metrics through ``evaluate``, agreement, worst disagreements, pass/fail checks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from onnx_pipelines.parity.adapters import AdapterContext, MetricSpec, Predictions, TaskAdapter
from onnx_pipelines.parity.compare import OutputComparison
from onnx_pipelines.parity.results import Disagreement, MetricResult
from onnx_pipelines.parity.thresholds import Check, Thresholds

#: Slack for float noise when comparing measured values with limits.
_EPS = 1e-9
#: Characters of an input shown with a disagreement.
TEXT_PREVIEW_CHARS = 300


def load_metrics(specs: Sequence[MetricSpec]) -> dict[str, Any]:
    """Load each distinct ``evaluate`` module once (:func:`onnx_pipelines.metrics.load_metric`)."""
    from onnx_pipelines.metrics import load_metric

    return {name: load_metric(name) for name in dict.fromkeys(spec.metric for spec in specs)}


def metric_values(specs: Sequence[MetricSpec], modules: Mapping[str, Any], predictions: Predictions | None,
                  references: Sequence[Any] | None) -> dict[str, float]:
    """Each metric's value (0-1) for ``predictions`` against the gold ``references``; empty without labels."""
    if references is None or predictions is None or not modules:
        return {}
    values = {}
    for spec in specs:
        scored = predictions.details if spec.on_details and predictions.details is not None else predictions.labels
        result = modules[spec.metric].compute(predictions=list(scored), references=list(references),
                                              **dict(spec.kwargs))
        values[spec.name] = float(result[spec.key]) * spec.scale
    return values


def build_checks(outputs: Sequence[OutputComparison], agreement: float | None, metrics: Sequence[MetricResult],
                 limits: Thresholds) -> list[Check]:
    """The verdicts for one variant: finite outputs always, then atol, agreement and metric drop.

    ``atol`` is checked on every compared output; ``max_metric_drop`` on the first (primary) metric.
    """
    checks = []
    nonfinite = sum(o.nonfinite_values for o in outputs)
    checks.append(Check(
        "finite", nonfinite == 0, float(nonfinite), 0.0,
        "all outputs finite" if nonfinite == 0 else
        f"{nonfinite} NaN/inf values in " + ", ".join(o.name for o in outputs if o.nonfinite_values),
    ))
    if limits.atol is not None:
        for output in outputs:
            if output.max_abs_diff is None:
                continue  # non-finite: the finite check already fails
            ok = output.max_abs_diff <= limits.atol
            checks.append(Check(
                "atol", ok, output.max_abs_diff, limits.atol,
                f"max |{output.name} diff| {output.max_abs_diff:.3g} {'<=' if ok else '>'} atol {limits.atol:g}",
            ))
    if limits.min_agreement is not None and agreement is not None:
        ok = agreement + _EPS >= limits.min_agreement
        checks.append(Check(
            "agreement", ok, agreement, limits.min_agreement,
            f"agreement {agreement:.4f} {'>=' if ok else '<'} {limits.min_agreement:g}",
        ))
    if limits.max_metric_drop is not None and metrics:
        primary = metrics[0]
        drop = 0.0 - primary.delta_points  # "0.0 -" keeps an unchanged metric at +0.0, not -0.0
        ok = drop <= limits.max_metric_drop + _EPS
        checks.append(Check(
            "metric_drop", ok, drop, limits.max_metric_drop,
            f"{primary.name} {primary.delta_points:+.2f} points vs PyTorch (drop {'<=' if ok else '>'} "
            f"{limits.max_metric_drop:g} allowed)",
        ))
    return checks


def agreement(reference: Predictions | None, candidate: Predictions | None) -> tuple[float | None, list[int]]:
    """Fraction of examples where both predict the same, and the indices where they do not."""
    if reference is None or candidate is None or not reference.labels:
        return None, []
    disagreeing = [i for i, (a, b) in enumerate(zip(reference.labels, candidate.labels, strict=True)) if a != b]
    return 1.0 - len(disagreeing) / len(reference.labels), disagreeing


def worst_disagreements(indices: Sequence[int], reference: Predictions, candidate: Predictions,
                        gold: Sequence[Any] | None, adapter: TaskAdapter, rows: Mapping[str, Sequence[Any]],
                        ctx: AdapterContext, limit: int) -> list[Disagreement]:
    """The ``limit`` disagreements where the reference was surest (largest margin) first, ties by index.

    The reference's margins are finite (a non-finite reference stops the run); a broken variant's
    scores may not be, and become ``None``.
    """
    ranked = sorted(indices, key=lambda i: (-float(reference.margins[i]), i))[:limit]
    listed = []
    for i in ranked:
        text = adapter.describe(rows, i, ctx)
        listed.append(Disagreement(
            index=i,
            text=text if len(text) <= TEXT_PREVIEW_CHARS else text[: TEXT_PREVIEW_CHARS - 1] + "…",
            reference=adapter.label_name(reference.labels[i], ctx),
            reference_score=_rounded(reference.scores[i]),
            reference_margin=_rounded(reference.margins[i]),
            variant=adapter.label_name(candidate.labels[i], ctx),
            variant_score=_rounded(candidate.scores[i]),
            gold=adapter.label_name(gold[i], ctx) if gold is not None else None,
        ))
    return listed


def _rounded(value: Any) -> float | None:
    """A score for the report: rounded, or ``None`` when a broken variant made it NaN/inf (strict JSON)."""
    number = float(value)
    return round(number, 6) if math.isfinite(number) else None
