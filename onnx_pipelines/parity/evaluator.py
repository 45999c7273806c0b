"""The parity evaluator: one fixed sequence for every task, per-task hooks from an adapter.

``evaluate_parity`` (a template method, like ``evaluate``'s ``Evaluator.compute``) always runs:

1. check the inputs (task, adapter, model, variants) before anything slow;
2. load the rows (:func:`onnx_pipelines.eval_data.load_eval_dataset`) and tokenize them once into
   length-sorted batches (:mod:`onnx_pipelines.length_batches`): the *same* batches feed every model;
3. run the PyTorch reference;
4. for each variant: build it through the artifact cache (as ``load_pipeline`` does), run it, compare
   its raw outputs with the reference's, derive predictions, score the metric, apply the thresholds;
5. assemble a :class:`~onnx_pipelines.parity.report.ParityReport`.

Steps 1-2 live in :mod:`~onnx_pipelines.parity.prepare`; the adapter
(:mod:`onnx_pipelines.parity.adapters`) decides how rows become batches, which outputs are compared,
what a prediction is and which metric scores it.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from onnx_pipelines.build_request import BuildRequest
from onnx_pipelines.cache import Artifact
from onnx_pipelines.config import Variant
from onnx_pipelines.errors import InvalidConfigError, ParityError
from onnx_pipelines.eval_data import ColumnMapping
from onnx_pipelines.length_batches import restore_order
from onnx_pipelines.parity.adapters import AdapterContext, Predictions
from onnx_pipelines.parity.calibration import CalibrationSettings, choose_calibration_texts
from onnx_pipelines.parity.mergeable import compare_outputs
from onnx_pipelines.parity.prepare import (
    ParityOptions,
    PreparedRun,
    check_inputs,
    load_rows,
    recipe_for_run,
    tokenize,
)
from onnx_pipelines.parity.report import Calibration, MetricResult, ParityReport, ReferenceResult, Timing, VariantResult
from onnx_pipelines.parity.runners import run_batches
from onnx_pipelines.parity.scoring import agreement, build_checks, load_metrics, metric_values, worst_disagreements
from onnx_pipelines.parity.thresholds import Check, Thresholds, graph_precision, resolve_thresholds, variant_precision
from onnx_pipelines.parity.variants import VariantSpec
from onnx_pipelines.session_runner import ModelRunner, TorchRunner, open_runner
from onnx_pipelines.versions import __version__

logger = logging.getLogger(__name__)

#: Engines that run the same evaluation spread over workers, by name -> dotted path of their evaluator class.
DISTRIBUTED_ENGINES: dict[str, str] = {"ray": "onnx_pipelines.scale.parity_engine.RayParityEvaluator"}

TIMING_NOTE = (
    "Timings are measured in this process, one model after another, and are indicative only; "
    "`onnx-pipelines benchmark` times each variant in its own process."
)


def evaluate_parity(
    model: str | os.PathLike[str],
    task: str,
    dataset: str | os.PathLike[str],
    *,
    variants: str | Sequence[str | Variant | os.PathLike[str]] = ("fp32",),
    columns: ColumnMapping | None = None,
    require_labels: bool = False,
    split: str | None = None,
    config_name: str | None = None,
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    max_length: int | None = None,
    batch_size: int = 32,
    max_tokens: int = 16384,
    thresholds: Thresholds | None = None,
    calibration: CalibrationSettings | None = None,
    provider: str = "auto",
    intra_op_threads: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    max_disagreements: int = 10,
    progress: bool = False,
    task_options: Mapping[str, Any] | None = None,
    engine: str = "local",
    workers: int = 1,
    cpus_per_worker: int = 1,
    address: str | None = None,
    block_rows: int = 4096,
) -> ParityReport:
    """Measure how far each ONNX variant of ``model`` is from the PyTorch original, on your data.

    Args:
        model: The PyTorch model folder (or hub id): the reference, and the source of every variant.
        task: A task with a parity adapter (``text-classification``, ``sentence-embeddings`` ...).
        dataset: A data file (json/jsonl/csv/tsv/parquet), a ``save_to_disk`` folder, or a hub name.
        variants: Variant names (``fp32``, ``O2``, ``O2+int8-dynamic``, ``int8-static`` ...), paths of
            pre-exported ONNX models (a folder with ``model.onnx`` and the tokenizer, or an ``.onnx``
            file inside such a folder), or one comma-separated string.
        columns: Which columns hold the text, text pair and label (default ``text`` and ``label``).
        require_labels: Fail when the label column is missing; by default a missing label column
            only skips the task metric (the report says "no labels").
        split: The split to evaluate, when the source has several.
        config_name: The hub dataset configuration.
        limit: Evaluate only the first ``limit`` rows.
        sample: Evaluate a seeded random sample of ``sample`` rows.
        seed: Seed of ``sample`` and of the calibration sample.
        max_length: Tokens kept per example (default: the tokenizer's ``model_max_length`` capped at
            ``max_position_embeddings``; for sentence embeddings the model's ``max_seq_length``).
        batch_size: Most examples per model call.
        max_tokens: Most padded tokens per model call.
        thresholds: Limits overriding the per-precision defaults (:mod:`onnx_pipelines.parity.thresholds`).
        calibration: How ``int8-static`` variants are calibrated (default: minmax on 128 rows).
        provider: ONNX Runtime provider (``auto``, ``cpu``, ``cuda``).
        intra_op_threads: ONNX Runtime intra-op threads (default: one per physical core).
        cache_dir: Artifact cache folder.
        max_disagreements: Disagreements listed per variant (worst first).
        progress: Show progress bars and steps on stderr.
        task_options: Options of the task's adapter: ``candidate_labels`` (required), ``hypothesis_template``
            and ``multi_label`` for zero-shot classification; ``doc_stride`` and ``max_answer_len`` for
            question answering.
        engine: ``"local"`` (this process) or ``"ray"``: blocks of rows on a Ray actor pool, each actor running
            the reference and every variant (needs the ``[ray]`` extra; see ``docs/scale.md``). Both engines
            give the same report numbers on the same data.
        workers: Ray actors (``engine="ray"``).
        cpus_per_worker: CPUs per Ray actor: its PyTorch and ONNX Runtime intra-op threads (``engine="ray"``).
        address: The Ray cluster (default ``$RAY_ADDRESS``; neither: a local Ray for this run).
        block_rows: Rows per block: batches never mix rows of two blocks; the unit of work on Ray.

    Returns:
        The report; ``report.passed`` is ``True`` when every variant met its limits.

    Raises:
        UnsupportedTaskError, TaskMismatchError, ModelNotFoundError, InvalidModelError, InvalidConfigError,
        DatasetError, ParityError: bad inputs, reported before anything slow runs where possible. A
        variant that fails to build or run does not raise: it fails in the report.

    Example:
        >>> report = evaluate_parity("models/bbc", "text-classification", "data/test.jsonl",
        ...                          variants="fp32,O2,O2+int8-dynamic", max_length=128)  # doctest: +SKIP
        >>> report.write("reports/parity")  # doctest: +SKIP
    """
    options = ParityOptions(
        model=model, task=task, dataset=dataset, variants=variants, columns=columns or ColumnMapping(),
        require_labels=require_labels, split=split, config_name=config_name, limit=limit, sample=sample, seed=seed,
        max_length=max_length, batch_size=batch_size, max_tokens=max_tokens, thresholds=thresholds,
        calibration=calibration or CalibrationSettings(), provider=provider, intra_op_threads=intra_op_threads,
        cache_dir=cache_dir, max_disagreements=max_disagreements, progress=progress,
        task_options=dict(task_options or {}), block_rows=block_rows,
    )
    if engine in DISTRIBUTED_ENGINES:  # named by a dotted path: the engine builds on this module, not the reverse
        from onnx_pipelines.tasks import load_object

        engine_class = load_object(DISTRIBUTED_ENGINES[engine])
        return engine_class(options, workers=workers, cpus_per_worker=cpus_per_worker, address=address).run()
    if engine != "local":
        raise InvalidConfigError(f"engine={engine!r} is not valid; use 'local' or 'ray'.")
    return ParityEvaluator(options).run()


@dataclass
class _Reference:
    outputs: list[dict[str, np.ndarray]]
    predictions: Predictions | None
    gold: list[Any] | None
    result: ReferenceResult


class ParityEvaluator:
    """The fixed evaluation sequence over one :class:`~onnx_pipelines.parity.prepare.ParityOptions`."""

    prepared: PreparedRun  # set by run(), step 1

    def __init__(self, options: ParityOptions) -> None:
        self.options = options
        self._calibration: tuple[list[str], Calibration] | None = None
        self._metric_modules: dict[str, Any] = {}

    def run(self) -> ParityReport:
        """Check inputs, load and tokenize the rows, run the reference, evaluate every variant, report."""
        self.prepared = check_inputs(self.options)
        load_rows(self.prepared, self.options)
        tokenize(self.prepared, self.options)
        reference = self.run_reference()
        results = [self.evaluate_variant(spec, reference) for spec in self.prepared.variants]
        return self.assemble(reference, results)

    @property
    def ctx(self) -> AdapterContext:
        assert self.prepared.ctx is not None  # set by load_rows
        return self.prepared.ctx

    def run_reference(self) -> _Reference:
        """Run the PyTorch model on the shared batches, predict and score."""
        import torch

        run = self.prepared
        self.say(f"Running the PyTorch reference on {run.rows.num_rows} rows")
        runner = TorchRunner.from_pretrained(run.task.load_torch_class(), run.source.path, run.adapter.model_outputs)
        outputs, timing = self.run_model(runner, runner.threads, "PyTorch reference")
        del runner
        gc.collect()
        for spec in run.adapter.compared:
            bad = sum(not np.all(np.isfinite(o[spec.name])) for o in outputs)
            if bad:
                raise ParityError(f"The PyTorch reference itself produced NaN or inf in {spec.name!r} on {bad} "
                                  "examples: there is nothing sound to compare against. Check the model.")
        predictions = run.adapter.predict(outputs, self.ctx)
        gold = run.adapter.references(run.rows, self.ctx) if run.use_labels else None
        self._metric_modules = load_metrics(run.adapter.metrics) if gold is not None else {}
        metrics = metric_values(run.adapter.metrics, self._metric_modules, predictions, gold)
        result = ReferenceResult(framework="pytorch", model_class=run.task.torch_model_class,
                                 torch_version=torch.__version__, metrics=metrics, timing=timing)
        return _Reference(outputs, predictions, gold, result)

    def run_model(self, runner: ModelRunner, threads: int | None,
                  desc: str) -> tuple[list[dict[str, np.ndarray]], Timing]:
        """Run ``runner`` on every batch; per-example outputs come back in evaluated-row order."""
        run = self.prepared
        per_batch: list[list[dict[str, np.ndarray]]] = [[] for _ in run.batches]

        def keep(number: int, raw: dict[str, np.ndarray]) -> None:
            per_batch[number] = run.adapter.split_outputs(raw, run.batches[number], self.ctx)

        timing = run_batches(runner, run.adapter.model_outputs, run.batches, keep, threads=threads, desc=desc,
                             progress=self.options.progress)
        return restore_order(run.batch_indices, per_batch), timing

    def evaluate_variant(self, spec: VariantSpec, reference: _Reference) -> VariantResult:
        """Build, run, compare and judge one variant; failures become a failed result, not an exception."""
        adapter = self.prepared.adapter
        calibration = self.calibration_for(spec)
        artifact: tuple[str, str] | None = None
        try:
            self.say(f"Building variant {spec.name}")
            built = self.build(spec, calibration)
            artifact = (str(built.path), built.model_file)
            runtime = self.request_for(spec, calibration).runtime if spec.variant else self.prepared.base.runtime
            runner = open_runner(built.path / built.model_file, runtime)  # ORT, or OpenVINO for openvino:*
            self.say(f"Running variant {spec.name}")
            outputs, timing = self.run_model(runner, self.options.intra_op_threads, spec.name)
            del runner
            comparisons = [compare_outputs(o.name, [r[o.name] for r in reference.outputs],
                                           [c[o.name] for c in outputs], cosine=o.cosine) for o in adapter.compared]
        except Exception as e:  # our errors, and onnxruntime's own Exception subclasses (Fail, InvalidGraph ...)
            return self.failed(spec, f"{type(e).__name__}: {e}", artifact)
        finally:
            gc.collect()
        return self.judge(spec, comparisons, adapter.predict(outputs, self.ctx), timing, reference, artifact)

    def judge(self, spec: VariantSpec, comparisons: list[Any], predictions: Predictions | None, timing: Timing,
              reference: _Reference, artifact: tuple[str, str]) -> VariantResult:
        """Agreement, metrics, worst disagreements and checks of a variant that ran (shared by every engine)."""
        adapter = self.prepared.adapter
        precision = self.precision(spec)
        limits = resolve_thresholds(precision, self.options.thresholds)
        calibration = self.calibration_for(spec)
        record = calibration[1] if calibration else None
        share, disagreeing = agreement(reference.predictions, predictions)
        values = metric_values(adapter.metrics, self._metric_modules, predictions, reference.gold)
        metrics = [MetricResult(name, value, reference.result.metrics[name],
                                round((value - reference.result.metrics[name]) * 100, 6))
                   for name, value in values.items()]
        checks = build_checks(comparisons, share, metrics, limits)  # the gold metrics gate, not the measures below
        if reference.predictions is not None and predictions is not None:
            metrics += [MetricResult(name, value, 1.0, round((value - 1.0) * 100, 6))
                        for name, value in adapter.compare_predictions(reference.predictions, predictions).items()]
        listed = []
        if disagreeing and reference.predictions is not None and predictions is not None:
            listed = worst_disagreements(disagreeing, reference.predictions, predictions, reference.gold, adapter,
                                         self.prepared.row_data, self.ctx, self.options.max_disagreements)
        return VariantResult(spec.name, precision, artifact[0], artifact[1], comparisons, share, len(disagreeing),
                             metrics, timing, record, limits, checks, listed)

    @staticmethod
    def precision(spec: VariantSpec) -> str:
        """The variant's precision class (``fp32``, ``int8`` ...), from its recipe or its graph."""
        if spec.variant is not None:
            return variant_precision(spec.variant)
        assert spec.path is not None and spec.model_file is not None  # parse_variant_specs sets both
        return graph_precision(spec.path / spec.model_file)

    def failed(self, spec: VariantSpec, message: str, artifact: tuple[str, str] | None = None) -> VariantResult:
        """The result of a variant that could not be built or run."""
        precision = self.precision(spec)
        calibration = self.calibration_for(spec) if spec.variant is not None else None
        logger.warning("Variant %s failed: %s", spec.name, message)
        check = Check("build", False, None, None, f"could not build or run: {message}")
        return VariantResult(spec.name, precision, artifact[0] if artifact else None, artifact[1] if artifact else None,
                             [], None, 0, [], None, calibration[1] if calibration else None,
                             resolve_thresholds(precision, self.options.thresholds), [check], [], message)

    def calibration_for(self, spec: VariantSpec) -> tuple[list[str], Calibration] | None:
        """Calibration texts for static-int8 variants, chosen once per run."""
        if spec.variant is None or not spec.variant.calibrates or spec.recipe is not None:
            return None  # a recipe brings its own calibration texts
        if self._calibration is None:
            run, columns = self.prepared, self.options.columns
            if columns.text not in run.row_data:
                raise InvalidConfigError(
                    f"int8-static calibrates on a text column, and this {run.task.name} dataset has no "
                    f"{columns.text!r} column: use int8-dynamic, or add a text column (--text-column)."
                )
            evaluated = [str(t) for t in run.row_data[columns.text]]
            self._calibration = choose_calibration_texts(self.options.calibration, pool=run.full, columns=columns,
                                                         evaluated_texts=evaluated, seed=self.options.seed)
            run.notes.append(self._calibration[1].description)
        return self._calibration

    def request_for(self, spec: VariantSpec, calibration: tuple[list[str], Calibration] | None) -> BuildRequest:
        """The variant's resolved build request (static int8: resolved with the texts chosen to calibrate it)."""
        from onnx_pipelines.build_request import resolve_build_request

        run, options = self.prepared, self.options
        assert spec.variant is not None  # recipes only
        if spec.recipe is not None and spec.name not in run.requests:
            run.requests[spec.name] = recipe_for_run(spec.recipe, run.source.path, options.provider,
                                                     options.intra_op_threads)
        if spec.name not in run.requests:
            run.requests[spec.name] = resolve_build_request(
                run.task, run.source, optimize=spec.variant.optimize, quantize=spec.variant.quantize,
                provider=options.provider, intra_op_threads=options.intra_op_threads,
                runtime=spec.variant.runtime, precision=spec.variant.precision,
                calibration_dataset=calibration[0] if calibration else None,
                calibration_method=options.calibration.method,
                calibration_samples=len(calibration[0]) if calibration else options.calibration.samples,
            )
        return run.requests[spec.name]

    def build(self, spec: VariantSpec, calibration: tuple[list[str], Calibration] | None) -> Artifact:
        """The variant's artifact, through the same cached build path as ``load_pipeline``."""
        from onnx_pipelines.artifacts import build_artifact
        from onnx_pipelines.cache import ArtifactCache

        if spec.variant is None:
            assert spec.path is not None and spec.model_file is not None  # parse_variant_specs sets both
            return Artifact(spec.path, spec.model_file, {"name": "pre-exported", "source": str(spec.path)},
                            built=False)
        cache = ArtifactCache(None if self.options.cache_dir is None else os.fspath(self.options.cache_dir))
        return build_artifact(self.request_for(spec, calibration), cache=cache, progress=self.say)

    def assemble(self, reference: _Reference, results: list[VariantResult]) -> ParityReport:
        """Put the run's facts, the reference and the variant results into one report."""
        options, run = self.options, self.prepared
        evaluated, total = run.rows.num_rows, run.full.num_rows
        selection = "all rows"
        if options.limit is not None:
            selection = f"first {evaluated} rows (limit)"
        elif options.sample is not None and evaluated < total:
            selection = f"{evaluated} rows sampled with seed {options.seed} (sample)"
        notes = [f"Inputs are truncated at {self.ctx.max_length} tokens ({run.truncated} of {evaluated} rows reach "
                 "that length).", *run.notes, TIMING_NOTE]
        adapter = run.adapter
        return ParityReport(
            task=run.task.name,
            model={"path": str(run.source.path), "name": run.source.name, "hash": run.source.content_hash()[:12]},
            dataset={
                "source": os.fspath(options.dataset), "split": options.split, "config_name": options.config_name,
                "rows_total": total, "rows_evaluated": evaluated, "selection": selection,
                "columns": {k: v for k, v in asdict(options.columns).items() if v is not None},
                "labels": run.use_labels,
            },
            settings={"max_length": self.ctx.max_length, "batch_size": options.batch_size,
                      "max_tokens": options.max_tokens, "provider": run.provider,
                      "intra_op_threads": options.intra_op_threads, "seed": options.seed,
                      "block_rows": options.block_rows, **self.engine_settings()},
            reference=reference.result,
            variants=results,
            primary_metric=adapter.metrics[0].name if reference.gold is not None and adapter.metrics else None,
            notes=notes,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            tool_version=__version__,
        )

    def engine_settings(self) -> dict[str, Any]:
        """How the models were run, for the report's settings (the Ray engine adds its pool)."""
        return {"engine": "local", "workers": 1, "cpus_per_worker": None}

    def say(self, message: str) -> None:
        """A step message: logged, and shown on stderr when progress is on."""
        logger.info("%s", message)
        if self.options.progress:
            from tqdm.auto import tqdm

            tqdm.write(f"[parity] {message}", file=sys.stderr)


__all__ = ["ParityEvaluator", "evaluate_parity"]
