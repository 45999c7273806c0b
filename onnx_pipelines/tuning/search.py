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

import json
import os
import random
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onnx_pipelines.errors import DatasetError, InvalidConfigError, TuneError
from onnx_pipelines.recipes import save_recipe, write_text_atomically
from onnx_pipelines.tuning.result import CandidateOutcome, SplitScore, TuneResult
from onnx_pipelines.tuning.space import TuneCandidate, search_space
from onnx_pipelines.tuning.timing import PairTimer, TimingSettings

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
    search = _Search(task, model, dataset, columns or ColumnMapping(), split, max_length, batch_size, provider,
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


class _Search:
    """The state of one tune run: resolved inputs, output folder, evaluators and the timer."""

    def __init__(self, task: str, model: Any, dataset: Any, columns: ColumnMapping, split: str | None,
                 max_length: int | None, batch_size: int, provider: str, threads: int | None, cache_dir: Any,
                 out: Path) -> None:
        from onnx_pipelines.build_request import resolve_build_request
        from onnx_pipelines.parity.adapters import get_adapter

        base = resolve_build_request(task, os.fspath(model), provider=provider)
        self.spec, self.source, self.adapter = base.task, base.source, get_adapter(base.task.name)
        if not self.source.has_torch_weights:
            raise InvalidConfigError(f"tune needs the PyTorch model folder (the reference); {str(model)!r} holds "
                                     "no model.safetensors / pytorch_model.bin.")
        self.dataset, self.columns, self.split, self.out = dataset, columns, split, out
        self.max_length, self.batch_size, self.provider, self.threads = max_length, batch_size, provider, threads
        self.cache_dir = os.fspath(cache_dir) if cache_dir is not None else None
        self.calibration_texts: list[str] = []
        self.primary_metric: str | None = None
        self.reference_metrics: dict[str, Any] = {}
        self._evaluators: dict[str, Any] = {}

    # --- the output folder and the data -------------------------------------------------------------------
    def claim_output(self, fingerprint: dict[str, Any], resume: bool) -> None:
        settings = self.out / "tune-settings.json"
        if settings.is_file():
            if not resume:
                raise InvalidConfigError(f"{str(self.out)!r} holds a tune run already: pass --resume (resume=True) to "
                                         "continue it, or choose a new --output folder.")
            previous = json.loads(settings.read_text())
            if previous != json.loads(json.dumps(fingerprint)):
                changed = sorted(k for k in {*previous, *fingerprint} if previous.get(k) != fingerprint.get(k))
                raise InvalidConfigError(
                    f"--resume: {str(self.out)!r} was tuned with other settings ({', '.join(changed)} differ); "
                    "rerun with the same settings or choose a new --output folder.")
        (self.out / "candidates").mkdir(parents=True, exist_ok=True)
        write_text_atomically(settings, json.dumps(fingerprint, indent=2) + "\n")

    def split_rows(self, seed: int, tuning_rows: int | None, holdout_rows: int | None,
                   calibration_rows: int) -> dict[str, int]:
        """Write (or, resuming, reuse) ``data/{calibration,tuning,holdout}.jsonl``; returns their sizes."""
        from onnx_pipelines.eval_data import load_eval_dataset

        data = self.out / "data"
        files = {name: data / f"{name}.jsonl" for name in ("calibration", "tuning", "holdout")}
        if not all(f.is_file() for f in files.values()):
            rows = load_eval_dataset(self.dataset, split=self.split, columns=self.columns,
                                     required=tuple(self.adapter.input_roles))
            order = list(range(rows.num_rows))
            random.Random(seed).shuffle(order)
            calibration = order[:calibration_rows]
            rest = order[calibration_rows:]
            tuning = tuning_rows if tuning_rows is not None else (len(rest) + 1) // 2
            holdout = holdout_rows if holdout_rows is not None else len(rest) - tuning
            if tuning < 1 or holdout < 1 or tuning + holdout > len(rest):
                raise DatasetError(
                    f"{os.fspath(self.dataset)!r} has {rows.num_rows} rows: too few for {calibration_rows} "
                    f"calibration, {tuning} tuning and {holdout} held-out rows. Pass fewer (tuning_rows=, "
                    "holdout_rows=, calibration_rows=) or more data.")
            data.mkdir(parents=True, exist_ok=True)
            for name, indices in (("calibration", calibration), ("tuning", rest[:tuning]),
                                  ("holdout", rest[tuning:tuning + holdout])):
                lines = "".join(json.dumps(row, default=str) + "\n" for row in rows.select(sorted(indices)))
                write_text_atomically(files[name], lines)
        counted = {name: sum(1 for line in f.read_text().splitlines() if line.strip()) for name, f in files.items()}
        if self.columns.text:
            self.calibration_texts = [str(json.loads(line).get(self.columns.text, ""))
                                      for line in files["calibration"].read_text().splitlines() if line.strip()]
        return counted

    def can_build(self, candidate: TuneCandidate) -> bool:
        return not candidate.calibrates or any(t.strip() for t in self.calibration_texts)

    def write_recipe(self, candidate: TuneCandidate) -> Path:
        from onnx_pipelines.build_request import resolve_build_request

        request = resolve_build_request(self.spec, self.source, provider=self.provider,
                                        **candidate.request_kwargs(self.calibration_texts))
        path = self.out / "candidates" / f"{candidate.file_stem}.recipe.json"
        save_recipe(request, path, notes={"candidate": candidate.name})
        return path

    # --- judging --------------------------------------------------------------------------------------------
    def evaluator(self, split: str, recipes: Sequence[Path], bounds: dict[str, float]) -> tuple[Any, Any]:
        """The split's parity evaluator, prepared, with its PyTorch reference run (once per split)."""
        from onnx_pipelines.parity.evaluator import ParityEvaluator
        from onnx_pipelines.parity.prepare import ParityOptions, check_inputs, load_rows, tokenize
        from onnx_pipelines.parity.thresholds import Thresholds

        if split not in self._evaluators:
            options = ParityOptions(
                model=self.source.path, task=self.spec.name, dataset=self.out / "data" / f"{split}.jsonl",
                variants=[f"recipe:{p}" for p in recipes], columns=self.columns, max_length=self.max_length,
                batch_size=self.batch_size, provider=self.provider, intra_op_threads=self.threads,
                cache_dir=self.cache_dir, thresholds=Thresholds(min_agreement=bounds["min_agreement"],
                                                                max_metric_drop=bounds["max_metric_drop"]),
            )
            evaluator = ParityEvaluator(options)
            evaluator.prepared = check_inputs(options)
            load_rows(evaluator.prepared, options)
            tokenize(evaluator.prepared, options)
            reference = evaluator.run_reference()
            self.reference_metrics[split] = dict(reference.result.metrics)
            adapter = evaluator.prepared.adapter
            self.primary_metric = adapter.metrics[0].name if reference.gold is not None and adapter.metrics else None
            self._evaluators[split] = (evaluator, reference)
        return self._evaluators[split]

    def judge(self, split: str, recipe: Path, recipes: Sequence[Path], bounds: dict[str, float]) -> Any:
        evaluator, reference = self.evaluator(split, recipes, bounds)
        spec = next(s for s in evaluator.prepared.variants if s.recipe == recipe.resolve())
        return evaluator.evaluate_variant(spec, reference), evaluator.prepared.rows.num_rows

    def score(self, result: Any, rows: int) -> SplitScore:
        metric = result.metric(self.primary_metric) if self.primary_metric else None
        failed = tuple(c.message for c in result.checks if not c.passed)
        return SplitScore(rows=rows, agreement=result.agreement, metric=self.primary_metric,
                          value=metric.value if metric else None, delta_points=metric.delta_points if metric else None,
                          passed=result.passed, failed_checks=failed)

    def run_candidates(self, recipes: dict[str, Path], bounds: dict[str, float], settings: TimingSettings,
                       budget: float | None, started: float, progress: bool) -> tuple[dict[str, CandidateOutcome],
                                                                                       list[str]]:
        from tqdm.auto import tqdm

        outcomes: dict[str, CandidateOutcome] = {}
        for name, recipe in recipes.items():
            done = _read_outcome(self.outcome_path(recipe))
            if done is not None:
                outcomes[name] = done
        skipped: list[str] = []
        todo = [name for name in recipes if name not in outcomes]
        texts = self.timing_texts()
        with PairTimer(str(self.source.path), self.spec.name, texts, settings, cache_dir=self._cache()) as timer, \
                tqdm(total=len(recipes), initial=len(outcomes), desc="tune", unit="candidate",
                     disable=not progress) as bar:
            for name in todo:
                if budget is not None and time.time() - started > budget:
                    skipped.append(name)
                    continue
                bar.set_postfix_str(name)
                outcomes[name] = self.run_candidate(name, recipes[name], list(recipes.values()), bounds, timer)
                write_text_atomically(self.outcome_path(recipes[name]), json.dumps(outcomes[name].to_dict(),
                                                                                   indent=2) + "\n")
                bar.update(1)
        if outcomes and self.primary_metric is None and "tuning" not in self.reference_metrics:
            self.primary_metric = next((o.tuning.metric for o in outcomes.values() if o.tuning), None)
        return outcomes, skipped

    def run_candidate(self, name: str, recipe: Path, recipes: list[Path], bounds: dict[str, float],
                      timer: PairTimer) -> CandidateOutcome:
        from onnx_pipelines.cache import read_manifest
        from onnx_pipelines.recipes import recipe_variant

        began = time.time()
        result, rows = self.judge("tuning", recipe, recipes, bounds)
        variant = recipe_variant(recipe).name
        if result.error is not None or result.artifact is None:
            return CandidateOutcome(name, variant, str(recipe), self.score(result, rows), error=result.error,
                                    seconds=time.time() - began)
        manifest = read_manifest(Path(result.artifact)) or {}
        guard = manifest.get("int8_guard") or {}
        timing, error = None, None
        try:
            timing = timer.time(recipe, result.artifact, result.model_file)
        except Exception as e:  # a candidate that cannot be timed is reported, not fatal
            error = f"timing failed: {type(e).__name__}: {str(e).splitlines()[-1][:300]}"
        return CandidateOutcome(name, variant, str(recipe), self.score(result, rows), timing=timing,
                                fp32_nodes=len(guard.get("fp32_nodes") or []), artifact=result.artifact, error=error,
                                seconds=time.time() - began)

    def confirm(self, outcomes: dict[str, CandidateOutcome], bounds: dict[str, float], progress: bool) -> str | None:
        """Evaluate the candidates meeting the bounds on the held-out rows, fastest first; the first to pass wins."""
        ranked = sorted((o for o in outcomes.values() if o.meets_tuning), key=lambda o: -(o.speedup or 0.0))
        recipes = [Path(o.recipe) for o in ranked]
        for outcome in ranked:
            path = self.out / "holdout" / f"{Path(outcome.recipe).name.removesuffix('.recipe.json')}.json"
            score = _read_score(path)
            if score is None:
                result, rows = self.judge("holdout", Path(outcome.recipe), recipes, bounds)
                score = self.score(result, rows)
                write_text_atomically(path, json.dumps({"format": 1, "score": score.__dict__ | {
                    "failed_checks": list(score.failed_checks)}}, indent=2) + "\n")
            outcomes[outcome.name] = CandidateOutcome(**{**outcome.__dict__, "holdout": score})
            if score.passed:
                return outcome.name
        return None

    def write_winner(self, result: TuneResult, outcome: CandidateOutcome) -> None:
        from onnx_pipelines.cache import read_manifest
        from onnx_pipelines.recipes import load_recipe

        request = load_recipe(outcome.recipe)
        manifest = read_manifest(Path(outcome.artifact)) if outcome.artifact else None
        guard = (manifest or {}).get("int8_guard") or {}
        notes = {"tuned_by": "onnx-pipelines tune", "candidate": outcome.name, "variant": outcome.variant,
                 "bounds": result.bounds, "primary_metric": result.primary_metric,
                 "tuning": outcome.tuning.__dict__ if outcome.tuning else None,
                 "holdout": outcome.holdout.__dict__ if outcome.holdout else None, "timing": outcome.timing,
                 "fp32_nodes_kept_by_guard": list(guard.get("fp32_nodes") or []), "dataset": result.dataset,
                 "splits": result.splits, "created": result.created}
        save_recipe(request, self.out / "recipe.json", notes=json.loads(json.dumps(notes, default=list)))

    # --- helpers --------------------------------------------------------------------------------------------
    def outcome_path(self, recipe: Path) -> Path:
        return recipe.with_name(recipe.name.removesuffix(".recipe.json") + ".json")

    def timing_texts(self) -> list[str]:
        lines = (self.out / "data" / "tuning.jsonl").read_text().splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
        column = self.columns.text if rows and self.columns.text in rows[0] else None
        if column is None and self.columns.tokens and rows and self.columns.tokens in rows[0]:
            return [" ".join(map(str, r[self.columns.tokens])) for r in rows]
        return [str(r[column]) for r in rows] if column else []

    def _cache(self) -> str:
        from onnx_pipelines.cache import default_cache_dir

        return self.cache_dir or str(default_cache_dir())


def _read_outcome(path: Path) -> CandidateOutcome | None:
    try:
        return CandidateOutcome.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or half-written by an older run: computed again


def _read_score(path: Path) -> SplitScore | None:
    try:
        data = json.loads(path.read_text())["score"]
        return SplitScore(**{**data, "failed_checks": tuple(data["failed_checks"])})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _notes(bounds: dict[str, float], search: _Search) -> list[str]:
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
