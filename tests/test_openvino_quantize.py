"""NNCF int8 for OpenVINO: built on real texts, cached, and judged against its fp32 parent on real articles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from onnx_pipelines import load_pipeline
from onnx_pipelines.cache import ArtifactCache
from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.openvino_quantize import NncfSettings, build_openvino_int8
from onnx_pipelines.openvino_runner import OpenVinoSettings, open_openvino_runner

pytest.importorskip("nncf", reason="needs the [openvino] extra")

#: Small on purpose (test time): 24 training articles cut to 128 tokens.
SETTINGS = NncfSettings(samples=24, max_length=128)


@pytest.fixture(scope="module")
def bbc_export(bbc_model: Path, artifact_cache: Path):
    return load_pipeline("text-classification", bbc_model, cache_dir=artifact_cache).artifact


@pytest.fixture(scope="module")
def train_texts(shared_dir: Path) -> list[str]:
    import json

    lines = (shared_dir / "data" / "bbc-news" / "train.jsonl").read_text().splitlines()
    return [json.loads(line)["text"] for line in lines[::70]]


@pytest.fixture(scope="module")
def bbc_int8(bbc_export, train_texts, artifact_cache: Path):
    return build_openvino_int8(bbc_export, train_texts, SETTINGS, cache=ArtifactCache(artifact_cache))


def test_settings_are_checked() -> None:
    with pytest.raises(InvalidConfigError, match="mixed, performance"):
        NncfSettings(preset="accuracy")
    with pytest.raises(InvalidConfigError, match="samples"):
        NncfSettings(samples=0)


def test_no_texts_is_a_clear_error(bbc_export, artifact_cache: Path) -> None:
    with pytest.raises(InvalidConfigError, match="calibration_dataset"):
        build_openvino_int8(bbc_export, [], SETTINGS, cache=ArtifactCache(artifact_cache))


@pytest.mark.slow
def test_int8_is_cached_and_says_what_it_is(bbc_int8, bbc_export, train_texts, artifact_cache: Path) -> None:
    assert bbc_int8.model_file == "openvino_model.xml" and (bbc_int8.path / "openvino_model.bin").is_file()
    manifest = bbc_int8.manifest
    assert (manifest["runtime"], manifest["precision"], manifest["quantize"]) == ("openvino", "int8", "nncf")
    assert manifest["parent"] == str(bbc_export.path) and manifest["calibration_rows"] == 24
    assert (bbc_int8.path / "config.json").is_file() and (bbc_int8.path / "tokenizer.json").is_file()
    again = build_openvino_int8(bbc_export, train_texts, SETTINGS, cache=ArtifactCache(artifact_cache))
    assert again.path == bbc_int8.path and not again.built
    other = NncfSettings(samples=24, max_length=128, ignored=("no_such_node",))
    with pytest.raises(InvalidConfigError, match="no_such_node"):
        build_openvino_int8(bbc_export, train_texts, other, cache=ArtifactCache(artifact_cache))


@pytest.mark.slow
def test_int8_agrees_with_its_fp32_parent_on_real_articles(bbc_int8, bbc_export, bbc_test_rows) -> None:
    import openvino
    from transformers import AutoTokenizer

    compiled = open_openvino_runner(bbc_int8.model_path, OpenVinoSettings("int8"))
    ir = openvino.Core().read_model(str(bbc_int8.model_path))
    assert any(op.get_type_name() == "FakeQuantize" for op in ir.get_ops())  # it really is quantized
    fp32 = open_openvino_runner(bbc_export.model_path, OpenVinoSettings("fp32"))
    tokenizer = AutoTokenizer.from_pretrained(bbc_export.path)
    texts = [r["text"] for r in bbc_test_rows[::7]]  # 64 articles, none used for calibration
    agree = 0
    for start in range(0, len(texts), 16):
        batch = dict(tokenizer(texts[start:start + 16], truncation=True, max_length=128, padding=True,
                               return_tensors="np"))
        q, f = compiled.run(batch)["logits"], fp32.run(batch)["logits"]
        assert np.isfinite(q).all()
        agree += int((q.argmax(-1) == f.argmax(-1)).sum())
    assert agree / len(texts) >= 0.97  # the int8 agreement limit of thresholds.py


@pytest.mark.slow
def test_the_int8_guard_measured_the_build(bbc_int8, bbc_export) -> None:
    """The NNCF build is guarded like ONNX Runtime's int8: its report, with real numbers, is in the manifest."""
    from onnx_pipelines.int8_guard import guard_key
    from onnx_pipelines.parity.thresholds import INT8_GUARD_BOUNDS
    from onnx_pipelines.tasks import get_task

    guard = bbc_int8.manifest["int8_guard"]
    bound = INT8_GUARD_BOUNDS["text-classification"]
    assert (guard["task"], guard["rows"], guard["source"]) == ("text-classification", 72, "library texts")
    assert guard["bound"] == bound.to_dict() and guard["seconds"] > 0
    values = guard["plain"]["values"]
    assert guard["passed"] == (values["agreement"] >= bound.min_agreement
                               and values["max_prob_change"] <= bound.max_prob_change)
    assert 0 < values["max_prob_change"] < 1 and 0 < values["mean_prob_change"] <= values["max_prob_change"]
    assert bbc_int8.manifest["settings"]["guard"] == guard_key(SETTINGS, get_task("text-classification"))
