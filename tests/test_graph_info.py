import pytest

from onnx_pipelines.errors import CorruptModelError, ModelNotFoundError
from onnx_pipelines.graph_info import inspect_onnx
from onnx_pipelines.pipeline import load_pipeline


@pytest.fixture(scope="module")
def tiny_int8(tiny_classifier, artifact_cache):
    return load_pipeline("text-classification", tiny_classifier, quantize="dynamic", cache_dir=artifact_cache).artifact


def test_describes_a_real_export(tiny_classifier, artifact_cache, tiny_int8):
    fp32 = load_pipeline("text-classification", tiny_classifier, cache_dir=artifact_cache).artifact
    report = inspect_onnx(fp32.path)
    assert report.valid and not report.quantized
    assert [t.name for t in report.inputs] == ["input_ids", "attention_mask", "token_type_ids"]
    assert report.inputs[0].dynamic_axes == [0, 1]
    assert report.outputs[0].name == "logits"
    assert report.opsets[""] >= 11 and report.operator_counts["MatMul"] > 0
    assert report.size_bytes == fp32.model_path.stat().st_size
    quantized = inspect_onnx(tiny_int8.model_path)
    assert quantized.quantized and quantized.quantized_operator_counts
    assert "quantized:  yes" in quantized.to_text()


def test_truncated_file_is_a_clear_error(tmp_path, tiny_int8):
    broken = tmp_path / "model.onnx"
    broken.write_bytes(tiny_int8.model_path.read_bytes()[:5000])
    with pytest.raises(CorruptModelError, match="truncated"):
        inspect_onnx(broken)


def test_missing_file(tmp_path):
    with pytest.raises(ModelNotFoundError):
        inspect_onnx(tmp_path / "none.onnx")
    with pytest.raises(ModelNotFoundError, match="No .onnx file"):
        inspect_onnx(tmp_path)
