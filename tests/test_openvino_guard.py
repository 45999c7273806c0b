"""The int8 guard on OpenVINO's NNCF int8: repaired through ``ignored_scope``, refused, or opted out of."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onnx_pipelines import load_pipeline
from onnx_pipelines.build_request import BuildRequest, resolve_build_request
from onnx_pipelines.config import Variant
from onnx_pipelines.errors import QuantizationAccuracyError
from onnx_pipelines.guard_bounds import GuardBound

pytest.importorskip("nncf", reason="needs the [openvino] extra")

from onnx_pipelines.int8_guard import GuardSession  # noqa: E402
from onnx_pipelines.openvino_guard import guard_openvino_build, map_to_openvino, quantized_ops  # noqa: E402
from onnx_pipelines.tasks import get_task  # noqa: E402


@pytest.fixture(scope="module")
def train_texts(shared_dir: Path) -> list[str]:
    """8 BBC training articles (NNCF's statistics and bias correction run on each: few, for test time)."""
    lines = (shared_dir / "data" / "bbc-news" / "train.jsonl").read_text().splitlines()
    return [json.loads(line)["text"] for line in lines[::220]][:8]


@pytest.fixture(scope="module")
def tiny_export(tiny_classifier: Path, artifact_cache: Path):
    """The tiny classifier's fp32 export (tests/test_int8_guard.py builds the same one in the session cache)."""
    return load_pipeline("text-classification", tiny_classifier, cache_dir=artifact_cache).artifact


def _tiny_openvino_int8(tiny_classifier: Path, texts: list[str], cache: Path, precision: str = "int8"):
    return load_pipeline("text-classification", tiny_classifier, runtime="openvino", precision=precision,
                         calibration_dataset=texts, cache_dir=cache)


@pytest.fixture(scope="module")
def tiny_plain(tiny_classifier: Path, train_texts, artifact_cache: Path):
    """The tiny classifier's NNCF int8 without the guard (``openvino:int8-plain``, 8 BBC articles)."""
    return _tiny_openvino_int8(tiny_classifier, train_texts, artifact_cache, precision="int8-plain")


@pytest.fixture(scope="module")
def tiny_int8(tiny_plain):
    return tiny_plain.artifact


def test_onnx_node_names_map_to_the_ops_nncf_quantized(tiny_export, tiny_int8) -> None:
    import onnx

    from onnx_pipelines.openvino_guard import PROBE_OPERATORS
    from onnx_pipelines.sensitivity import quantizable_nodes

    ops = quantized_ops(tiny_int8.model_path)
    assert ops and set(ops.values()) <= {"MatMul", "Gather", "Convolution"}
    nodes = [n.name for n in quantizable_nodes(onnx.load(str(tiny_export.model_path)), PROBE_OPERATORS)]
    mapped = map_to_openvino(nodes, ops)
    # Every weighted MatMul/Gemm of the export is one quantized OpenVINO op (a Gemm's MatMul is "<name>/...").
    gemms = [n for n in nodes if "Gemm" in n]
    assert gemms and all(mapped[g].startswith(f"{g}/") for g in gemms)
    assert len(mapped) >= len([n for n in nodes if "MatMul" in n or "Gemm" in n])
    assert set(mapped.values()) <= set(ops)


def test_a_miss_is_repaired_through_the_ignored_scope(tiny_export, tiny_int8, train_texts, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Force a miss: hold the plain NNCF IR to half the max prob change it has (measured here), then let the
    guard rank, re-quantize with NNCF for real and measure again."""
    import shutil

    from onnx_pipelines.artifacts import copy_support_files
    from onnx_pipelines.cache import Artifact
    from onnx_pipelines.openvino_quantize import NncfSettings, calibration_samples, quantize_openvino
    from onnx_pipelines.pipeline import open_pipeline

    task = get_task("text-classification")
    measured = GuardSession(task, tiny_export.model_path, tiny_int8.path).measure_graph(tiny_int8.model_path)
    assert measured.passed  # under the real bound
    strict = GuardBound("top1", max_prob_change=measured.values["max_prob_change"] / 2)
    settings = NncfSettings(samples=len(train_texts))
    samples = calibration_samples(tiny_export.path, train_texts, settings)
    copy_support_files(tiny_export.path, tmp_path)
    for name in ("openvino_model.xml", "openvino_model.bin"):
        shutil.copy2(tiny_int8.path / name, tmp_path / name)
    calls: list[list[str]] = []

    def requantize(nodes):
        calls.append(list(nodes))
        return quantize_openvino(tiny_export.model_path, tmp_path, samples, NncfSettings(samples=len(samples),
                                                                                          ignored=tuple(nodes)))

    path, report = guard_openvino_build(task, tiny_export.model_path, tmp_path / "openvino_model.xml", tmp_path,
                                        requantize, bound=strict)
    guard = report.to_dict()
    assert not guard["plain"]["passed"] and guard["plain"]["values"] == pytest.approx(measured.values, abs=1e-6)
    assert guard["final"]["passed"] and guard["final"]["values"]["max_prob_change"] <= strict.max_prob_change
    assert 1 <= guard["repair_builds"] == len(calls) <= 3 and calls[-1] == guard["fp32_nodes"]
    # The kept nodes come from the measured ranking, under OpenVINO names, and really are fp32 in the IR now.
    ranked = [s["name"] for s in guard["sensitivity"]]
    assert guard["fp32_nodes"] and set(guard["fp32_nodes"]) <= set(ranked)
    before, after = quantized_ops(tiny_int8.model_path), quantized_ops(path)
    assert set(guard["fp32_nodes"]) <= set(before) and not set(guard["fp32_nodes"]) & set(after)
    # Measured again, independently of the guard, under the strict bound: the plain IR misses, the kept one holds.
    session = GuardSession(task, tiny_export.model_path, tmp_path, bound=strict)
    assert not session.measure_graph(tiny_int8.model_path).passed
    assert session.measure_graph(path).passed
    # An artifact holding it says so: pipe.variant, and inspect --sensitivity with the kept nodes marked.
    manifest = {**tiny_int8.manifest, "int8_guard": guard, "model_file": path.name}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    request = resolve_build_request("text-classification", tiny_export.path, runtime="openvino", precision="int8",
                                    calibration_dataset=train_texts)
    pipe = open_pipeline(request, Artifact(tmp_path, path.name, manifest, built=True))
    assert pipe.variant == f"openvino:int8 ({len(guard['fp32_nodes'])} nodes fp32)" and pipe.int8_guard == guard
    from onnx_pipelines.cli import main

    assert main(["inspect", str(tmp_path), "--sensitivity"]) == 0
    out = capsys.readouterr().out
    assert "quantized:  yes (int8)" in out and f"{len(guard['fp32_nodes'])} node(s) kept in fp32" in out
    assert sum(line.endswith("| yes |") for line in out.splitlines()) == len(guard["fp32_nodes"])


def test_refuses_with_the_numbers_when_no_repair_fits(tiny_export, tiny_int8) -> None:
    """A bound only fp32 meets: no ignored scope within the MAC budget passes in simulation, so it is refused."""
    with pytest.raises(QuantizationAccuracyError) as error:
        guard_openvino_build(get_task("text-classification"), tiny_export.model_path, tiny_int8.model_path,
                             tiny_int8.path, lambda nodes: pytest.fail("no repair fits; nothing to rebuild"),
                             bound=GuardBound("top1", max_prob_change=0.0))
    message = str(error.value)
    assert "OpenVINO int8 (NNCF) misses" in message and "max prob change" in message
    assert "Most sensitive nodes" in message and "precision='bf16'" in message
    assert "precision='int8-plain'" in message and "NncfSettings(ignored=" in message


def test_int8_plain_opts_out_of_the_guard(tiny_classifier: Path, tiny_plain, train_texts) -> None:
    assert Variant.parse("openvino:int8-plain") == Variant(runtime="openvino", precision="int8-plain")
    assert Variant.parse("openvino:int8-plain").calibrates
    request = resolve_build_request("text-classification", tiny_classifier, runtime="openvino",
                                    precision="int8-plain", calibration_dataset=train_texts)
    assert request.variant == "openvino:int8-plain" and request.precision == "int8"
    assert BuildRequest.from_dict(json.loads(json.dumps(request.to_dict()))).variant == "openvino:int8-plain"
    assert tiny_plain.variant == "openvino:int8-plain" and tiny_plain.precision == "int8"
    assert "int8_guard" not in tiny_plain.artifact.manifest and tiny_plain.int8_guard is None
    assert tiny_plain.artifact.manifest["quantize"] == "nncf-plain"
    assert tiny_plain.artifact.manifest["settings"]["guard"] is False  # the guard is part of the cache key
    assert tiny_plain(["A quiet day on the markets."])[0]["label"] in {"neg", "neu", "pos"}
    # On ONNX Runtime the same word means the plain dynamic recipe.
    ort = resolve_build_request("text-classification", tiny_classifier, precision="int8-plain")
    assert ort.variant == "int8-dynamic-plain" and ort.quantize is not None and not ort.quantize.guard


def test_an_nncf_build_prints_nothing_of_nncf(tiny_classifier: Path, train_texts, tmp_path: Path,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    """NNCF draws progress bars and logs INFO lines on stdout, where our commands print their results."""
    pipe = _tiny_openvino_int8(tiny_classifier, train_texts[:4], tmp_path / "cache", precision="int8-plain")
    assert pipe.precision == "int8"
    captured = capfd.readouterr()
    for noise in ("Statistics collection", "Applying", "INFO:nncf"):
        assert noise not in captured.out and noise not in captured.err
