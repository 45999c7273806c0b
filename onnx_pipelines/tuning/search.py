"""``tune``: search build recipes, judge each with the parity evaluator, time it, confirm the winner held out.

The fixed sequence:

1. check the task, model, data and bounds before anything slow;
2. split the data once with a seed into calibration / tuning / held-out rows (``DIR/data/*.jsonl``);
3. write each candidate of the space (:mod:`~onnx_pipelines.tuning.space`) as a recipe
   (``DIR/candidates/NAME.recipe.json``, static int8 calibrated on the calibration rows);
4. per candidate: build it through the artifact cache, judge it with the parity evaluator on the tuning rows
   (:class:`~onnx_pipelines.parity.evaluator.ParityEvaluator`, the bounds as its thresholds), time it beside
   PyTorch (:mod:`~onnx_pipelines.tuning.timing`), and write ``DIR/candidates/NAME.json`` atomically — a killed
   run resumes from there (``resume=True``);
5. the candidates that meet both bounds, fastest first at batch 1, are evaluated on the held-out rows until
   one meets them there too: that is the winner, written to ``DIR/recipe.json``;
6. write ``tune.json``, ``tune.md``, ``tune.html`` and ``tune.png`` (:mod:`~onnx_pipelines.tuning.render`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onnx_pipelines.errors import InvalidConfigError, TuneError
from onnx_pipelines.tuning.report import TuneResult
from onnx_pipelines.tuning.result import CandidateOutcome
from onnx_pipelines.tuning.run import TuneRun
from onnx_pipelines.tuning.space import search_space
from onnx_pipelines.tuning.timing import TimingSettings

if TYPE_CHECKING:
    from onnx_pipelines.eval_data import ColumnMapping

#: Rows kept aside to calibrate static int8 (when the space has static candidates).
CALIBRATION_ROWS = 64


def tune(
    task: str,
    model: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    *,
    max_metric_drop: float = 0.5,
    min_agreement: float = 0.99,
    time_budget: float | None = None,
    output: str | os.PathLike[str] = "tune-out",
    space: str | Sequence[str] = "small",
    resume: bool = False,
    columns: ColumnMapping | None = None,
    split: str | None = None,
    tuning_rows: int | None = None,
    holdout_rows: int | None = None,
    calibration_rows: int = CALIBRATION_ROWS,
    seed: int = 0,
    max_length: int | None = None,
    batch_size: int = 32,
    timing: TimingSettings | None = None,
    provider: str = "auto",
    intra_op_threads: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> TuneResult:
    """Find the fastest build recipe whose answers stay within the bounds of PyTorch's, and save it.

    Args:
        task: A task name (:func:`~onnx_pipelines.tasks.supported_tasks`).
        model: The PyTorch model folder (the reference, and what every candidate is built from).
        dataset: Rows to judge on (a data file or folder, as ``parity`` takes), with gold labels for a metric.
        max_metric_drop: Largest drop of the primary metric below PyTorch, in points.
        min_agreement: Smallest share of rows predicted as PyTorch predicts them.
        time_budget: Seconds after which no new candidate is started (``None``: no limit).
        output: The run's folder (``tune.json``, ``recipe.json``, ``candidates/``, ...).
        space: ``"small"``, ``"wide"`` or candidate names (:func:`~onnx_pipelines.tuning.space.search_space`).
        resume: Reuse the candidates a previous run in ``output`` finished (same settings only).
        columns: Which column holds each role (default: ``text`` and ``label``).
        split: The dataset split (when the source has several).
        tuning_rows: Rows of the tuning split (default: half of what calibration leaves).
        holdout_rows: Rows of the held-out split (default: the rest).
        calibration_rows: Rows kept aside to calibrate static int8.
        seed: Seed of the split.
        max_length: Tokens kept per row (default: the tokenizer's limit).
        batch_size: Rows per model call in the parity runs.
        timing: How candidates are timed (:class:`~onnx_pipelines.tuning.timing.TimingSettings`).
        provider: ONNX Runtime provider of every candidate.
        intra_op_threads: ONNX Runtime threads of the parity runs and the timing.
        cache_dir: Artifact cache.
        progress: Show a ``tqdm.auto`` progress bar over the candidates.

    Returns:
        The result (also written to ``output``); ``result.recipe`` is the winner's recipe file.

    Raises:
        UnsupportedTaskError, ModelNotFoundError, TaskMismatchError, InvalidConfigError, DatasetError: Bad input,
            before anything slow.
        TuneError: No candidate met both bounds (the message names the closest one and what to relax); its
            ``result`` attribute holds the written :class:`TuneResult`.

    Example:
        >>> result = tune("text-classification", "models/bbc", "data/test.jsonl", max_length=128,
        ...               output="tune-out")  # doctest: +SKIP
        >>> pipe = load_pipeline(recipe=result.recipe)  # doctest: +SKIP
    """
    from onnx_pipelines.eval_data import ColumnMapping

    started, load_before = time.time(), _load_average()
    search = TuneRun(task, model, dataset, columns or ColumnMapping(), split, max_length, batch_size, provider,
                     intra_op_threads, cache_dir, Path(output).expanduser().resolve())
    bounds = _bounds(max_metric_drop, min_agreement)
    candidates = search_space(space)
    settings = timing or TimingSettings(threads=intra_op_threads)
    fingerprint = {"task": search.spec.name, "model": str(search.source.path), "dataset": os.fspath(dataset),
                   "split": split, "seed": seed, "tuning_rows": tuning_rows, "holdout_rows": holdout_rows,
                   "calibration_rows": calibration_rows, "max_length": max_length, "bounds": bounds,
                   "timing": settings.to_dict()}
    search.claim_output(fingerprint, resume)
    splits = search.split_rows(seed, tuning_rows, holdout_rows,
                               calibration_rows if any(c.calibrates for c in candidates) else 0)
    recipes = {c.name: search.write_recipe(c) for c in candidates if search.can_build(c)}
    notes = [f"{name}: not built (static int8 calibrates on a text column, and the data has no "
             f"{search.columns.text!r} column)." for name in (c.name for c in candidates) if name not in recipes]
    outcomes, skipped = search.run_candidates(recipes, bounds, settings, time_budget, started, progress)
    winner = search.confirm(outcomes, bounds, progress)
    result = TuneResult(
        task=search.spec.name, model=str(search.source.path), dataset=os.fspath(dataset), splits=splits,
        bounds=bounds, primary_metric=search.primary_metric, reference=search.reference_metrics,
        candidates=[outcomes[name] for name in recipes if name in outcomes],
        winner=winner, recipe=str(search.out / "recipe.json") if winner else None, skipped=skipped,
        notes=notes + _notes(bounds, search), machine=_machine(load_before), seconds=time.time() - started,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    if winner is not None:
        search.write_winner(result, outcomes[winner])
    from onnx_pipelines.tuning.render import write_outputs

    write_outputs(result, search.out)
    if winner is None:
        raise TuneError(no_winner_message(result), result=result)
    return result


def _bounds(max_metric_drop: float, min_agreement: float) -> dict[str, float]:
    for name, value, high in (("max_metric_drop", max_metric_drop, 100.0), ("min_agreement", min_agreement, 1.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= high:
            raise InvalidConfigError(f"{name}={value!r} is not valid: pass a number from 0 to {high:g}.")
    return {"max_metric_drop": float(max_metric_drop), "min_agreement": float(min_agreement)}


def closest(outcomes: Sequence[CandidateOutcome], bounds: dict[str, float]) -> CandidateOutcome | None:
    """The candidate nearest to meeting both bounds (the smallest relative excess over them)."""
    def excess(o: CandidateOutcome) -> float:
        score = o.holdout if o.holdout is not None and not o.holdout.passed else o.tuning
        assert score is not None  # filtered below
        agreement = score.agreement if score.agreement is not None else 1.0
        over_agreement = max(0.0, bounds["min_agreement"] - agreement) / max(1 - bounds["min_agreement"], 1e-3)
        over_drop = max(0.0, score.metric_drop - bounds["max_metric_drop"]) / max(bounds["max_metric_drop"], 0.1)
        return over_agreement + over_drop

    scored = [o for o in outcomes if o.tuning is not None]
    return min(scored, key=excess) if scored else None


def no_winner_message(result: TuneResult) -> str:
    """Why nothing won, the closest candidate's numbers, and what to relax."""
    bounds = result.bounds
    best = closest(result.candidates, bounds)
    head = (f"No candidate met agreement >= {bounds['min_agreement']} and a drop of "
            f"{result.primary_metric or 'the metric'} <= {bounds['max_metric_drop']} points on both the tuning and "
            "the held-out rows")
    if best is None:
        failures = "; ".join(f"{c.name}: {c.error}" for c in result.candidates if c.error)[:600]
        return f"{head}: no candidate could be built and run ({failures or 'none tried'}). Results: {result.recipe}."
    score = best.holdout if best.holdout is not None and not best.holdout.passed else best.tuning
    assert score is not None  # closest() only returns scored candidates
    where = "held-out" if score is best.holdout else "tuning"
    agreement = f"{score.agreement:.4f}" if score.agreement is not None else "n/a"
    return (f"{head}. Closest: {best.name}, agreement {agreement} and a drop of {score.metric_drop:.2f} points on the "
            f"{where} rows ({'; '.join(score.failed_checks) or 'failed'}). Relax the bounds to what it reached "
            f"(--min-agreement {min(bounds['min_agreement'], score.agreement or 1.0):.3f} --max-metric-drop "
            f"{max(bounds['max_metric_drop'], score.metric_drop):.2f}), widen the search (--space wide), or add "
            "fp32 candidates such as O2, which match PyTorch.")


def _notes(bounds: dict[str, float], search: TuneRun) -> list[str]:
    notes = ["Each candidate is judged by the parity evaluator on the tuning rows with the bounds as its thresholds "
             "(fp32 candidates also by their output tolerance); the winner is the fastest at batch 1 that also meets "
             "them on the held-out rows, which no choice was made on."]
    if search.primary_metric is None:
        notes.append("No gold labels: agreement with PyTorch alone judges the candidates.")
    return notes


def _machine(load_before: list[float]) -> dict[str, Any]:
    from onnx_pipelines.benchmark.runner import _cpu_name

    return {"cpu": _cpu_name(), "cores": os.cpu_count(), "load_average_before": load_before,
            "load_average_after": _load_average()}


def _load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []
