"""Parity on Ray: blocks of rows go to actors that run the PyTorch reference and every variant on them.

The driver checks the inputs, builds every variant once (through the same cached path as the local
evaluator, so the actors only open sessions), cuts the evaluated rows into consecutive blocks of
``block_rows`` and sends them through ``ray.data`` to a pool of :class:`ParityBlockWorker` actors. Each
actor tokenizes its block into the same length-sorted batches the local evaluator makes for that block
(:func:`~onnx_pipelines.parity.prepare.block_batches`), runs the reference and the variants, and sends back
mergeable statistics (:class:`~onnx_pipelines.parity.mergeable.OutputStats`) and the per-row predictions
(label, score, margin: the inputs of agreement, of the metric and of the worst-disagreement ranking).
The driver merges them and judges each variant with the evaluator's own code, so the report has the
same numbers as ``engine="local"`` on the same data (timings aside).
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.length_batches import restore_order
from onnx_pipelines.parity.adapters import Predictions
from onnx_pipelines.parity.evaluator import ParityEvaluator, _Reference
from onnx_pipelines.parity.mergeable import OutputStats
from onnx_pipelines.parity.prepare import ParityOptions, block_batches, check_inputs, load_rows
from onnx_pipelines.parity.report import ParityReport, ReferenceResult, Timing, VariantResult
from onnx_pipelines.scale.shards import Shard, plan_shards

#: Tasks whose predictions depend on other rows (nearest neighbours over the whole set) cannot be cut in blocks.
WHOLE_SET_TASKS: tuple[str, ...] = ("sentence-embeddings", "feature-extraction")


@dataclass(frozen=True)
class BlockJob:
    """What every parity actor needs: the run's options and the variants the driver built.

    Attributes:
        options: The parity run's options (the actor re-resolves the model, adapter and rows from them).
        variants: ``(name, artifact folder, model file)`` of each variant that was built.
        threads: ONNX Runtime intra-op threads (and torch threads) per actor.
    """

    options: ParityOptions
    variants: tuple[tuple[str, str, str], ...]
    threads: int


class ParityBlockWorker:
    """A Ray actor (or an in-process worker) that evaluates whole blocks of a parity run."""

    def __init__(self, job: BlockJob) -> None:
        import torch

        from onnx_pipelines.session_runner import TorchRunner, open_runner

        torch.set_num_threads(job.threads)
        self.job = job
        self.run = check_inputs(job.options)
        load_rows(self.run, job.options)
        assert self.run.ctx is not None  # set by load_rows
        self.ctx = self.run.ctx
        outputs = self.run.adapter.model_outputs
        self.reference = TorchRunner.from_pretrained(self.run.task.load_torch_class(), self.run.source.path, outputs)
        runtime = replace(self.run.base.runtime, intra_op_threads=job.threads, inter_op_threads=1)
        self.variants = [(name, open_runner(Path(folder) / model_file, runtime))
                         for name, folder, model_file in job.variants]

    def evaluate_block(self, shard: Shard) -> dict[str, Any]:
        """Reference and variants on rows ``shard.start``-``shard.stop``: statistics and predictions."""
        run, ctx = self.run, self.ctx
        rows = {key: values[shard.start:shard.stop] for key, values in run.row_data.items()}
        indices, batches, _ = block_batches(run.adapter, rows, ctx, self.job.options)
        block: dict[str, Any] = {"block": shard.index, "rows": shard.rows}
        reference, block["reference_seconds"] = self._outputs(self.reference, indices, batches)
        block["reference"] = run.adapter.predict(reference, ctx)
        block["variants"] = {}
        positions = range(shard.start, shard.stop)
        for name, runner in self.variants:
            outputs, seconds = self._outputs(runner, indices, batches)
            stats = {}
            for spec in run.adapter.compared:
                stats[spec.name] = OutputStats(spec.name, cosine=spec.cosine)
                stats[spec.name].add(positions, [r[spec.name] for r in reference], [o[spec.name] for o in outputs])
            block["variants"][name] = {"stats": stats, "predictions": run.adapter.predict(outputs, ctx),
                                       "seconds": seconds}
        return block

    def _outputs(self, runner: Any, indices: list[list[int]],
                 batches: list[dict[str, np.ndarray]]) -> tuple[list[dict[str, np.ndarray]], float]:
        per_batch, seconds = [], 0.0
        names = self.run.adapter.model_outputs
        for batch in batches:
            started = time.perf_counter()
            raw = {name: np.asarray(value, dtype=np.float32) for name, value in runner.run(batch, names).items()}
            seconds += time.perf_counter() - started
            per_batch.append(self.run.adapter.split_outputs(raw, batch, self.ctx))
        return restore_order(indices, per_batch), seconds

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ray ``map_batches`` entry: shard descriptors in, pickled block results out."""
        results = [self.evaluate_block(Shard(int(i), int(a), int(b)))
                   for i, a, b in zip(batch["index"], batch["start"], batch["stop"], strict=True)]
        return {"block": np.array([r["block"] for r in results]),
                "payload": np.array([pickle.dumps(r) for r in results], dtype=object)}


class RayParityEvaluator(ParityEvaluator):
    """:class:`ParityEvaluator` whose reference and variant runs happen in blocks on a Ray actor pool."""

    def __init__(self, options: ParityOptions, *, workers: int = 1, cpus_per_worker: int = 1,
                 address: str | None = None) -> None:
        super().__init__(options)
        self.workers, self.cpus_per_worker, self.address = workers, cpus_per_worker, address
        self.built: list[tuple[str, str, str]] = []

    def run(self) -> ParityReport:
        from onnx_pipelines.scale.ray_engine import run_shards

        self.prepared = check_inputs(self.options)
        if self.prepared.task.name in WHOLE_SET_TASKS:
            raise InvalidConfigError(
                f"engine='ray' cuts the rows in blocks, and {self.prepared.task.name} parity compares each row with "
                "its neighbours over the whole set: run it with engine='local'."
            )
        load_rows(self.prepared, self.options)
        lengths = self.prepared.adapter.lengths(self.prepared.row_data, self.ctx)
        self.prepared.truncated = sum(length >= self.ctx.max_length for length in lengths)
        failed = {}
        for spec in self.prepared.variants:
            try:
                self.say(f"Building variant {spec.name}")
                artifact = self.build(spec, self.calibration_for(spec))
                self.built.append((spec.name, str(artifact.path), artifact.model_file))
            except Exception as e:  # as on the local engine: a variant that cannot be built fails in the report
                failed[spec.name] = self.failed(spec, f"{type(e).__name__}: {e}")
        job = BlockJob(replace(self.options, progress=False), tuple(self.built), self.cpus_per_worker)
        blocks = plan_shards(self.prepared.rows.num_rows, self.options.block_rows)
        self.say(f"Evaluating {len(blocks)} blocks on {self.workers} Ray actor(s) of {self.cpus_per_worker} CPU(s)")
        results = [pickle.loads(row["payload"]) for row in run_shards(
            ParityBlockWorker, (job,), blocks, workers=self.workers, cpus_per_worker=self.cpus_per_worker,
            address=self.address)]
        results.sort(key=lambda r: r["block"])
        reference = self._reference(results)
        variants = [failed[spec.name] if spec.name in failed else self._variant(spec, results, reference)
                    for spec in self.prepared.variants]
        return self.assemble(reference, variants)

    def engine_settings(self) -> dict[str, Any]:
        return {"engine": "ray", "workers": self.workers, "cpus_per_worker": self.cpus_per_worker}

    def _reference(self, results: list[dict[str, Any]]) -> _Reference:
        import torch

        from onnx_pipelines.parity.scoring import load_metrics, metric_values

        run = self.prepared
        predictions = _concat([r["reference"] for r in results])
        gold = run.adapter.references(run.rows, self.ctx) if run.use_labels else None
        self._metric_modules = load_metrics(run.adapter.metrics) if gold is not None else {}
        metrics = metric_values(run.adapter.metrics, self._metric_modules, predictions, gold)
        timing = _timing(run.rows.num_rows, sum(r["reference_seconds"] for r in results), len(results),
                         self.cpus_per_worker)
        result = ReferenceResult(framework="pytorch", model_class=run.task.torch_model_class,
                                 torch_version=torch.__version__, metrics=metrics, timing=timing)
        return _Reference([], predictions, gold, result)

    def _variant(self, spec: Any, results: list[dict[str, Any]], reference: _Reference) -> VariantResult:
        parts = [r["variants"][spec.name] for r in results]
        merged = {name: OutputStats(name, cosine=stats.cosine) for name, stats in parts[0]["stats"].items()}
        for part in parts:
            for name, stats in part["stats"].items():
                merged[name].merge(stats)
        comparisons = [merged[o.name].comparison() for o in self.prepared.adapter.compared]
        timing = _timing(self.prepared.rows.num_rows, sum(p["seconds"] for p in parts), len(parts),
                         self.cpus_per_worker)
        artifact = next((folder, file) for name, folder, file in self.built if name == spec.name)
        return self.judge(spec, comparisons, _concat([p["predictions"] for p in parts]), timing, reference, artifact)


def _concat(parts: list[Predictions]) -> Predictions:
    return Predictions(labels=[label for p in parts for label in p.labels],
                       margins=np.concatenate([np.asarray(p.margins) for p in parts]),
                       scores=np.concatenate([np.asarray(p.scores) for p in parts]))


def _timing(rows: int, seconds: float, batches: int, threads: int) -> Timing:
    return Timing(examples_per_second=round(rows / seconds, 3) if seconds > 0 else 0.0, seconds=round(seconds, 4),
                  batches=batches, threads=threads)


__all__ = ["BlockJob", "ParityBlockWorker", "RayParityEvaluator"]
