"""Every optimize x quantize combination the library offers builds and runs."""

import numpy as np
import pytest

from onnx_pipelines import load_pipeline
from onnx_pipelines.artifacts import build_artifact
from onnx_pipelines.build_request import resolve_build_request
from onnx_pipelines.cache import ArtifactCache
from onnx_pipelines.errors import CorruptModelError

TEXTS = ["Shares rose sharply after record profits.", "The striker scored twice.", "A new phone goes on sale."]


@pytest.mark.parametrize("optimize", [None, "O1", "O2", "O3"])
@pytest.mark.parametrize("quantize", [None, "dynamic"])
def test_every_combination_works(tiny_classifier, artifact_cache, optimize, quantize):
    pipe = load_pipeline("text-classification", tiny_classifier, optimize=optimize, quantize=quantize,
                         cache_dir=artifact_cache)
    outputs = pipe(TEXTS, top_k=None)
    assert len(outputs) == 3
    for scores in outputs:
        assert sum(s["score"] for s in scores) == pytest.approx(1.0, abs=1e-5)
    expected_name = "+".join([p for p in (optimize, "int8-dynamic" if quantize else None) if p]) or "fp32"
    assert pipe.variant == expected_name


def test_real_model_o3_dynamic(bbc_model, artifact_cache):
    pipe = load_pipeline("text-classification", bbc_model, optimize="O3", quantize="dynamic", cache_dir=artifact_cache)
    assert [r[0]["label"] for r in pipe(TEXTS, top_k=1)] == ["business", "sports", "tech"]


def test_static_quantization_with_calibration(tiny_classifier, artifact_cache):
    pipe = load_pipeline("text-classification", tiny_classifier, optimize="O2", quantize="static",
                         calibration_dataset=TEXTS * 4, cache_dir=artifact_cache)
    assert pipe.variant == "O2+int8-static"
    assert pipe.artifact.manifest["calibration_rows"] == 12
    scores = [s["score"] for s in pipe(TEXTS)]
    assert np.all(np.isfinite(scores))


def test_steps_share_their_parents(tiny_classifier, tmp_path):
    cache = ArtifactCache(tmp_path)
    o2 = build_artifact(resolve_build_request("text-classification", tiny_classifier, optimize="O2"), cache=cache)
    o2_int8 = build_artifact(resolve_build_request("text-classification", tiny_classifier, optimize="O2",
                                                   quantize="dynamic"), cache=cache)
    assert o2_int8.manifest["parent"] == str(o2.path)
    assert o2_int8.model_file.startswith("model_O2_qint8_")
    assert len([p for p in tmp_path.rglob("manifest.json")]) == 3  # export, O2, O2+int8


def test_corrupt_pre_exported_graph(tmp_path, tiny_classifier, artifact_cache):
    import shutil

    exported = load_pipeline("text-classification", tiny_classifier, cache_dir=artifact_cache).artifact
    broken = tmp_path / "broken"
    shutil.copytree(exported.path, broken)
    data = (broken / "model.onnx").read_bytes()
    (broken / "model.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptModelError, match="truncated or corrupt"):
        load_pipeline("text-classification", broken)
