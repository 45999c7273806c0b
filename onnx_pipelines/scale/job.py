"""``batch_predict``: a model over a whole dataset, written as Parquet shards, on the local or the Ray engine.

The driver resolves everything once into a frozen :class:`PredictJob` (the artifact is built here,
through the cached build path, before any worker starts), plans the shards, skips those a resumed run
already finished, hands the rest to an engine, and writes ``manifest.json`` when every shard is there.

- ``engine="local"``: one :class:`~onnx_pipelines.scale.worker.ShardPredictor` in this process, shard after
  shard; memory stays flat however many rows there are (one shard's rows and outputs at a time).
- ``engine="ray"``: ``workers`` Ray actors with ``cpus_per_worker`` CPUs each
  (:mod:`onnx_pipelines.scale.ray_engine`). Every node must be able to read the artifact folder, the
  dataset and the output folder at the same path (shared storage); see ``docs/scale.md``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from onnx_pipelines.build_request import BuildRequest
from onnx_pipelines.errors import InvalidConfigError, UnsupportedTaskError
from onnx_pipelines.scale.job_spec import DataSpec, PredictJob
from onnx_pipelines.scale.shards import (
    MANIFEST_FILE,
    OUTPUT_SCHEMA,
    SHARDS_DIR,
    finished_shards,
    plan_shards,
    prepare_output,
    write_json,
)

logger = logging.getLogger(__name__)

ENGINES: tuple[str, ...] = ("local", "ray")


def text_tasks() -> list[str]:
    """Tasks whose examples are a text (plus optional fields such as ``text_pair``): what
    :func:`~onnx_pipelines.pipelines.dataset_prediction.predict_dataset` batches by length."""
    from onnx_pipelines.tasks import TASKS

    return [name for name, spec in TASKS.items() if spec.input_fields == ("text",)]


@dataclass(frozen=True)
class BatchResult:
    """What a :func:`batch_predict` run did.

    Attributes:
        output: The output folder.
        manifest: The manifest written to ``output/manifest.json``.
        shards_run: Shards this run predicted.
        shards_skipped: Shards a previous run had finished (``resume``).
        rows_run: Rows this run predicted.
        seconds: Wall time of the shards this run predicted (the engine's start included).
    """

    output: Path
    manifest: dict[str, Any]
    shards_run: int
    shards_skipped: int
    rows_run: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows_run / self.seconds if self.seconds > 0 else 0.0


def batch_predict(
    model: str | os.PathLike[str],
    task: str,
    dataset: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    engine: str = "local",
    workers: int = 1,
    cpus_per_worker: int | None = None,
    address: str | None = None,
    optimize: str | None = None,
    quantize: str | None = None,
    provider: str = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    split: str | None = None,
    config_name: str | None = None,
    text_column: str = "text",
    text_pair_column: str | None = None,
    id_column: str | None = None,
    limit: int | None = None,
    shard_rows: int = 1000,
    batch_size: int = 32,
    max_tokens: int = 8192,
    max_length: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
    **call_options: Any,
) -> BatchResult:
    """Run a model over every row of a dataset and write the predictions as Parquet shards.

    Args:
        model: A model folder, a folder holding ``model.onnx``, or a hub id.
        task: A task whose examples are texts (:func:`text_tasks`).
        dataset: A data file, ``save_to_disk`` folder, folder of data files or Hub dataset name.
        output: The output folder: ``shards/part-NNNNN.parquet``, ``job.json``, ``manifest.json``.
        engine: ``"local"`` (this process) or ``"ray"`` (an actor pool; needs the ``[ray]`` extra).
        workers: Ray actors (``engine="ray"`` only).
        cpus_per_worker: CPUs per worker: Ray reserves them, and ONNX Runtime gets as many intra-op
            threads (one inter-op thread). ``None``: ORT's default locally, 1 on Ray.
        address: The Ray cluster (default ``$RAY_ADDRESS``; neither: a local Ray for this job).
        optimize: ``None`` or ``"O1"``-``"O4"`` (``O4`` needs a GPU).
        quantize: ``None``, ``"dynamic"`` or ``"static"`` (calibrated on the first 128 rows of the input).
        provider: ONNX Runtime provider (``auto``, ``cpu``, ``cuda``).
        cache_dir: Artifact cache folder.
        split: The split, when the source has several.
        config_name: The Hub dataset configuration.
        text_column: The column holding the text.
        text_pair_column: The column holding the second text of pairs.
        id_column: A column copied beside each prediction.
        limit: Only the first ``limit`` rows.
        shard_rows: Rows per shard (per output file, and per unit of work and of retry).
        batch_size: Most rows per model call.
        max_tokens: Most padded tokens per model call.
        max_length: Tokens kept per text (text classification; default: the model's maximum).
        resume: Keep the shards an interrupted run of the same job finished, run the others.
        overwrite: Delete the output folder's content first.
        progress: Called with a message per step and per finished shard.
        **call_options: Passed to every pipeline call: the task's ``call_options`` (``top_k``,
            ``candidate_labels`` ...).

    Returns:
        What was run, and the manifest.

    Raises:
        UnsupportedTaskError: A task whose examples are not texts.
        InvalidConfigError: Bad engine, workers, output folder state; and what ``load_pipeline`` raises.
        DatasetError: The dataset cannot be read or lacks the columns.
        EngineUnavailableError: Ray is not installed, or its cluster cannot be reached.

    Example:
        >>> result = batch_predict("models/bbc", "text-classification", "corpus.parquet", "preds",
        ...                        optimize="O2", quantize="dynamic", engine="ray", workers=4)  # doctest: +SKIP
        >>> result.manifest["rows"]  # doctest: +SKIP
        2225
    """
    say = progress or (lambda message: logger.info("%s", message))
    _check_engine(engine, workers, cpus_per_worker)
    from onnx_pipelines.tasks import get_task

    spec = get_task(task)
    if spec.name not in text_tasks():
        raise UnsupportedTaskError(
            f"predict-dataset runs tasks whose examples are texts ({', '.join(text_tasks())}), not {task!r}."
        )
    unknown = sorted(set(call_options) - set(spec.call_options))
    missing = sorted(set(spec.required_options) - set(call_options))
    if unknown or missing:
        raise InvalidConfigError(
            f"{spec.name} takes the call options {', '.join(spec.call_options) or 'none'}"
            + (f"; {', '.join(unknown)} is not one of them" if unknown else "")
            + (f"; it needs {', '.join(missing)}" if missing else "") + "."
        )
    task = spec.name
    if max_length is not None and task != "text-classification":
        raise InvalidConfigError(
            f"max_length is a text-classification option; {task} truncates at the model's own maximum length: "
            "drop --max-length."
        )
    data = DataSpec(os.fspath(dataset), split, config_name, text_column, text_pair_column, id_column, limit)
    rows = data.load()  # checks the data before the (slow) build
    total_rows = rows.num_rows
    request, artifact = build_job_artifact(task, model, optimize=optimize, quantize=quantize, provider=provider,
                                           cache_dir=cache_dir, calibration_rows=rows, text_column=text_column,
                                           progress=say)
    del rows
    options = dict(call_options)
    if max_length is not None:
        options["max_length"] = max_length
    threads = cpus_per_worker if cpus_per_worker is not None else (1 if engine == "ray" else None)
    job = PredictJob(task=task, model=os.fspath(model), request=request, artifact_path=str(artifact.path),
                     model_file=artifact.model_file, data=data,
                     output=str(Path(output).expanduser().resolve()), total_rows=total_rows, shard_rows=shard_rows,
                     batch_size=batch_size, max_tokens=max_tokens, threads=threads, call_options=options)
    shards = plan_shards(total_rows, shard_rows)
    out = Path(job.output)
    prepare_output(out, job.identity(), resume=resume, overwrite=overwrite)
    done = finished_shards(out, shards) if resume else set()
    todo = [s for s in shards if s.index not in done]
    say(f"{len(todo)} of {len(shards)} shards to run ({len(done)} finished before), {engine} engine")
    started = time.perf_counter()
    rows_run, busy = 0, 0.0
    for summary in _run(engine, job, todo, workers=workers, cpus=threads or 1, address=address):
        rows_run += summary["rows"]
        busy += summary["seconds"]
        say(f"shard {summary['shard']} done: {summary['rows']} rows in {summary['seconds']:.1f} s")
    seconds = time.perf_counter() - started
    lost = sorted(set(range(len(shards))) - finished_shards(out, shards))
    if lost:
        raise InvalidConfigError(f"Shards {lost[:10]} are missing after the run; run again with --resume.")
    manifest = _manifest(job, len(shards), engine=engine, workers=workers, threads=threads, seconds=seconds,
                         rows_run=rows_run, busy=busy)
    write_json(out / MANIFEST_FILE, manifest)
    return BatchResult(out, manifest, len(todo), len(done), rows_run, seconds)


def build_job_artifact(task: str, model: str | os.PathLike[str], *, optimize: str | None, quantize: str | None,
                       provider: str, cache_dir: str | os.PathLike[str] | None, calibration_rows: Any = None,
                       text_column: str = "text", progress: Callable[[str], None]) -> tuple[BuildRequest, Any]:
    """Resolve the variant's build request and build it (or take it from the cache) once, on the driver.

    Static int8 calibrates on the first 128 rows of the job's own input (``calibration_rows``).
    """
    from onnx_pipelines.artifacts import build_artifact
    from onnx_pipelines.build_request import resolve_build_request
    from onnx_pipelines.cache import ArtifactCache

    request = resolve_build_request(task, os.fspath(model), optimize=optimize, quantize=quantize, provider=provider,
                                    calibration_dataset=calibration_rows if quantize == "static" else None,
                                    text_column=text_column)
    progress(f"Building the artifact once for every worker ({request.task.name}, {request.variant})")
    cache = ArtifactCache(None if cache_dir is None else os.fspath(cache_dir))
    return request, build_artifact(request, cache=cache, progress=progress)


def _run(engine: str, job: PredictJob, todo: list[Any], *, workers: int, cpus: int, address: str | None) -> Any:
    from onnx_pipelines.scale.worker import ShardPredictor

    if engine == "ray":
        from onnx_pipelines.scale.ray_engine import run_shards

        return run_shards(ShardPredictor, (job,), todo, workers=workers, cpus_per_worker=cpus, address=address)
    if not todo:
        return iter(())
    worker = ShardPredictor(job)
    return (worker.predict_shard(shard) for shard in todo)


def _check_engine(engine: str, workers: int, cpus_per_worker: int | None) -> None:
    if engine not in ENGINES:
        raise InvalidConfigError(f"engine={engine!r} is not valid; use one of {', '.join(ENGINES)}.")
    for name, value in (("workers", workers), ("cpus_per_worker", cpus_per_worker)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidConfigError(f"{name}={value!r} is not valid: pass a positive integer.")
    if engine == "local" and workers != 1:
        raise InvalidConfigError(
            f"workers={workers} needs engine='ray' (--engine ray): the local engine is one process. "
            "Give it more ONNX Runtime threads with cpus_per_worker (--cpus-per-worker) instead."
        )


def _manifest(job: PredictJob, shards: int, *, engine: str, workers: int, threads: int | None, seconds: float,
              rows_run: int, busy: float) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from onnx_pipelines.versions import BUILD_LIBRARIES, REPORTED_LIBRARIES, library_versions

    first = Path(job.output) / SHARDS_DIR / "part-00000.parquet"
    schema = pq.read_schema(first) if first.is_file() else None
    versions = library_versions(dict.fromkeys((*REPORTED_LIBRARIES, *BUILD_LIBRARIES, "pyarrow", "datasets", "ray")))
    return {
        "schema": OUTPUT_SCHEMA,
        "rows": job.total_rows,
        "shards": shards,
        "shard_rows": job.shard_rows,
        "files": f"{SHARDS_DIR}/part-*.parquet",
        "columns": {f.name: str(f.type) for f in schema} if schema is not None else {},
        "order": "sort by the 'row' column (the row's position in the input) to restore the input order",
        "task": job.task,
        "model": job.model,
        "variant": job.variant,
        "artifact": {"path": job.artifact_path, "model_file": job.model_file},
        "provider": job.provider,
        "data": asdict(job.data),
        "call_options": dict(job.call_options),
        "last_run": {"engine": engine, "workers": workers if engine == "ray" else 1, "threads_per_worker": threads,
                     "rows": rows_run, "seconds": round(seconds, 3),
                     "rows_per_second": round(rows_run / seconds, 2) if seconds > 0 else None,
                     # Time workers spent predicting shards (summed over workers): wall time minus this
                     # per worker is start-up and driver overhead.
                     "worker_busy_seconds": round(busy, 3),
                     "rows_per_worker_second": round(rows_run / busy, 2) if busy > 0 else None},
        "versions": versions,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


__all__ = ["ENGINES", "text_tasks", "BatchResult", "DataSpec", "PredictJob", "batch_predict", "build_job_artifact"]
