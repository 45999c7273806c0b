"""Shard plan, output folder rules (refuse / resume / overwrite) and atomic shard files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.scale.shards import (
    JOB_FILE,
    Shard,
    finished_shards,
    plan_shards,
    prepare_output,
    read_output,
    write_shard,
)

JOB = {"model": "m", "variant": "fp32", "total_rows": 5}


def test_plan_covers_every_row_once() -> None:
    shards = plan_shards(1003, 250)
    assert [s.rows for s in shards] == [250, 250, 250, 250, 3]
    rows = [r for s in shards for r in range(s.start, s.stop)]
    assert rows == list(range(1003))
    assert shards[4].file_name == "part-00004.parquet"
    assert plan_shards(0, 10) == []
    with pytest.raises(InvalidConfigError, match="shard_rows=0"):
        plan_shards(10, 0)


def test_existing_output_is_refused_unless_resume_or_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare_output(out, JOB, resume=False, overwrite=False)
    assert (out / JOB_FILE).is_file()
    with pytest.raises(InvalidConfigError, match="--resume .* --overwrite"):
        prepare_output(out, JOB, resume=False, overwrite=False)
    with pytest.raises(InvalidConfigError, match="not both"):
        prepare_output(out, JOB, resume=True, overwrite=True)
    prepare_output(out, JOB, resume=True, overwrite=False)  # same job: fine
    with pytest.raises(InvalidConfigError, match="different job \\(variant changed\\)"):
        prepare_output(out, {**JOB, "variant": "O2"}, resume=True, overwrite=False)
    write_shard(out, Shard(0, 0, 2), pa.table({"row": [0, 1]}))
    prepare_output(out, {**JOB, "variant": "O2"}, resume=False, overwrite=True)
    assert not list((out / "shards").iterdir())


def test_resume_refuses_a_folder_that_is_not_a_job(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InvalidConfigError, match="holds no job.json"):
        prepare_output(tmp_path, JOB, resume=True, overwrite=False)


def test_finished_shards_need_the_planned_rows_and_read_back_in_order(tmp_path: Path) -> None:
    shards = plan_shards(5, 2)
    write_shard(tmp_path, shards[2], pa.table({"row": [4], "p": ["c"]}))
    write_shard(tmp_path, shards[0], pa.table({"row": [1, 0], "p": ["b", "a"]}))
    write_shard(tmp_path, shards[1], pa.table({"row": [2], "p": ["x"]}))  # one row short: not finished
    (tmp_path / "shards" / "part-00009.parquet.tmp").write_bytes(b"half")  # a killed writer's leftover
    assert finished_shards(tmp_path, shards) == {0, 2}
    (tmp_path / "shards" / "part-00000.parquet").write_bytes(b"not parquet")
    assert finished_shards(tmp_path, shards) == {2}
    write_shard(tmp_path, shards[0], pa.table({"row": [1, 0], "p": ["b", "a"]}))
    table = read_output(tmp_path)
    assert table.column("row").to_pylist() == [0, 1, 2, 4]
    assert table.column("p").to_pylist() == ["a", "b", "x", "c"]
    assert not [p for p in (tmp_path / "shards").iterdir() if p.name.startswith(".")]  # no temp files left
