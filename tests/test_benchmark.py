"""The bench command end to end (quick, on a tiny model), and the report's arithmetic on known numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from onnx_pipelines.benchmark import BenchSettings, default_candidates, summarize, to_markdown
from onnx_pipelines.benchmark.candidates import DOCS_FP32, DOCS_INT8, PYTORCH
from onnx_pipelines.benchmark.runner import length_texts
from onnx_pipelines.cli import main
from onnx_pipelines.errors import InvalidConfigError

ROWS = [PYTORCH, DOCS_FP32, DOCS_INT8, "O2+int8-dynamic", "int8-static"]


@pytest.fixture(scope="module")
def quick_run(tiny_classifier: Path, shared_dir: Path, artifact_cache: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One quick bench run (baselines, our fastest int8, static int8) on the tiny classifier and BBC texts,
    one round (each round starts every candidate's process again), in the session's artifact cache."""
    out = tmp_path_factory.mktemp("bench-out")
    data = shared_dir / "data" / "bbc-news"
    code = main([
        "bench", str(tiny_classifier), "--task", "text-classification",
        "--dataset", str(data / "test.jsonl"), "--calibration-data", str(data / "train.jsonl"),
        "--quick", "--variants", "O2+int8-dynamic,int8-static", "--limit", "10",
        "--seq-lens", "8,32", "--batch-sizes", "1,3", "--batch-seq-len", "16",
        "--max-lengths", "64", "--repeats", "2", "--rounds", "1",
        "--output", str(out), "--cache-dir", str(artifact_cache),
    ])
    assert code == 0
    return out


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def test_quick_run_writes_json_markdown_and_png_with_every_row(quick_run: Path) -> None:
    summary = json.loads((quick_run / "results.json").read_text())["summary"]
    assert [c["name"] for c in summary["candidates"]] == ROWS
    markdown = (quick_run / "results.md").read_text()
    for name in ROWS:
        assert f"| {name} |" in markdown
    assert (quick_run / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quick_run_numbers_are_finite_and_complete(quick_run: Path) -> None:
    summary = json.loads((quick_run / "results.json").read_text())["summary"]
    for row in summary["candidates"]:
        configs = {(e["seq_len"], e["batch_size"]) for e in row["latency"]}
        assert configs == {(8, 1), (32, 1), (16, 1), (16, 3)}, row["name"]
        for entry in row["latency"]:
            assert all(_finite(entry[k]) and entry[k] > 0 for k in ("p50_ms", "p90_ms", "p99_ms")), row["name"]
            assert entry["p50_ms"] <= entry["p90_ms"] <= entry["p99_ms"]
        assert set(row["overhead_pct"]) == {"8", "16", "32"}
        assert {(e["max_length"], e["mode"]) for e in row["dataset"]} == {(64, "default"), (64, "length-aware")}
        for entry in row["dataset"]:
            assert _finite(entry["seconds"]) and entry["seconds"] > 0
            assert 0.0 <= entry["accuracy"] <= 1.0
            assert 0.0 <= entry["agreement_with_pytorch"] <= 1.0
        assert _finite(row["load_s"]) and row["peak_rss_mb"] > 50 and row["size_mb"] > 0
        if row["name"] != PYTORCH:
            assert _finite(row["build_s"]) and row["build_s"] > 0
            assert set(row["ratios"]) == {PYTORCH, DOCS_INT8}
    pytorch = summary["candidates"][0]
    # PyTorch against itself: every ratio is exactly 1 and it agrees with itself on every label.
    assert all(v == pytest.approx(1.0) for v in pytorch["ratios"][PYTORCH]["latency"].values())
    assert all(e["agreement_with_pytorch"] == 1.0 for e in pytorch["dataset"])


def test_fp32_onnx_rows_agree_with_pytorch_labels(quick_run: Path) -> None:
    summary = json.loads((quick_run / "results.json").read_text())["summary"]
    for row in summary["candidates"]:
        if row["name"] == DOCS_FP32:
            assert all(e["agreement_with_pytorch"] == 1.0 for e in row["dataset"]), row["name"]


def _raw(p50s: dict[str, float], seconds: dict[str, float]) -> dict:
    """Raw results with constant timings, so the expected statistics are known exactly."""
    candidates = []
    for name, ms in p50s.items():
        candidates.append({
            "name": name, "kind": "x", "variant": None, "description": "", "model_dir": "", "model_file": None,
            "size_mb": 1.0, "build_s": 1.0, "build_note": "", "load_s": 0.1, "peak_rss_mb": 100.0,
            "latency": [{"seq_len": 128, "batch_size": 1, "rounds_ms": [[ms] * 4, [ms] * 4]}],
            "model_only": [{"seq_len": 128, "rounds_ms": [[ms * 0.9] * 4, [ms * 0.9] * 4]}],
            "dataset": [{"max_length": 512, "mode": mode,
                         "seconds": [seconds[name] * (1 if mode == "default" else 0.5)],
                         "labels": ["a", "b", "a", "b"] if name != "int8" else ["a", "a", "a", "b"]}
                        for mode in ("default", "length-aware")],
        })
    settings = BenchSettings(seq_lens=(128,), batch_sizes=(1,), max_lengths=(512,))
    from dataclasses import asdict

    return {"model": "/m/bbc", "task": "text-classification", "settings": asdict(settings), "started": "now",
            "duration_s": 60.0, "dataset": {"name": "test.jsonl", "items": 4, "has_labels": True},
            "machine": {"cpu": "cpu", "cores": 2, "isa": "avx2", "versions": {}, "load_average_before": [],
                        "load_average_after": []},
            "gold": ["a", "b", "b", "b"], "candidates": candidates}


def test_summary_ratios_accuracy_agreement_and_overhead_on_known_numbers() -> None:
    summary = summarize(_raw({PYTORCH: 20.0, DOCS_INT8: 10.0, "int8": 5.0},
                             {PYTORCH: 40.0, DOCS_INT8: 20.0, "int8": 10.0}))
    int8 = summary["candidates"][2]
    assert int8["ratios"][PYTORCH]["latency"]["128x1"] == pytest.approx(4.0)
    assert int8["ratios"][DOCS_INT8]["latency"]["128x1"] == pytest.approx(2.0)
    # Length-aware (half the time) against the baselines' default batching.
    assert int8["ratios"][PYTORCH]["dataset"]["512/length-aware"] == pytest.approx(8.0)
    assert int8["ratios"][DOCS_INT8]["dataset"]["512/length-aware"] == pytest.approx(4.0)
    entry = next(e for e in int8["dataset"] if e["mode"] == "length-aware")
    assert entry["accuracy"] == pytest.approx(0.5)  # a a a b vs gold a b b b
    assert entry["agreement_with_pytorch"] == pytest.approx(0.75)  # a a a b vs pytorch a b a b
    assert int8["overhead_pct"][128] == pytest.approx(10.0)
    markdown = to_markdown(summary)
    assert "| int8 |" in markdown and "4.00x" in markdown and "8.00x" in markdown


def test_length_texts_tokenize_to_exactly_the_requested_lengths(bbc_model: Path, bbc_test_rows: list) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bbc_model)
    texts = length_texts(str(bbc_model), [r["text"] for r in bbc_test_rows[:20]], [5, 16, 128, 512])
    assert {n: len(tokenizer(t)["input_ids"]) for n, t in texts.items()} == {5: 5, 16: 16, 128: 128, 512: 512}


def test_default_candidates_drop_static_without_calibration_data() -> None:
    names = [c.name for c in default_candidates(static_available=False)]
    assert names == [PYTORCH, DOCS_FP32, DOCS_INT8, "fp32", "O2", "O3", "int8-dynamic", "O2+int8-dynamic"]
    assert [c.name for c in default_candidates("O2+int8-dynamic", baselines=False)] == ["O2+int8-dynamic"]


@pytest.mark.parametrize("kwargs", [{"rounds": 0}, {"seq_lens": ()}, {"batch_sizes": (0,)}, {"seq_lens": (2,)},
                                    {"dataset_rounds": -1}])
def test_settings_validate(kwargs: dict) -> None:
    with pytest.raises(InvalidConfigError):
        BenchSettings(**kwargs)


def test_unsupported_task_is_a_one_line_error(bbc_model: Path, tmp_path: Path, capsys) -> None:
    code = main(["bench", str(bbc_model), "--task", "sentence-embeddings", "--no-baselines", "--variants", "fp32",
                 "--output", str(tmp_path), "--cache-dir", str(tmp_path / "cache")])
    assert code == 2
    assert "text-classification" in capsys.readouterr().err


def test_missing_dataset_file_is_a_clear_error(bbc_model: Path, tmp_path: Path, capsys) -> None:
    code = main(["bench", str(bbc_model), "--task", "text-classification", "--dataset", str(tmp_path / "no.jsonl"),
                 "--output", str(tmp_path)])
    assert code == 2
    assert "no.jsonl" in capsys.readouterr().err
