"""The one runner that feeds sessions: validation, parity and the pipelines use it."""

import numpy as np
import pytest

from onnx_pipelines import load_pipeline
from onnx_pipelines.errors import InvalidModelError
from onnx_pipelines.runtime import RuntimeSettings
from onnx_pipelines.session_runner import ModelRunner, OrtRunner, TorchRunner, open_runner

TEXTS = ["Shares rose sharply after record profits.", "The striker scored twice in the second half."]


@pytest.fixture(scope="module")
def bbc_fp32(bbc_model, artifact_cache):
    return load_pipeline("text-classification", bbc_model, cache_dir=artifact_cache)


def test_ort_and_torch_runners_agree_on_the_real_classifier(bbc_fp32, bbc_model):
    from transformers import AutoModelForSequenceClassification

    artifact = bbc_fp32.artifact
    onnx = open_runner(artifact.path / artifact.model_file, RuntimeSettings(provider="cpu", intra_op_threads=1))
    torch_runner = TorchRunner.from_pretrained(AutoModelForSequenceClassification, bbc_model, ("logits",))
    assert isinstance(onnx, ModelRunner) and isinstance(torch_runner, ModelRunner)
    encoded = bbc_fp32.tokenizer(TEXTS, padding=True, return_tensors="np")
    encoded["word_ids"] = np.zeros(2)  # extra keys (adapter metadata) are not fed
    got, expected = onnx.run(encoded, ["logits"])["logits"], torch_runner.run(encoded)["logits"]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    # A graph that wants token_type_ids gets zeros when the tokenizer gave none.
    without = {k: v for k, v in encoded.items() if k != "token_type_ids"}
    assert onnx.feed(without)["token_type_ids"].sum() == 0
    np.testing.assert_allclose(onnx.run(without, ["logits"])["logits"], got, atol=1e-5)


def test_runner_errors_name_the_problem(bbc_fp32):
    runner = bbc_fp32.runner()
    assert isinstance(runner, OrtRunner) and "input_ids" in runner.input_names
    with pytest.raises(InvalidModelError, match="expects input 'attention_mask'"):
        runner.run({"input_ids": np.ones((1, 4), dtype=np.int64)})
    with pytest.raises(InvalidModelError, match="no output"):
        runner.run(bbc_fp32.tokenizer(TEXTS, return_tensors="np", padding=True), ["start_logits"])


def test_pipeline_records_its_request(bbc_fp32):
    assert bbc_fp32.request.variant == bbc_fp32.variant == "fp32"
    assert bbc_fp32.request.to_dict()["task"] == "text-classification"
