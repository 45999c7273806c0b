"""batch_predict on the local engine: shards equal the in-memory prediction, any source format, resume."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from onnx_pipelines.errors import EngineUnavailableError, InvalidConfigError, UnsupportedTaskError
from onnx_pipelines.pipeline import load_pipeline
from onnx_pipelines.scale import batch_predict, read_output
from onnx_pipelines.scale.ray_engine import connect


@pytest.fixture(scope="module")
def bbc_local(tmp_path_factory: pytest.TempPathFactory, bbc_model: Path, bbc_test_file: Path, artifact_cache: Path):
    out = tmp_path_factory.mktemp("bbc-local") / "preds"
    result = batch_predict(bbc_model, "text-classification", bbc_test_file, out, limit=24, shard_rows=10,
                           max_length=64, id_column="id", cache_dir=artifact_cache, cpus_per_worker=2)
    return result


@pytest.fixture(scope="module")
def tiny_rows(bbc_test_rows: list) -> list[dict]:
    return [{"id": r["id"], "text": r["text"][: 80 + 40 * (i % 5)]} for i, r in enumerate(bbc_test_rows[:30])]


def test_shards_hold_what_the_pipeline_predicts_in_input_order(bbc_local, bbc_model, bbc_test_rows,
                                                              artifact_cache) -> None:
    table = read_output(bbc_local.output)
    assert table.column("row").to_pylist() == list(range(24))
    assert table.column("id").to_pylist() == [r["id"] for r in bbc_test_rows[:24]]
    pipe = load_pipeline("text-classification", bbc_model, cache_dir=artifact_cache)
    expected = pipe.predict_dataset([r["text"] for r in bbc_test_rows[:24]], max_length=64)
    got = table.column("prediction").to_pylist()
    assert [g["label"] for g in got] == [e["label"] for e in expected]
    assert [g["score"] for g in got] == pytest.approx([e["score"] for e in expected], abs=1e-5)
    assert len({g["label"] for g in got}) > 1  # real predictions, not one constant


def test_manifest_says_what_the_output_holds(bbc_local, bbc_model) -> None:
    manifest = json.loads((bbc_local.output / "manifest.json").read_text())
    assert manifest == bbc_local.manifest
    assert (manifest["rows"], manifest["shards"], manifest["variant"]) == (24, 3, "fp32")
    assert manifest["columns"] == {"row": "int64", "id": "string",
                                   "prediction": "struct<label: string, score: double>"}
    assert manifest["model"] == str(bbc_model)
    assert manifest["artifact"]["model_file"] == "model.onnx"
    assert {"onnxruntime", "onnx-pipelines", "pyarrow"} <= set(manifest["versions"])
    assert manifest["last_run"]["threads_per_worker"] == 2
    assert sorted(p.name for p in (bbc_local.output / "shards").iterdir()) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]


def test_csv_parquet_and_saved_datasets_give_the_same_predictions(tmp_path, tiny_classifier, tiny_rows,
                                                                  artifact_cache) -> None:
    from datasets import Dataset

    rows = Dataset.from_list(tiny_rows)
    rows.to_json(tmp_path / "rows.jsonl")
    rows.to_csv(tmp_path / "rows.csv", index=False)
    rows.to_parquet(tmp_path / "rows.parquet")
    rows.save_to_disk(tmp_path / "saved")
    tables = []
    for source in ("rows.jsonl", "rows.csv", "rows.parquet", "saved"):
        result = batch_predict(tiny_classifier, "text-classification", tmp_path / source, tmp_path / f"out-{source}",
                               shard_rows=7, cache_dir=artifact_cache, id_column="id")
        assert result.manifest["rows"] == 30 and result.shards_run == 5
        tables.append(read_output(result.output).to_pylist())
    assert tables[0] == tables[1] == tables[2] == tables[3]


def test_resume_runs_only_the_missing_shards(tmp_path, tiny_classifier, tiny_rows, artifact_cache) -> None:
    from datasets import Dataset

    Dataset.from_list(tiny_rows).to_json(tmp_path / "rows.jsonl")
    run = dict(model=tiny_classifier, task="text-classification", dataset=tmp_path / "rows.jsonl",
               output=tmp_path / "out", shard_rows=8, cache_dir=artifact_cache)
    first = batch_predict(**run)
    before = read_output(first.output).to_pylist()
    (first.output / "shards" / "part-00002.parquet").unlink()
    with pytest.raises(InvalidConfigError, match="already holds files"):
        batch_predict(**run)
    with pytest.raises(InvalidConfigError, match="different job \\(shard_rows changed\\)"):
        batch_predict(**{**run, "shard_rows": 5}, resume=True)
    again = batch_predict(**run, resume=True)
    assert (again.shards_run, again.shards_skipped, again.rows_run) == (1, 3, 8)
    assert read_output(again.output).to_pylist() == before
    done = batch_predict(**run, resume=True)
    assert (done.shards_run, done.rows_run) == (0, 0)


def test_bad_requests_fail_before_anything_runs(tmp_path, tiny_classifier, bbc_test_file) -> None:
    with pytest.raises(InvalidConfigError, match="needs engine='ray'"):
        batch_predict(tiny_classifier, "text-classification", bbc_test_file, tmp_path / "o", workers=2)
    with pytest.raises(InvalidConfigError, match="engine='spark'"):
        batch_predict(tiny_classifier, "text-classification", bbc_test_file, tmp_path / "o", engine="spark")
    with pytest.raises(UnsupportedTaskError, match="question-answering"):
        batch_predict(tiny_classifier, "question-answering", bbc_test_file, tmp_path / "o")
    with pytest.raises(InvalidConfigError, match="it needs candidate_labels"):
        batch_predict(tiny_classifier, "zero-shot-classification", bbc_test_file, tmp_path / "o")
    with pytest.raises(InvalidConfigError, match="aggregation_strategy is not one of them"):
        batch_predict(tiny_classifier, "text-classification", bbc_test_file, tmp_path / "o",
                      aggregation_strategy="simple")
    with pytest.raises(InvalidConfigError, match="drop --max-length"):
        batch_predict(tiny_classifier, "token-classification", bbc_test_file, tmp_path / "o", max_length=64)
    assert not (tmp_path / "o").exists()


def test_missing_ray_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(EngineUnavailableError, match=r"pip install 'onnx-pipelines\[ray\]'"):
        connect()


def test_unreachable_cluster_names_the_address(monkeypatch) -> None:
    import socket

    pytest.importorskip("ray")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    with pytest.raises(EngineUnavailableError, match=f"RAY_ADDRESS '127.0.0.1:{port}'"):
        connect()
    with pytest.raises(EngineUnavailableError, match="not a cluster address"):
        connect("head-without-port")
