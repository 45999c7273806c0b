"""The output of a sharded job: a plan of row ranges, one Parquet file per range, a manifest.

A job's rows (in input order) are cut into consecutive *shards* of ``shard_rows`` rows. Each shard is
predicted as a whole and written as ``OUT/shards/part-NNNNN.parquet`` through a temporary file renamed
into place, so a file that exists is complete: a job killed at any moment leaves finished shards and no
half-written one, and ``--resume`` redoes only the shards whose file is missing. ``OUT/job.json`` says
what the job was (so a resume with other settings is refused) and ``OUT/manifest.json``, written last,
says what the output holds.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onnx_pipelines.errors import InvalidConfigError

SHARDS_DIR = "shards"
JOB_FILE = "job.json"
MANIFEST_FILE = "manifest.json"
#: Bumped when the layout of the output folder changes.
OUTPUT_SCHEMA = 1


@dataclass(frozen=True)
class Shard:
    """One unit of work: rows ``start`` (inclusive) to ``stop`` (exclusive) of the job's input.

    Attributes:
        index: The shard's number, from 0; it names the file.
        start: First row (position in the input).
        stop: One past the last row.
    """

    index: int
    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start

    @property
    def file_name(self) -> str:
        return f"part-{self.index:05d}.parquet"


def plan_shards(total_rows: int, shard_rows: int) -> list[Shard]:
    """Cut ``total_rows`` rows into consecutive shards of ``shard_rows`` (the last may be shorter).

    Example:
        >>> plan_shards(5, 2)
        [Shard(index=0, start=0, stop=2), Shard(index=1, start=2, stop=4), Shard(index=2, start=4, stop=5)]
    """
    if isinstance(shard_rows, bool) or not isinstance(shard_rows, int) or shard_rows < 1:
        raise InvalidConfigError(f"shard_rows={shard_rows!r} is not valid: pass a positive number of rows.")
    return [Shard(i, start, min(start + shard_rows, total_rows))
            for i, start in enumerate(range(0, total_rows, shard_rows))]


def prepare_output(output: Path, job: Mapping[str, Any], *, resume: bool, overwrite: bool) -> None:
    """Create the output folder, or check it may be reused.

    Args:
        output: The output folder.
        job: What the job is (:meth:`~onnx_pipelines.scale.job.PredictJob.identity`); stored as
            ``job.json``, and compared with the stored one on resume.
        resume: Keep the finished shards of an earlier run of the same job.
        overwrite: Delete whatever the folder holds first.

    Raises:
        InvalidConfigError: Both flags; the folder holds files and neither flag is given; or ``resume``
            finds a different job (or no job) there.
    """
    if resume and overwrite:
        raise InvalidConfigError("Pass --resume (keep finished shards) or --overwrite (start again), not both.")
    output = Path(output)
    exists = output.exists() and any(output.iterdir())
    if exists and overwrite:
        shutil.rmtree(output)
    elif exists and resume:
        stored = read_json(output / JOB_FILE)
        if stored is None:
            raise InvalidConfigError(
                f"--resume: {str(output)!r} holds no {JOB_FILE}, so it is not the output of a predict-dataset job. "
                "Choose another --output, or pass --overwrite to replace it."
            )
        if stored != dict(job):
            changed = sorted(k for k in set(stored) | set(job) if stored.get(k) != job.get(k))
            raise InvalidConfigError(
                f"--resume: {str(output)!r} holds the shards of a different job ({', '.join(changed)} changed). "
                "Run with the same settings, or pass --overwrite to start again."
            )
        (output / MANIFEST_FILE).unlink(missing_ok=True)  # rewritten when the resumed run ends
        return
    elif exists:
        raise InvalidConfigError(
            f"--output {str(output)!r} already holds files. Pass --resume to finish an interrupted run of the "
            "same job, --overwrite to replace it, or choose a new folder."
        )
    (output / SHARDS_DIR).mkdir(parents=True, exist_ok=True)
    write_json(output / JOB_FILE, dict(job))


def finished_shards(output: Path, shards: Iterable[Shard]) -> set[int]:
    """Indices of the shards whose file exists with the planned number of rows."""
    import pyarrow.parquet as pq

    done = set()
    for shard in shards:
        path = Path(output) / SHARDS_DIR / shard.file_name
        if not path.is_file():
            continue
        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except (OSError, ValueError):  # unreadable: redo it
            continue
        if rows == shard.rows:
            done.add(shard.index)
    return done


def write_shard(output: Path, shard: Shard, table: Any) -> Path:
    """Write one shard's Arrow table atomically (temporary file, then rename); returns its path."""
    import pyarrow.parquet as pq

    folder = Path(output) / SHARDS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / shard.file_name
    tmp = folder / f".{shard.file_name}.{uuid.uuid4().hex}.tmp"
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def read_output(output: str | os.PathLike[str], columns: list[str] | None = None) -> Any:
    """Read every shard of an output folder back as one Arrow table, rows in input order.

    Example:
        >>> table = read_output("predictions")  # doctest: +SKIP
        >>> table.column("prediction")[0]  # doctest: +SKIP
    """
    import pyarrow.parquet as pq

    files = sorted((Path(output) / SHARDS_DIR).glob("part-*.parquet"))
    if not files:
        raise InvalidConfigError(f"{os.fspath(output)!r} holds no shards ({SHARDS_DIR}/part-*.parquet).")
    import pyarrow as pa

    table = pa.concat_tables([pq.read_table(f, columns=columns) for f in files])
    if columns is None or "row" in columns:
        table = table.sort_by("row")
    return table


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = Path(path).with_name(f".{Path(path).name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


__all__ = ["Shard", "finished_shards", "plan_shards", "prepare_output", "read_output", "write_shard"]
