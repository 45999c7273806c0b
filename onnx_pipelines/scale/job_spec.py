"""What a batch-prediction job is: where its rows come from (:class:`DataSpec`) and the frozen, resolved job
every worker receives (:class:`PredictJob`). The driver (:mod:`onnx_pipelines.scale.job`) makes them; the
workers (:mod:`onnx_pipelines.scale.worker`) and engines only read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from onnx_pipelines.build_request import BuildRequest
from onnx_pipelines.scale.shards import OUTPUT_SCHEMA


@dataclass(frozen=True)
class DataSpec:
    """Where a job's rows come from; every worker loads them the same way (and memory-maps them).

    Attributes:
        source: A data file (json/jsonl/csv/tsv/parquet), a ``save_to_disk`` folder, a folder of data
            files or a Hub dataset name (see :func:`~onnx_pipelines.eval_data.load_eval_dataset`).
        split: The split, when the source has several.
        config_name: The Hub dataset configuration.
        text_column: The column holding the text.
        text_pair_column: The column holding the second text of a pair, if any.
        id_column: A column copied to the output beside each prediction (your row ids), if any.
        limit: Only the first ``limit`` rows.
    """

    source: str
    split: str | None = None
    config_name: str | None = None
    text_column: str = "text"
    text_pair_column: str | None = None
    id_column: str | None = None
    limit: int | None = None

    def load(self) -> Any:
        """The rows, as a ``datasets.Dataset`` (Arrow, memory-mapped from the ``datasets`` cache)."""
        from onnx_pipelines.errors import DatasetError
        from onnx_pipelines.eval_data import ColumnMapping, load_eval_dataset

        columns = ColumnMapping(text=self.text_column, text_pair=self.text_pair_column, label=None)
        required = ("text", "text_pair") if self.text_pair_column else ("text",)
        rows = load_eval_dataset(self.source, split=self.split, config_name=self.config_name, columns=columns,
                                 required=required, limit=self.limit)
        if self.id_column is not None and self.id_column not in rows.column_names:
            raise DatasetError(
                f"--id-column {self.id_column!r} is not a column of {self.source!r} (columns: "
                f"{', '.join(rows.column_names)})."
            )
        return rows

    def items(self, rows: Any) -> list[Any]:
        """The pipeline inputs of ``rows``: texts, or ``{"text", "text_pair"}`` dicts."""
        texts = rows[self.text_column]
        if self.text_pair_column is None:
            return list(texts)
        return [{"text": t, "text_pair": p} for t, p in zip(texts, rows[self.text_pair_column], strict=True)]


@dataclass(frozen=True)
class PredictJob:
    """A resolved batch-prediction job: what every worker needs, and nothing it would have to resolve again.

    Attributes:
        task: The task.
        model: The model as given (folder or hub id), for the manifest.
        request: The resolved build request of the variant (task, source, recipe, provider).
        artifact_path: The built artifact folder (every worker opens its session from it).
        model_file: The graph's file name in that folder.
        data: Where the rows come from.
        output: The output folder.
        total_rows: Rows in the input (after ``limit``).
        shard_rows: Rows per shard (per output file, and per unit of work).
        batch_size: Most rows per model call.
        max_tokens: Most padded tokens per model call.
        threads: ONNX Runtime intra-op threads per worker (``None``: ORT's default).
        call_options: Keyword arguments of every pipeline call (``max_length``, ``top_k`` ...).
    """

    task: str
    model: str
    request: BuildRequest
    artifact_path: str
    model_file: str
    data: DataSpec
    output: str
    total_rows: int
    shard_rows: int
    batch_size: int
    max_tokens: int
    threads: int | None = None
    call_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def variant(self) -> str:
        return self.request.variant

    @property
    def provider(self) -> str:
        return self.request.provider

    def identity(self) -> dict[str, Any]:
        """What makes two runs the same job (engine, workers and threads do not): stored as ``job.json``."""
        recipe = {k: v for k, v in self.request.to_dict().items() if k not in ("intra_op_threads", "calibration_texts")}
        return {
            "schema": OUTPUT_SCHEMA, "task": self.task, "model": self.model, "variant": self.variant,
            "request": recipe,
            "artifact": f"{self.artifact_path}/{self.model_file}", "data": asdict(self.data),
            "total_rows": self.total_rows, "shard_rows": self.shard_rows, "batch_size": self.batch_size,
            "max_tokens": self.max_tokens, "call_options": dict(sorted(self.call_options.items())),
        }
