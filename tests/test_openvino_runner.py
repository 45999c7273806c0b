"""OpenVINO runner: explicit settings, bf16 only where the CPU has it, fp32 answers equal to PyTorch's."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from onnx_pipelines.errors import InvalidConfigError, ProviderUnavailableError
from onnx_pipelines.openvino_runner import (
    OpenVinoSettings,
    check_precision,
    check_runtime,
    has_bf16,
    import_openvino,
    open_openvino_runner,
)

pytest.importorskip("openvino", reason="needs the [openvino] extra")


@pytest.fixture(scope="session")
def bbc_export(bbc_model: Path, artifact_cache: Path):
    """The fp32 ONNX export of bbc-news-minilm, from the session cache (shared with the other tests)."""
    from onnx_pipelines import load_pipeline

    return load_pipeline("text-classification", bbc_model, cache_dir=artifact_cache).artifact


@pytest.fixture(scope="module")
def bbc_batches(bbc_model: Path, bbc_test_rows: list[dict]) -> list[dict[str, np.ndarray]]:
    """Real BBC articles: 8 at 128 tokens, padded together, and 2 at 512."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bbc_model)
    texts = [r["text"] for r in bbc_test_rows[::40]]
    return [dict(tokenizer(texts[:8], truncation=True, max_length=128, padding=True, return_tensors="np")),
            dict(tokenizer(texts[8:10], truncation=True, max_length=512, padding=True, return_tensors="np"))]


@pytest.fixture(scope="module")
def torch_logits(bbc_model: Path, bbc_batches: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(bbc_model).eval()
    with torch.inference_mode():
        return [model(**{k: torch.from_numpy(v) for k, v in b.items()}).logits.numpy() for b in bbc_batches]


@pytest.fixture(scope="module")
def one_thread(bbc_export):
    return open_openvino_runner(bbc_export.model_path, OpenVinoSettings("fp32", threads=1))


def test_missing_openvino_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # makes `import openvino` raise ImportError
    with pytest.raises(ProviderUnavailableError, match=r"onnx-pipelines\[openvino\]"):
        import_openvino()


def test_names_are_checked() -> None:
    assert check_runtime("OV") == "openvino" and check_runtime("ort") == "onnxruntime"
    assert check_precision("F32") == "fp32"
    with pytest.raises(InvalidConfigError, match="onnxruntime, openvino"):
        check_runtime("tensorrt")
    with pytest.raises(InvalidConfigError, match="fp32, bf16, int8"):
        OpenVinoSettings("fp16")
    with pytest.raises(InvalidConfigError, match="LATENCY"):
        OpenVinoSettings(performance_hint="fast")


def test_precision_hint_is_always_set_by_us(one_thread) -> None:
    compiled = one_thread.compiled
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) in ("<Type: 'float32'>", "f32")
    assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == 1
    assert str(compiled.get_property("PERFORMANCE_HINT")) == "LATENCY"
    assert OpenVinoSettings("bf16").compile_config()["INFERENCE_PRECISION_HINT"] == "bf16"
    assert OpenVinoSettings("int8").compile_config()["INFERENCE_PRECISION_HINT"] == "f32"


@pytest.mark.skipif(has_bf16(), reason="this CPU has native bf16: the refusal cannot be shown here")
def test_bf16_is_refused_where_the_cpu_lacks_it(bbc_export) -> None:
    with pytest.raises(InvalidConfigError, match="AVX512-BF16 or AMX"):
        open_openvino_runner(bbc_export.model_path, OpenVinoSettings("bf16"))


@pytest.mark.slow
def test_fp32_logits_match_pytorch_within_1e_4(bbc_export, bbc_batches, torch_logits) -> None:
    runner = open_openvino_runner(bbc_export.model_path, OpenVinoSettings("fp32"))
    assert runner.input_names == ("input_ids", "attention_mask", "token_type_ids")
    for batch, expected in zip(bbc_batches, torch_logits, strict=True):
        got = runner.run(batch, ["logits"])["logits"]
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


@pytest.mark.slow
@pytest.mark.skipif(not has_bf16(), reason="this CPU has no AVX512-BF16/AMX: bf16 cannot run natively here")
def test_bf16_logits_stay_near_pytorch(bbc_export, bbc_batches, torch_logits) -> None:
    runner = open_openvino_runner(bbc_export.model_path, OpenVinoSettings("bf16"))
    for batch, expected in zip(bbc_batches, torch_logits, strict=True):
        got = runner.run(batch, ["logits"])["logits"]
        assert np.abs(got - expected).max() < 5e-2  # the bf16 parity limit (thresholds.py)
        assert (got.argmax(-1) == expected.argmax(-1)).all()


def test_missing_token_type_ids_are_zero_filled_and_outputs_checked(one_thread, bbc_batches) -> None:
    runner = one_thread
    batch = bbc_batches[0]
    without = {k: v for k, v in batch.items() if k != "token_type_ids"}
    np.testing.assert_array_equal(runner.run(without)["logits"], runner.run(batch)["logits"])
    with pytest.raises(InvalidConfigError, match="logits"):
        runner.run(batch, ["last_hidden_state"])


def test_threads_get_their_own_requests(one_thread, bbc_batches) -> None:
    runner = one_thread
    expected = [runner.run(bbc_batches[0])["logits"]]
    results: list[np.ndarray] = []

    def work() -> None:
        results.append(runner.run(bbc_batches[0])["logits"])

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    for got in results:
        np.testing.assert_array_equal(got, expected[0])
