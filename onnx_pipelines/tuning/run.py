"""One ``tune`` run's state and steps: its folder, the data splits, the recipes, judging, timing, confirming.

:func:`~onnx_pipelines.tuning.search.tune` drives a :class:`TuneRun` through its fixed sequence; every step
that finishes leaves a file in the run's folder (``data/*.jsonl``, ``candidates/NAME.recipe.json``,
``candidates/NAME.json``, ``holdout/NAME.json``), written atomically, which a resumed run reads back.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onnx_pipelines.errors import DatasetError, InvalidConfigError
from onnx_pipelines.recipes import save_recipe, write_text_atomically
from onnx_pipelines.tuning.report import TuneResult
from onnx_pipelines.tuning.result import CandidateOutcome, SplitScore
from onnx_pipelines.tuning.space import TuneCandidate
from onnx_pipelines.tuning.timing import PairTimer, TimingSettings

if TYPE_CHECKING:
    from onnx_pipelines.eval_data import ColumnMapping


class TuneRun:
    """The state of one tune run: resolved inputs, its folder (data splits, recipes, finished candidates), the
    parity evaluators of both splits with their PyTorch references, and the per-candidate steps."""

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
