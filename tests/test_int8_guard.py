"""The int8 guard on real models: plain int8 that misses its bound is repaired (or refused), passing int8 is kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import onnx_pipelines.int8_guard as int8_guard
from onnx_pipelines import load_pipeline
from onnx_pipelines.config import Variant, resolve_quantize
from onnx_pipelines.errors import QuantizationAccuracyError
from onnx_pipelines.int8_guard import GuardSession, guard_int8_build
from onnx_pipelines.parity.thresholds import INT8_GUARD_BOUNDS
from onnx_pipelines.quantize import quantize_model
from onnx_pipelines.sensitivity import Probe
from onnx_pipelines.tasks import get_task


@pytest.fixture(scope="module")
def minilm_int8(minilm_model: Path, artifact_cache: Path):
    """all-MiniLM-L6-v2 sentence embeddings, the default O2+int8-dynamic with the guard: the same artifact the
    demo (tests/test_cli.py) and the MiniLM parity test build in the session cache, so it is repaired once."""
    return load_pipeline("sentence-embeddings", minilm_model, optimize="O2", quantize="dynamic",
                         cache_dir=artifact_cache)


@pytest.fixture(scope="module")
def minilm_plain(minilm_model: Path, artifact_cache: Path):
    return load_pipeline("sentence-embeddings", minilm_model, optimize="O2", quantize="dynamic-plain",
                         cache_dir=artifact_cache)


@pytest.fixture(scope="module")
def minilm_fp32(minilm_model: Path, artifact_cache: Path):
    return load_pipeline("sentence-embeddings", minilm_model, cache_dir=artifact_cache)


def _parent_model(artifact) -> Path:
    parent = Path(artifact.manifest["parent"])
    return parent / json.loads((parent / "manifest.json").read_text())["model_file"]


def test_plain_int8_fails_the_guard_and_the_repaired_build_passes(minilm_int8, minilm_plain) -> None:
    guard = minilm_int8.artifact.manifest["int8_guard"]
    bound = INT8_GUARD_BOUNDS["sentence-embeddings"].min_cosine
    assert not guard["plain"]["passed"] and guard["plain"]["values"]["min_cosine"] < bound
    assert guard["final"]["passed"] and guard["final"]["values"]["min_cosine"] >= bound
    assert guard["fp32_nodes"] and 0 < guard["fp32_mac_fraction"] <= int8_guard.MAX_FP32_MAC_FRACTION
    assert minilm_int8.variant == f"O2+int8-dynamic ({len(guard['fp32_nodes'])} nodes fp32)"
    assert minilm_int8.int8_guard == guard and guard["seconds"] > 0
    # The fp32 nodes are the worst of the measured ranking, never a fixed list: they head the table.
    ranked = [s["name"] for s in guard["sensitivity"]]
    assert set(guard["fp32_nodes"]) <= set(ranked) and ranked[0] in guard["fp32_nodes"]
    # The probe simulates the plain recipe closely (it only orders the candidates; the kept graph is real).
    assert abs(guard["simulated_plain"]["values"]["min_cosine"] - guard["plain"]["values"]["min_cosine"]) < 0.003
    # Measured again, independently of the build: the plain graph misses, the repaired graph holds.
    session = GuardSession(get_task("sentence-embeddings"), _parent_model(minilm_int8.artifact),
                           minilm_int8.artifact.path)
    assert not session.measure_graph(minilm_plain.artifact.model_path).passed
    assert session.measure_graph(minilm_int8.artifact.model_path).passed
    assert minilm_plain.variant == "O2+int8-dynamic-plain" and "int8_guard" not in minilm_plain.artifact.manifest


def test_repaired_embeddings_are_closer_on_unseen_bbc_text(minilm_int8, minilm_plain, minilm_fp32,
                                                           bbc_test_rows) -> None:
    snippets = [r["text"][:300] for r in bbc_test_rows[:32]]  # not the guard's texts
    reference = minilm_fp32(snippets)

    def cosines(pipe) -> np.ndarray:
        vectors = pipe(snippets)
        return np.sum(vectors * reference, axis=1) / (
            np.linalg.norm(vectors, axis=1) * np.linalg.norm(reference, axis=1))

    assert cosines(minilm_int8).min() > cosines(minilm_plain).min()
    assert cosines(minilm_int8).mean() > cosines(minilm_plain).mean()


def test_passing_int8_is_kept_as_built(bbc_model: Path, artifact_cache: Path) -> None:
    pipe = load_pipeline("text-classification", bbc_model, optimize="O2", quantize="dynamic", cache_dir=artifact_cache)
    guard = pipe.artifact.manifest["int8_guard"]
    assert guard["plain"]["passed"] and guard["fp32_nodes"] == [] and pipe.variant == "O2+int8-dynamic"
    assert guard["rows"] == 72 and guard["source"] == "library texts"  # 48 texts + 24 pairs, fixed batches
    assert guard["final"]["values"]["agreement"] >= INT8_GUARD_BOUNDS["text-classification"].min_agreement


def test_refuses_with_the_numbers_when_no_repair_fits(tiny_classifier: Path, artifact_cache: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A bound that only fp32 meets: every fallback set within the MAC budget misses, so the build is refused."""
    from onnx_pipelines.guard_bounds import GuardBound

    fp32 = load_pipeline("text-classification", tiny_classifier, cache_dir=artifact_cache).artifact
    plain = load_pipeline("text-classification", tiny_classifier, quantize="dynamic-plain",
                          cache_dir=artifact_cache).artifact
    monkeypatch.setitem(INT8_GUARD_BOUNDS, "text-classification", GuardBound("top1", max_prob_change=0.0))
    with pytest.raises(QuantizationAccuracyError) as error:
        guard_int8_build(get_task("text-classification"), fp32.model_path, plain.model_path, plain.path,
                         resolve_quantize("dynamic"), lambda nodes: pytest.fail("no repair fits; nothing to rebuild"))
    message = str(error.value)
    assert "max prob change" in message and "Most sensitive nodes" in message
    assert "quantize='dynamic-plain'" in message and "no fallback set within the limit" in message


def test_probe_with_gates_shut_is_the_fp32_graph(minilm_int8) -> None:
    task = get_task("sentence-embeddings")
    parent = _parent_model(minilm_int8.artifact)
    session = GuardSession(task, parent, minilm_int8.artifact.path)
    config = resolve_quantize("dynamic").config
    probe = Probe(parent, config.operators_to_quantize, config)
    from onnx_pipelines.guard_measures import run_graph

    shut = run_graph(probe.runner, session.inputs, task.output_names, extra_feed=probe.feed(set()))
    for ours, reference in zip(shut, session.reference, strict=True):
        # Same graph, fewer ORT fusions around the gates: equal up to float summation order.
        np.testing.assert_allclose(ours["last_hidden_state"], reference["last_hidden_state"], atol=1e-4)
    assert {n.op_type for n in probe.nodes} >= {"MatMul", "Attention", "Gather"}  # an O2 graph: fused Attention


def test_requantize_keeps_symbolic_shape_inference_on_o2_graphs(minilm_int8, bbc_model, artifact_cache,
                                                                 tmp_path) -> None:
    """Excluding nodes goes through the same typed path: an O2 graph (fused Attention) still quantizes."""
    from onnx_pipelines.mixed_precision import with_excluded

    o2 = load_pipeline("text-classification", bbc_model, optimize="O2", cache_dir=artifact_cache).artifact
    settings = with_excluded(resolve_quantize("dynamic"), ["Attention_0"])
    out = quantize_model(o2.path, o2.model_file, tmp_path, settings, "model_int8.onnx")
    import onnx

    nodes = onnx.load(str(out)).graph.node
    assert any(n.op_type == "Attention" for n in nodes) and any(n.op_type == "QAttention" for n in nodes)


def test_plain_modes_parse_and_opt_out() -> None:
    assert Variant.parse("O2+int8-dynamic-plain").quantize == "dynamic-plain"
    plain, guarded = resolve_quantize("dynamic-plain"), resolve_quantize("dynamic")
    assert not plain.guard and guarded.guard and plain.fingerprint() != guarded.fingerprint()
    assert resolve_quantize("static-plain").is_static


def test_fallback_plan_is_the_smallest_passing_prefix_then_pruned() -> None:
    from onnx_pipelines.mixed_precision import plan_fallback
    from onnx_pipelines.sensitivity import NodeSensitivity, QuantizableNode

    ranked = [NodeSensitivity(QuantizableNode(f"n{i}", "MatMul", f"w{i}", macs), 1.0 / (i + 1), {})
              for i, macs in enumerate([100, 400, 100, 100, 300])]
    # The bound holds once n0 and n1 stay fp32, or n0 and n3 (cheaper): bisection finds the prefix, pruning
    # cannot drop either of n0/n1 here because n3 is not in the prefix.
    def passes(kept: set[str]) -> bool:
        return "n0" in kept and ("n1" in kept or "n3" in kept)

    assert plan_fallback(ranked, passes) == ["n0", "n1"]
    # When the prefix that passes holds n3, the expensive n1 is pruned away.
    assert plan_fallback(ranked, lambda kept: "n0" in kept and "n3" in kept) == ["n0", "n3"]
    # Nothing within the MAC budget passes: no plan.
    assert plan_fallback(ranked, passes, max_mac_fraction=0.1) is None
    assert plan_fallback(ranked, lambda kept: False) is None


def test_plain_request_round_trips_and_names_itself(bbc_model) -> None:
    from onnx_pipelines.build_request import BuildRequest, resolve_build_request

    request = resolve_build_request("text-classification", bbc_model, optimize="O2", quantize="dynamic-plain")
    assert request.variant == "O2+int8-dynamic-plain" and request.quantize is not None and not request.quantize.guard
    again = BuildRequest.from_dict(json.loads(json.dumps(request.to_dict())))
    assert again.variant == "O2+int8-dynamic-plain" and again.to_dict() == request.to_dict()
    guarded = resolve_build_request("text-classification", bbc_model, optimize="O2", quantize="dynamic")
    assert guarded.variant == "O2+int8-dynamic" and guarded.quantize.fingerprint() != request.quantize.fingerprint()


def test_inspect_sensitivity_ranks_the_nodes_of_a_built_int8_artifact(tiny_classifier: Path, artifact_cache: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from onnx_pipelines.cli import main

    pipe = load_pipeline("text-classification", tiny_classifier, quantize="dynamic", cache_dir=artifact_cache)
    assert main(["inspect", str(pipe.artifact.path), "--sensitivity"]) == 0
    out = capsys.readouterr().out
    assert out.count("int8 guard: top1 on 72 library texts") == 1
    assert "(ranking computed now: the plain recipe passed" in out  # a passing build stores no ranking
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| rank")]
    assert rows[0].startswith("| 1 |") and sum(" | MatMul | " in row for row in rows) >= 4
    assert main(["inspect", str(pipe.artifact.path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["int8_guard"]["plain"]["passed"]


def test_a_task_without_a_bound_is_held_to_the_one_it_resembles() -> None:
    import dataclasses

    from onnx_pipelines.guard_bounds import bound_for

    ranking = dataclasses.replace(get_task("text-classification"), name="some-new-ranking-task")
    tagging = dataclasses.replace(get_task("token-classification"), name="some-new-tagging-task")
    assert bound_for(ranking) == INT8_GUARD_BOUNDS["text-classification"]
    assert bound_for(tagging) == INT8_GUARD_BOUNDS["token-classification"]
    assert bound_for(get_task("sentence-embeddings")).min_cosine == 0.997
