"""The one resolved build request: what every entry point builds from, and its saved (recipe) form."""

import json

import pytest

from onnx_pipelines.build_request import BuildRequest, resolve_build_request
from onnx_pipelines.errors import InvalidConfigError, TaskMismatchError
from onnx_pipelines.runtime import CPU


def test_resolves_once_into_a_frozen_request(bbc_model):
    request = resolve_build_request("sentiment-analysis", bbc_model, optimize="o2", quantize="dynamic",
                                    provider="cpu", intra_op_threads=1)
    assert request.task.name == "text-classification"
    assert request.variant == "O2+int8-dynamic"
    assert request.provider == CPU and request.runtime.intra_op_threads == 1
    # On CPU the presets leave out the fusion whose CPU kernel is slow (the export command once forgot this).
    assert request.optimize is not None and request.optimize.config.disable_skip_layer_norm_fusion
    with pytest.raises(AttributeError):
        request.validate = False  # type: ignore[misc]


def test_round_trips_through_json(bbc_model):
    request = resolve_build_request("text-classification", bbc_model, optimize="O3", quantize="static",
                                    calibration_dataset=["one text", "another text", "a third"],
                                    calibration_method="entropy", calibration_samples=2, per_channel=False)
    saved = json.loads(json.dumps(request.to_dict()))
    again = BuildRequest.from_dict(saved)
    assert again.to_dict() == saved
    assert again.calibration_texts == ("one text", "another text")
    assert again.quantize is not None and again.quantize.fingerprint() == request.quantize.fingerprint()  # type: ignore[union-attr]
    assert again.variant == "O3+int8-static"


def test_refuses_bad_requests_before_anything_slow(bbc_model, conll_model):
    with pytest.raises(InvalidConfigError, match="needs a GPU"):
        resolve_build_request("text-classification", bbc_model, optimize="O4", provider="cpu")
    with pytest.raises(InvalidConfigError, match="calibration data"):
        resolve_build_request("text-classification", bbc_model, quantize="static")
    with pytest.raises(TaskMismatchError, match="Tasks this model fits"):
        resolve_build_request("text-classification", conll_model)
    with pytest.raises(InvalidConfigError, match="format"):
        BuildRequest.from_dict({"task": "text-classification"})


def test_custom_optimum_configs_are_not_saved_as_recipes(bbc_model):
    from optimum.onnxruntime.configuration import OptimizationConfig

    request = resolve_build_request("text-classification", bbc_model, optimize=OptimizationConfig(optimization_level=1))
    assert request.variant == "custom"
    with pytest.raises(InvalidConfigError, match="preset name"):
        request.to_dict()


def test_runtime_and_precision_are_resolved_before_any_build() -> None:
    from onnx_pipelines.build_request import resolve_runtime
    from onnx_pipelines.errors import InvalidConfigError
    from onnx_pipelines.openvino_runner import has_bf16

    assert resolve_runtime("onnxruntime", "int8", optimize="O2", quantize=None, provider="auto") == (
        "onnxruntime", "int8", "dynamic")
    assert resolve_runtime("ov", None, optimize=None, quantize=None, provider="cpu") == ("openvino", "fp32", None)
    with pytest.raises(InvalidConfigError, match="runtime='openvino', precision='bf16'"):
        resolve_runtime("onnxruntime", "bf16", optimize=None, quantize=None, provider="auto")
    with pytest.raises(InvalidConfigError, match="plain fp32 export"):
        resolve_runtime("openvino", "int8", optimize=None, quantize="dynamic", provider="auto")
    with pytest.raises(InvalidConfigError, match="CPU"):
        resolve_runtime("openvino", "fp32", optimize=None, quantize=None, provider="cuda")
    if not has_bf16():
        with pytest.raises(InvalidConfigError, match="AVX512-BF16"):
            resolve_runtime("openvino", "bf16", optimize=None, quantize=None, provider="auto")
