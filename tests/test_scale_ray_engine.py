"""The Ray engine on a local 2-CPU cluster (one per module): same shards as the local engine, an actor that
dies is restarted and its shard redone, the CLI runs on it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from onnx_pipelines.cli import main
from onnx_pipelines.scale import batch_predict, read_output
from onnx_pipelines.scale import worker as worker_module
from onnx_pipelines.scale.worker import ShardPredictor

ray = pytest.importorskip("ray", reason="the Ray engine needs the [ray] extra")

ROWS, SHARD_ROWS, MAX_LENGTH = 24, 10, 64


@pytest.fixture(scope="module", autouse=True)
def local_cluster():
    # Actors unpickle this module's classes: send them by value, whatever the workers' sys.path.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def job(bbc_model: Path, bbc_test_file: Path, artifact_cache: Path) -> dict:
    return dict(model=bbc_model, task="text-classification", dataset=bbc_test_file, limit=ROWS,
                shard_rows=SHARD_ROWS, max_length=MAX_LENGTH, id_column="id", cache_dir=artifact_cache)


@pytest.fixture(scope="module")
def local_rows(job: dict, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    result = batch_predict(**job, output=tmp_path_factory.mktemp("local") / "out", cpus_per_worker=2)
    return read_output(result.output).to_pylist()


class DiesOnce(ShardPredictor):
    """Kills its own actor process the first time it is handed shard 1."""

    marker: str = ""

    def __call__(self, batch):
        if int(batch["index"][0]) == 1 and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        return super().__call__(batch)


def test_two_actors_write_what_the_local_engine_writes_even_when_one_dies(job, local_rows, tmp_path,
                                                                          monkeypatch) -> None:
    DiesOnce.marker = str(tmp_path / "died")
    monkeypatch.setattr(worker_module, "ShardPredictor", DiesOnce)
    result = batch_predict(**job, output=tmp_path / "out", engine="ray", workers=2, cpus_per_worker=1)
    assert Path(DiesOnce.marker).is_file()  # an actor really died mid-job ...
    assert (result.shards_run, result.rows_run, result.manifest["rows"]) == (3, ROWS, ROWS)
    rows = read_output(result.output).to_pylist()
    assert rows == local_rows  # ... and its shard was redone: every row once, identical to the local run
    assert [r["row"] for r in rows] == list(range(ROWS))
    assert result.manifest["last_run"]["engine"] == "ray"


def test_cli_runs_one_actor_with_two_threads_and_the_local_engine_resumes_it(job, local_rows, tmp_path,
                                                                            capfd) -> None:
    out = tmp_path / "cli"
    argv = ["predict-dataset", str(job["model"]), "--task", "text-classification", "--dataset", str(job["dataset"]),
            "--output", str(out), "--limit", str(ROWS), "--shard-rows", str(SHARD_ROWS), "--max-length",
            str(MAX_LENGTH), "--id-column", "id", "--cache-dir", str(job["cache_dir"]), "--quiet"]
    assert main([*argv, "--engine", "ray", "--workers", "1", "--cpus-per-worker", "2"]) == 0
    captured = capfd.readouterr()
    assert f"{ROWS} rows in 3 shards" in captured.out
    # Ray Data's own progress lines and start-up notices stay in Ray's logs, off the terminal.
    assert "logging_progress" not in captured.err and "Starting execution" not in captured.err
    assert read_output(out).to_pylist() == local_rows
    (out / "shards" / "part-00000.parquet").unlink()
    assert main([*argv, "--engine", "local", "--resume"]) == 0  # a job may resume on another engine
    assert "1 shards run, 2 kept" in capfd.readouterr().out
    assert read_output(out).to_pylist() == local_rows


def _numbers(report) -> dict:
    """A report's measured numbers: everything but timings, dates and the engine's own settings."""
    data = report.to_dict()
    data.pop("created", None)
    data.pop("settings", None)
    data["reference"].pop("timing")
    for variant in data["variants"]:
        variant.pop("timing")
    return data


def test_parity_on_ray_gives_the_local_report_numbers(job) -> None:
    import torch

    from onnx_pipelines.parity import evaluate_parity

    # Same threads on both engines: PyTorch rounds its matmuls differently on 1 and 2 threads (~1e-7).
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    common = dict(variants="fp32,O2+int8-dynamic", limit=ROWS, max_length=MAX_LENGTH, block_rows=SHARD_ROWS,
                  cache_dir=job["cache_dir"], intra_op_threads=2)
    try:
        local = evaluate_parity(job["model"], "text-classification", job["dataset"], **common)
    finally:
        torch.set_num_threads(threads)
    on_ray = evaluate_parity(job["model"], "text-classification", job["dataset"], engine="ray", workers=1,
                             cpus_per_worker=2, **common)
    assert _numbers(on_ray) == _numbers(local)  # 3 blocks merged on the driver = the one-pass local report
    fp32, int8 = local.variants
    assert int8.outputs[0].examples == ROWS and int8.outputs[0].max_abs_diff > fp32.outputs[0].max_abs_diff > 0
    assert (on_ray.settings["engine"], local.settings["engine"]) == ("ray", "local")
