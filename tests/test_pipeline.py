"""load_pipeline end to end on the real BBC classifier, plus every bad input we promise to handle."""

import time

import numpy as np
import pytest
from transformers import Pipeline
from transformers import pipeline as hf_pipeline

import onnx_pipelines.artifacts as artifacts_module
from onnx_pipelines import load_pipeline
from onnx_pipelines.errors import (
    InvalidConfigError,
    InvalidInputError,
    ModelNotFoundError,
    TaskMismatchError,
    UnsupportedTaskError,
)

MAX_LENGTH = 128  # the length bbc-news-minilm was fine-tuned at


@pytest.fixture(scope="module")
def bbc_fp32(bbc_model, artifact_cache):
    return load_pipeline("text-classification", bbc_model, cache_dir=artifact_cache, batch_size=16)


@pytest.fixture(scope="module")
def bbc_o2_int8(bbc_model, artifact_cache):
    return load_pipeline("text-classification", bbc_model, optimize="O2", quantize="dynamic",
                         cache_dir=artifact_cache, batch_size=16)


@pytest.fixture(scope="module")
def torch_predictions(bbc_model, bbc_test_rows):
    reference = hf_pipeline("text-classification", model=str(bbc_model), device="cpu", batch_size=16)
    return reference([r["text"] for r in bbc_test_rows], truncation=True, max_length=MAX_LENGTH)


def test_returns_a_real_transformers_pipeline(bbc_fp32):
    assert isinstance(bbc_fp32, Pipeline)
    assert bbc_fp32.variant == "fp32" and bbc_fp32.provider == "CPUExecutionProvider"
    assert bbc_fp32.artifact.manifest["validation"]["max_abs_diff"] < 1e-4


def test_fp32_matches_pytorch_on_every_bbc_test_article(bbc_fp32, bbc_test_rows, torch_predictions):
    onnx = bbc_fp32([r["text"] for r in bbc_test_rows], max_length=MAX_LENGTH)
    assert [p["label"] for p in onnx] == [p["label"] for p in torch_predictions]
    diffs = np.abs(np.array([p["score"] for p in onnx]) - np.array([p["score"] for p in torch_predictions]))
    assert diffs.max() <= 1e-4
    accuracy = np.mean([p["label"] == r["label_name"] for p, r in zip(onnx, bbc_test_rows, strict=True)])
    assert accuracy == pytest.approx(0.9665, abs=0.001)  # the shared README's PyTorch reference


def test_o2_int8_keeps_97_percent_label_agreement(bbc_o2_int8, bbc_test_rows, torch_predictions):
    assert bbc_o2_int8.variant == "O2+int8-dynamic"
    onnx = bbc_o2_int8([r["text"] for r in bbc_test_rows], max_length=MAX_LENGTH)
    agreement = np.mean([a["label"] == b["label"] for a, b in zip(onnx, torch_predictions, strict=True)])
    assert agreement >= 0.97


def test_output_shapes_match_transformers(bbc_fp32):
    single = bbc_fp32("Shares rose sharply after record profits.")
    assert isinstance(single, list) and set(single[0]) == {"label", "score"}
    top2 = bbc_fp32(["Shares rose sharply.", "The striker scored twice."], top_k=2)
    assert len(top2) == 2 and all(len(item) == 2 for item in top2)
    assert top2[0][0]["label"] == "business" and top2[1][0]["label"] == "sports"


def test_text_pairs(bbc_fp32):
    as_dict = bbc_fp32({"text": "Who won?", "text_pair": "The striker scored twice and his team won."})
    as_list = bbc_fp32([["Who won?", "The striker scored twice and his team won."]])
    assert as_dict["label"] == as_list[0]["label"]
    assert as_dict["score"] == pytest.approx(as_list[0]["score"], abs=1e-6)


def test_very_long_text_is_truncated_not_a_crash(bbc_fp32):
    result = bbc_fp32("The markets fell again today. " * 2000)
    assert result[0]["label"] in {"business", "entertainment", "politics", "sports", "tech"}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (None, "None"),
        ("", "empty string"),
        ("   ", "empty string"),
        ([], "empty list"),
        (["fine", ""], r"inputs\[1\] is an empty string"),
        (["fine", 3], r"inputs\[1\] is a int"),
        (["fine", None], r"inputs\[1\] is None"),
        (42, "pass a string"),
        ({"txt": "x"}, "text_pair"),
        ([["only one"]], "text pair is"),
    ],
)
def test_bad_inputs_are_clear_errors(bbc_fp32, inputs, message):
    with pytest.raises(InvalidInputError, match=message):
        bbc_fp32(inputs)


def test_second_load_reuses_the_cache(tiny_classifier, tmp_path, monkeypatch):
    exports = []
    real_export = artifacts_module.export_model
    monkeypatch.setattr(artifacts_module, "export_model", lambda *a, **k: exports.append(1) or real_export(*a, **k))
    started = time.perf_counter()
    first = load_pipeline("text-classification", tiny_classifier, optimize="O2", cache_dir=tmp_path)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    second = load_pipeline("text-classification", tiny_classifier, optimize="O2", cache_dir=tmp_path)
    second_seconds = time.perf_counter() - started
    assert len(exports) == 1
    assert not second.artifact.built and second.artifact.path == first.artifact.path
    print(f"first load {first_seconds:.1f}s, cached load {second_seconds:.1f}s")


def test_pre_exported_folder_skips_export(bbc_fp32, monkeypatch):
    monkeypatch.setattr(artifacts_module, "export_model", lambda *a, **k: pytest.fail("re-exported"))
    reloaded = load_pipeline("text-classification", bbc_fp32.artifact.path)
    text = "The government announced new taxes."
    assert reloaded(text)[0]["label"] == bbc_fp32(text)[0]["label"]


def test_unknown_task(bbc_model):
    with pytest.raises(UnsupportedTaskError, match="text-classification"):
        load_pipeline("summarization", bbc_model)


def test_task_that_does_not_match_the_head(conll_model, tmp_path):
    with pytest.raises(TaskMismatchError, match="token-classification|BertForTokenClassification"):
        load_pipeline("text-classification", conll_model, cache_dir=tmp_path)
    assert not any(tmp_path.rglob("*.onnx"))  # nothing half-written


def test_missing_model(tmp_path):
    with pytest.raises(ModelNotFoundError):
        load_pipeline("text-classification", str(tmp_path / "missing"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"optimize": "O7"}, "O1, O2, O3, O4"),
    ({"quantize": "int4"}, "'dynamic'"),
    ({"optimize": "O4"}, "needs a GPU"),
    ({"quantize": "static"}, "calibration"),
    ({"provider": "cuda"}, "not available|no CUDA device"),
])
def test_invalid_settings(bbc_model, tmp_path, kwargs, message):
    with pytest.raises((InvalidConfigError, RuntimeError), match=message):
        load_pipeline("text-classification", bbc_model, cache_dir=tmp_path, **kwargs)
    assert not any(tmp_path.rglob("*.onnx"))
