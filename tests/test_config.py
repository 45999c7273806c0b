import pytest
from optimum.onnxruntime.configuration import AutoOptimizationConfig, AutoQuantizationConfig

from onnx_pipelines.config import (
    CPU_ISAS,
    Variant,
    detect_cpu_isa,
    parse_variants,
    resolve_optimize,
    resolve_quantize,
)
from onnx_pipelines.errors import InvalidConfigError


@pytest.mark.parametrize(
    ("spec", "optimize", "quantize", "name"),
    [
        ("fp32", None, None, "fp32"),
        ("O2", "O2", None, "O2"),
        ("o3", "O3", None, "O3"),
        ("int8-dynamic", None, "dynamic", "int8-dynamic"),
        ("int8-static", None, "static", "int8-static"),
        ("O2+int8-dynamic", "O2", "dynamic", "O2+int8-dynamic"),
        (" O1 + int8-static ", "O1", "static", "O1+int8-static"),
    ],
)
def test_variant_parse(spec, optimize, quantize, name):
    variant = Variant.parse(spec)
    assert (variant.optimize, variant.quantize, variant.name) == (optimize, quantize, name)


@pytest.mark.parametrize("spec", ["", "O5", "int4-dynamic", "int8-fast", "O2+O3", "fp16"])
def test_variant_parse_rejects_unknown_spellings(spec):
    with pytest.raises(InvalidConfigError, match="variant|Variant"):
        Variant.parse(spec)


def test_parse_variants_keeps_order_and_drops_repeats():
    assert [v.name for v in parse_variants("fp32,O2,fp32,O2+int8-dynamic")] == ["fp32", "O2", "O2+int8-dynamic"]


def test_resolve_optimize_presets_and_objects():
    assert resolve_optimize(None) is None
    settings = resolve_optimize("o2")
    assert settings.label == "O2" and settings.config.optimization_level == 2 and not settings.needs_gpu
    assert resolve_optimize("O4").needs_gpu
    custom = AutoOptimizationConfig.O1()
    assert resolve_optimize(custom).config is custom


@pytest.mark.parametrize("value", ["O9", "fast", 2, True])
def test_resolve_optimize_rejects_bad_values_with_the_allowed_ones(value):
    with pytest.raises(InvalidConfigError, match="O1, O2, O3, O4"):
        resolve_optimize(value)


def test_resolve_quantize_picks_the_cpu_recipe():
    settings = resolve_quantize("dynamic")
    assert settings.label == f"qint8_{detect_cpu_isa()}"
    assert not settings.is_static
    assert resolve_quantize("dynamic", isa="avx2").label == "qint8_avx2"
    static = resolve_quantize("static", calibration_method="entropy")
    assert static.is_static and static.label.startswith("static_entropy_")
    config = AutoQuantizationConfig.avx2(is_static=False)
    assert resolve_quantize(config).config is config


@pytest.mark.parametrize("value", ["int8", "qat", 8])
def test_resolve_quantize_rejects_bad_values(value):
    with pytest.raises(InvalidConfigError, match="'dynamic'"):
        resolve_quantize(value)


def test_resolve_quantize_rejects_bad_isa_and_method():
    with pytest.raises(InvalidConfigError, match="avx512_vnni"):
        resolve_quantize("dynamic", isa="sse2")
    with pytest.raises(InvalidConfigError, match="minmax"):
        resolve_quantize("static", calibration_method="median")


def test_detect_cpu_isa_is_a_known_recipe():
    assert detect_cpu_isa() in CPU_ISAS


def test_fingerprints_are_json_safe_and_differ_by_setting():
    a = resolve_quantize("dynamic", isa="avx2").fingerprint()
    b = resolve_quantize("dynamic", isa="avx512_vnni").fingerprint()
    assert a != b
    import json

    json.dumps(a)


def test_openvino_variants_name_runtime_and_precision() -> None:
    from onnx_pipelines.config import Variant, parse_variants

    assert [v.name for v in parse_variants("openvino,openvino:bf16,openvino+int8,OV:fp32,O2")] == [
        "openvino:fp32", "openvino:bf16", "openvino:int8", "O2"]
    assert Variant.parse("openvino+int8") == Variant(runtime="openvino", precision="int8")
    assert Variant.parse("O2+int8-dynamic").runtime == "onnxruntime"
    with pytest.raises(InvalidConfigError, match="openvino:int8"):
        Variant.parse("openvino:fp16")
    with pytest.raises(InvalidConfigError, match="plain fp32 export"):
        Variant(optimize="O2", runtime="openvino")
    with pytest.raises(InvalidConfigError, match="openvino:bf16"):
        Variant(precision="bf16")
