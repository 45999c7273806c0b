"""The parity evaluator: one fixed sequence for every task, per-task hooks from an adapter.

``evaluate_parity`` (a template method, like ``evaluate``'s ``Evaluator.compute``) always runs:

1. check the inputs (task, adapter, model, variants) before anything slow;
2. load the rows (:func:`onnx_pipelines.data.load_eval_dataset`) and tokenize them once into
   length-sorted batches (:mod:`onnx_pipelines.batching`) — the *same* batches feed every model;
3. run the PyTorch reference;
4. for each variant: build it through the artifact cache (as ``load_pipeline`` does), run it, compare
   its raw outputs with the reference's, derive predictions, score the metric, apply the thresholds;
5. assemble a :class:`~onnx_pipelines.parity.report.ParityReport`.

The adapter (:mod:`onnx_pipelines.parity.adapters`) decides how rows become batches, which outputs
are compared, what a prediction is and which metric scores it.
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

from onnx_pipelines import __version__
from onnx_pipelines.batching import length_sorted_batches, restore_order
from onnx_pipelines.config import Variant
from onnx_pipelines.data import ColumnMapping, load_eval_dataset
from onnx_pipelines.errors import InvalidConfigError, InvalidModelError, ParityError
from onnx_pipelines.parity.adapters import AdapterContext, Predictions, TaskAdapter, get_adapter
from onnx_pipelines.parity.calibration import CalibrationSettings, choose_calibration_texts
from onnx_pipelines.parity.compare import compare_outputs
from onnx_pipelines.parity.report import (
    Calibration,
    Disagreement,
    MetricResult,
    ParityReport,
    ReferenceResult,
    Timing,
    VariantResult,
)
from onnx_pipelines.parity.runners import OrtRunner, TorchRunner, run_batches
from onnx_pipelines.parity.scoring import build_checks, load_metrics, metric_values
from onnx_pipelines.parity.thresholds import Check, Thresholds, graph_precision, resolve_thresholds, variant_precision
from onnx_pipelines.parity.variants import VariantSpec, parse_variant_specs

logger = logging.getLogger(__name__)

TIMING_NOTE = (
    "Timings are measured in this process, one model after another, and are indicative only; "
    "`onnx-pipelines benchmark` times each variant in its own process."
)
TEXT_PREVIEW_CHARS = 300


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
    evaluator = ParityEvaluator(
        model, task, dataset, variants=variants, columns=columns or ColumnMapping(), require_labels=require_labels,
        split=split, config_name=config_name, limit=limit, sample=sample, seed=seed, max_length=max_length,
        batch_size=batch_size, max_tokens=max_tokens, thresholds=thresholds,
        calibration=calibration or CalibrationSettings(), provider=provider, intra_op_threads=intra_op_threads,
        cache_dir=cache_dir, max_disagreements=max_disagreements, progress=progress,
        task_options=dict(task_options or {}),
    )
    return evaluator.run()


@dataclass
class _Reference:
    outputs: list[dict[str, np.ndarray]]
    predictions: Predictions | None
    metrics: dict[str, float]
    result: ReferenceResult


class ParityEvaluator:
    """The fixed evaluation sequence; see :func:`evaluate_parity` for the arguments."""

    def __init__(self, model: Any, task: str, dataset: Any, *, variants: Any, columns: ColumnMapping,
                 require_labels: bool, split: str | None, config_name: str | None, limit: int | None,
                 sample: int | None, seed: int, max_length: int | None, batch_size: int, max_tokens: int,
                 thresholds: Thresholds | None, calibration: CalibrationSettings, provider: str,
                 intra_op_threads: int | None, cache_dir: Any, max_disagreements: int, progress: bool,
                 task_options: Mapping[str, Any] | None = None) -> None:
        self.model, self.task_name, self.dataset_source = model, task, dataset
        self.variant_inputs, self.columns, self.require_labels = variants, columns, require_labels
        self.split, self.config_name, self.limit, self.sample, self.seed = split, config_name, limit, sample, seed
        self.max_length, self.batch_size, self.max_tokens = max_length, batch_size, max_tokens
        self.thresholds, self.calibration = thresholds, calibration
        self.provider, self.intra_op_threads, self.cache_dir = provider, intra_op_threads, cache_dir
        self.max_disagreements, self.progress = max_disagreements, progress
        self.task_options = dict(task_options or {})
        self.notes: list[str] = []
        self._calibration_texts: tuple[list[str], Calibration] | None = None

    # -- the template ---------------------------------------------------------------------------
    def run(self) -> ParityReport:
        """Check inputs, load and tokenize the data, run the reference, evaluate every variant, report."""
        self.check_inputs()
        self.load_data()
        self.tokenize()
        reference = self.run_reference()
        results = [self.evaluate_variant(spec, reference) for spec in self.specs]
        return self.assemble(reference, results)

    # -- 1. inputs ------------------------------------------------------------------------------
    def check_inputs(self) -> None:
        """Resolve task, adapter, model and variants; fail fast with one-line errors."""
        from onnx_pipelines.export import check_head
        from onnx_pipelines.model_source import resolve_model
        from onnx_pipelines.pipeline import check_provider_fits
        from onnx_pipelines.runtime import resolve_provider
        from onnx_pipelines.tasks import get_task

        self.spec = get_task(self.task_name)
        self.adapter: TaskAdapter = get_adapter(self.spec.name)
        for name, value, low in (("batch_size", self.batch_size, 1), ("max_tokens", self.max_tokens, 1),
                                 ("max_disagreements", self.max_disagreements, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidConfigError(f"{name}={value!r} is not valid: pass an integer >= {low}.")
        self.specs: list[VariantSpec] = parse_variant_specs(self.variant_inputs, self.spec)
        self.provider_name = resolve_provider(self.provider)
        for spec in self.specs:
            if spec.variant is not None:
                from onnx_pipelines.config import resolve_optimize

                check_provider_fits(resolve_optimize(spec.variant.optimize), self.provider_name)
        self.source = resolve_model(self.model)
        if not self.source.has_torch_weights:
            raise InvalidModelError(
                f"{str(self.source.path)!r} holds no PyTorch weights (model.safetensors / pytorch_model.bin), so there "
                "is no reference to compare with. Pass the original transformers model folder as MODEL, and a "
                "pre-exported ONNX folder as a variant."
            )
        self.config = self.source.config()
        check_head(self.config, self.spec, self.source.path)

    # -- 2. data --------------------------------------------------------------------------------
    def load_data(self) -> None:
        """Load the evaluated rows, decide whether labels are used, load the tokenizer."""
        from transformers import AutoTokenizer

        label_role = self.adapter.label_role
        required = list(self.adapter.input_roles)
        required += [role for role in self.adapter.optional_roles if getattr(self.columns, role, None) is not None]
        if label_role and self.require_labels:
            required.append(label_role)
        common = dict(split=self.split, config_name=self.config_name, columns=self.columns, required=tuple(required))
        self.full = load_eval_dataset(self.dataset_source, **common)
        self.rows = load_eval_dataset(self.dataset_source, limit=self.limit, sample=self.sample, seed=self.seed,
                                      **common)
        label_column = getattr(self.columns, label_role) if label_role else None
        self.use_labels = bool(label_column and label_column in self.rows.column_names)
        if label_role is None:
            self.notes.append(f"{self.spec.name} has no gold labels: no labels, so no task metric; agreement and "
                              "output differences judge the variants.")
        elif not self.use_labels:
            self.notes.append(f"No labels: the dataset has no {label_column!r} column, so no task metric was "
                              "computed (map the label column with --label-column).")
        self.tokenizer = AutoTokenizer.from_pretrained(self.source.path)
        limit = int(self.config.get("max_position_embeddings") or 512)
        length = self.max_length or self.adapter.default_max_length(self.config, self.tokenizer, self.source.path)
        if isinstance(length, bool) or not isinstance(length, int) or not 2 <= length <= limit:
            raise InvalidConfigError(f"max_length={length!r} is not valid for this model: pass 2..{limit} "
                                     "(its max_position_embeddings).")
        self.ctx = AdapterContext(model_path=self.source.path, config=self.config, tokenizer=self.tokenizer,
                                  max_length=length, columns=self.columns, options=self.task_options)
        self.row_data: dict[str, list[Any]] = self.rows.to_dict()

    def tokenize(self) -> None:
        """Tokenize every row once into length-sorted batches, shared by all models."""
        lengths = self.adapter.lengths(self.row_data, self.ctx)
        self.batch_indices = length_sorted_batches(lengths, max_batch_size=self.batch_size, max_tokens=self.max_tokens)
        self.batches = [
            self.adapter.encode({k: [v[i] for i in indices] for k, v in self.row_data.items()}, self.ctx)
            for indices in self.batch_indices
        ]
        self.truncated = sum(length >= self.ctx.max_length for length in lengths)

    # -- 3. reference ---------------------------------------------------------------------------
    def run_reference(self) -> _Reference:
        """Run the PyTorch model on the shared batches."""
        import torch

        self.say(f"Running the PyTorch reference on {self.rows.num_rows} rows")
        runner = TorchRunner(self.source.path, self.spec.load_torch_class(), self.adapter.model_outputs)
        outputs, timing = self.run_model(runner, runner.threads, "PyTorch reference")
        del runner
        gc.collect()
        for spec in self.adapter.compared:
            bad = sum(not np.all(np.isfinite(o[spec.name])) for o in outputs)
            if bad:
                raise ParityError(f"The PyTorch reference itself produced NaN or inf in {spec.name!r} on {bad} "
                                  "examples: there is nothing sound to compare against. Check the model.")
        predictions = self.adapter.predict(outputs, self.ctx)
        self.gold = self.adapter.references(self.rows, self.ctx) if self.use_labels else None
        self.metric_modules = load_metrics(self.adapter.metrics) if self.gold is not None else {}
        metrics = metric_values(self.adapter.metrics, self.metric_modules, predictions, self.gold)
        result = ReferenceResult(framework="pytorch", model_class=self.spec.torch_model_class,
                                 torch_version=torch.__version__, metrics=metrics, timing=timing)
        return _Reference(outputs, predictions, metrics, result)

    def run_model(self, runner: Any, threads: int | None, desc: str) -> tuple[list[dict[str, np.ndarray]], Timing]:
        """Run ``runner`` on every batch; per-example outputs come back in evaluated-row order."""
        per_batch: list[list[dict[str, np.ndarray]]] = [[] for _ in self.batches]

        def keep(number: int, raw: dict[str, np.ndarray]) -> None:
            per_batch[number] = self.adapter.split_outputs(raw, self.batches[number], self.ctx)

        timing = run_batches(runner, self.batches, keep, threads=threads, desc=desc, progress=self.progress)
        return restore_order(self.batch_indices, per_batch), timing

    # -- 4. variants ----------------------------------------------------------------------------
    def evaluate_variant(self, spec: VariantSpec, reference: _Reference) -> VariantResult:
        """Build, run, compare and judge one variant; failures become a failed result, not an exception."""
        if spec.variant is not None:
            precision = variant_precision(spec.variant)
        else:
            assert spec.path is not None and spec.model_file is not None  # parse_variant_specs sets both
            precision = graph_precision(spec.path / spec.model_file)
        limits = resolve_thresholds(precision, self.thresholds)
        calibration = self.calibration_for(spec)
        artifact: tuple[str, str] | None = None
        try:
            self.say(f"Building variant {spec.name}")
            pipe = self.build(spec, calibration)
            artifact = (str(pipe.artifact.path), pipe.artifact.model_file)
            runner = OrtRunner(pipe.model.session, self.adapter.model_outputs, self.intra_op_threads)
            self.say(f"Running variant {spec.name}")
            outputs, timing = self.run_model(runner, self.intra_op_threads, spec.name)
            comparisons = [compare_outputs(o.name, [r[o.name] for r in reference.outputs],
                                           [c[o.name] for c in outputs], cosine=o.cosine)
                           for o in self.adapter.compared]
        except Exception as e:  # our errors, and onnxruntime's own Exception subclasses (Fail, InvalidGraph ...)
            message = f"{type(e).__name__}: {e}"
            logger.warning("Variant %s failed: %s", spec.name, message)
            check = Check("build", False, None, None, f"could not build or run: {message}")
            return VariantResult(spec.name, precision, artifact[0] if artifact else None,
                                 artifact[1] if artifact else None, [], None, 0, [], None,
                                 calibration[1] if calibration else None, limits, [check], [], message)
        finally:
            gc.collect()
        del pipe, runner
        predictions = self.adapter.predict(outputs, self.ctx)
        agreement, disagreeing = self.agreement(reference.predictions, predictions)
        values = metric_values(self.adapter.metrics, self.metric_modules, predictions, self.gold)
        metrics = [MetricResult(name, values[name], reference.metrics[name],
                                round((values[name] - reference.metrics[name]) * 100, 6)) for name in values]
        checks = build_checks(comparisons, agreement, metrics, limits)
        return VariantResult(
            spec.name, precision, artifact[0], artifact[1], comparisons, agreement, len(disagreeing), metrics,
            timing, calibration[1] if calibration else None, limits, checks,
            self.disagreements(disagreeing, reference.predictions, predictions),
        )

    def calibration_for(self, spec: VariantSpec) -> tuple[list[str], Calibration] | None:
        """Calibration texts for static-int8 variants, chosen once per run."""
        if spec.variant is None or spec.variant.quantize != "static":
            return None
        if self._calibration_texts is None:
            if self.columns.text not in self.row_data:
                raise InvalidConfigError(
                    f"int8-static calibrates on a text column, and this {self.spec.name} dataset has no "
                    f"{self.columns.text!r} column: use int8-dynamic, or add a text column (--text-column)."
                )
            evaluated = [str(t) for t in self.row_data[self.columns.text]]
            self._calibration_texts = choose_calibration_texts(self.calibration, pool=self.full, columns=self.columns,
                                                               evaluated_texts=evaluated, seed=self.seed)
            self.notes.append(self._calibration_texts[1].description)
        return self._calibration_texts

    def build(self, spec: VariantSpec, calibration: tuple[list[str], Calibration] | None) -> Any:
        """The variant's pipeline, through the same cached path as ``load_pipeline``."""
        from onnx_pipelines.pipeline import load_pipeline

        if spec.path is not None:
            return spec.load(self.spec, self.provider, self.provider_name, self.intra_op_threads)
        assert spec.variant is not None  # parse_variant_specs sets one of path / variant
        return load_pipeline(
            self.spec.name, self.source.path, optimize=spec.variant.optimize, quantize=spec.variant.quantize,
            provider=self.provider, cache_dir=self.cache_dir, intra_op_threads=self.intra_op_threads,
            calibration_dataset=calibration[0] if calibration else None,
            calibration_method=self.calibration.method,
            calibration_samples=len(calibration[0]) if calibration else self.calibration.samples,
            progress=self.say,
        )

    @staticmethod
    def agreement(reference: Predictions | None, candidate: Predictions | None) -> tuple[float | None, list[int]]:
        """Fraction of examples where both predict the same, and the indices where they do not."""
        if reference is None or candidate is None:
            return None, []
        disagreeing = [i for i, (a, b) in enumerate(zip(reference.labels, candidate.labels, strict=True)) if a != b]
        count = len(reference.labels)
        return (1.0 - len(disagreeing) / count if count else None), disagreeing

    def disagreements(self, indices: list[int], reference: Predictions | None,
                      candidate: Predictions | None) -> list[Disagreement]:
        """The worst disagreements: the most confident reference answers the variant contradicted."""
        if not indices or reference is None or candidate is None:
            return []
        ranked = sorted(indices, key=lambda i: (-float(reference.margins[i]), i))[: self.max_disagreements]
        # (the reference's margins are finite: run_reference rejects non-finite reference outputs)
        listed = []
        for i in ranked:
            text = self.adapter.describe(self.row_data, i, self.ctx)
            listed.append(Disagreement(
                index=i,
                text=text if len(text) <= TEXT_PREVIEW_CHARS else text[: TEXT_PREVIEW_CHARS - 1] + "…",
                reference=self.adapter.label_name(reference.labels[i], self.ctx),
                reference_score=_rounded(reference.scores[i]),
                reference_margin=_rounded(reference.margins[i]),
                variant=self.adapter.label_name(candidate.labels[i], self.ctx),
                variant_score=_rounded(candidate.scores[i]),
                gold=self.adapter.label_name(self.gold[i], self.ctx) if self.gold is not None else None,
            ))
        return listed

    # -- 5. report ------------------------------------------------------------------------------
    def assemble(self, reference: _Reference, results: list[VariantResult]) -> ParityReport:
        """Put the run's facts, the reference and the variant results into one report."""
        selection = "all rows"
        if self.limit is not None:
            selection = f"first {self.rows.num_rows} rows (limit)"
        elif self.sample is not None and self.rows.num_rows < self.full.num_rows:
            selection = f"{self.rows.num_rows} rows sampled with seed {self.seed} (sample)"
        notes = [f"Inputs are truncated at {self.ctx.max_length} tokens ({self.truncated} of {self.rows.num_rows} "
                 "rows reach that length).", *self.notes, TIMING_NOTE]
        return ParityReport(
            task=self.spec.name,
            model={"path": str(self.source.path), "name": self.source.name, "hash": self.source.content_hash()[:12]},
            dataset={
                "source": os.fspath(self.dataset_source), "split": self.split, "config_name": self.config_name,
                "rows_total": self.full.num_rows, "rows_evaluated": self.rows.num_rows, "selection": selection,
                "columns": {k: v for k, v in asdict(self.columns).items() if v is not None},
                "labels": self.use_labels,
            },
            settings={"max_length": self.ctx.max_length, "batch_size": self.batch_size, "max_tokens": self.max_tokens,
                      "provider": self.provider_name, "intra_op_threads": self.intra_op_threads, "seed": self.seed},
            reference=reference.result,
            variants=results,
            primary_metric=self.adapter.metrics[0].name if self.gold is not None and self.adapter.metrics else None,
            notes=notes,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            tool_version=__version__,
        )

    def say(self, message: str) -> None:
        """A step message: logged, and shown on stderr when progress is on."""
        logger.info("%s", message)
        if self.progress:
            from tqdm.auto import tqdm

            tqdm.write(f"[parity] {message}", file=sys.stderr)


def _rounded(value: Any) -> float | None:
    """A score for the report: rounded, or ``None`` when a broken variant made it NaN/inf (strict JSON)."""
    number = float(value)
    return round(number, 6) if np.isfinite(number) else None


__all__ = ["ParityEvaluator", "evaluate_parity"]
