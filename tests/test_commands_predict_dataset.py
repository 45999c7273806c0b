"""``predict-dataset`` killed mid-run (SIGKILL) and started again with ``--resume``: every row once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onnx_pipelines.cli import main
from onnx_pipelines.scale import read_output

REPO = Path(__file__).resolve().parents[1]
ROWS, SHARD_ROWS = 2000, 50


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, bbc_test_rows: list) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    with path.open("w") as f:
        for i in range(ROWS):
            row = bbc_test_rows[i % len(bbc_test_rows)]
            f.write(json.dumps({"id": f"{i}:{row['id']}", "text": row["text"][: 200 + (i % 7) * 50]}) + "\n")
    return path


def test_killed_run_resumes_to_exactly_the_input_rows(corpus, tiny_classifier, artifact_cache, tmp_path) -> None:
    out = tmp_path / "out"
    argv = ["predict-dataset", str(tiny_classifier), "--task", "text-classification", "--dataset", str(corpus),
            "--output", str(out), "--id-column", "id", "--shard-rows", str(SHARD_ROWS), "--max-length", "128",
            "--cache-dir", str(artifact_cache), "--cpus-per-worker", "1", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "onnx_pipelines.cli", *argv], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    shards = out / "shards"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if shards.is_dir() and len(list(shards.glob("part-*.parquet"))) >= 3:
                break
            time.sleep(0.02)
        assert process.poll() is None, f"the run ended before it could be killed: {process.stderr.read()[-2000:]}"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    finished = len(list(shards.glob("part-*.parquet")))
    assert 3 <= finished < ROWS // SHARD_ROWS  # killed mid-run ...
    assert not (out / "manifest.json").exists()  # ... so no manifest claims a complete output
    assert main(argv) == 2  # an existing output is refused without --resume / --overwrite

    assert main([*argv, "--resume"]) == 0
    table = read_output(out)
    assert table.num_rows == ROWS
    assert table.column("row").to_pylist() == list(range(ROWS))  # every row once, none twice
    assert table.column("id").to_pylist() == [json.loads(line)["id"] for line in corpus.read_text().splitlines()]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"] == ROWS and manifest["last_run"]["rows"] == ROWS - finished * SHARD_ROWS
    assert not [p for p in shards.iterdir() if not p.name.startswith("part-")]  # no temporary files left
