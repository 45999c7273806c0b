"""Recipe files: round trip, clear errors, the cache key, and every entry point that takes one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onnx_pipelines import load_pipeline
from onnx_pipelines.artifacts import build_artifact
from onnx_pipelines.benchmark.candidates import CandidateKind, default_candidates
from onnx_pipelines.build_request import resolve_build_request
from onnx_pipelines.cache import ArtifactCache
from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.parity.variants import parse_variant_specs
from onnx_pipelines.recipes import RECIPE_FORMAT, load_recipe, read_recipe, save_recipe
from onnx_pipelines.tasks import get_task

TEXTS = ["Shares rose sharply after record profits.", "The striker scored twice.", "A new phone goes on sale."]


@pytest.fixture(scope="module")
def bbc_recipe(bbc_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    request = resolve_build_request("text-classification", bbc_model, optimize="O2", quantize="dynamic")
    return save_recipe(request, tmp_path_factory.mktemp("recipes") / "bbc.json", notes={"why": "test"})


def test_round_trip_gives_the_same_request(bbc_model: Path, bbc_recipe: Path) -> None:
    data = json.loads(bbc_recipe.read_text())
    assert data["format"] == RECIPE_FORMAT and data["version"] == 1 and data["notes"] == {"why": "test"}
    again = load_recipe(bbc_recipe)
    assert again == resolve_build_request("text-classification", bbc_model, optimize="O2", quantize="dynamic")
    assert again.variant == "O2+int8-dynamic"


def test_pinned_fp32_nodes_survive_the_round_trip(bbc_model: Path, tmp_path: Path) -> None:
    request = resolve_build_request("text-classification", bbc_model, quantize="dynamic",
                                    fp32_nodes=["/a/MatMul", "/b/MatMul"])
    again = load_recipe(save_recipe(request, tmp_path / "r.json"))
    assert again.quantize is not None and again.quantize.fp32_nodes == ("/a/MatMul", "/b/MatMul")
    assert again.quantize.config.nodes_to_exclude == ["/a/MatMul", "/b/MatMul"]
    with pytest.raises(InvalidConfigError, match="needs quantize"):
        resolve_build_request("text-classification", bbc_model, fp32_nodes=["/a/MatMul"])


@pytest.mark.parametrize(("content", "match"), [
    (None, "does not exist"),
    ("{not json", "not valid JSON"),
    ('{"format": 1, "task": "text-classification"}', "not an onnx-pipelines recipe"),
    ('{"format": "onnx-pipelines-recipe", "version": 99, "request": {}}', "version 99"),
])
def test_bad_files_are_clear_errors(tmp_path: Path, content: str | None, match: str) -> None:
    path = tmp_path / "recipe.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidConfigError, match=match):
        load_recipe(path)


def test_a_moved_model_is_named_and_can_be_overridden(bbc_model: Path, bbc_recipe: Path, tmp_path: Path) -> None:
    data = read_recipe(bbc_recipe)
    data["request"]["model"] = str(tmp_path / "gone" / "bbc-news-minilm")
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(data))
    with pytest.raises(InvalidConfigError, match="no longer exists.*model="):
        load_recipe(moved)
    assert load_recipe(moved, model=bbc_model).source.path == bbc_model.resolve()


def test_recipes_differing_in_one_setting_build_different_artifacts(tiny_classifier: Path, tmp_path: Path,
                                                                    artifact_cache: Path) -> None:
    import onnx

    cache = ArtifactCache(artifact_cache)
    base = resolve_build_request("text-classification", tiny_classifier, quantize="dynamic-plain")
    first = build_artifact(load_recipe(save_recipe(base, tmp_path / "a.json")), cache=cache)
    again = build_artifact(load_recipe(tmp_path / "a.json"), cache=cache)
    assert again.path == first.path and not again.built  # the same recipe reuses the cache
    graph = onnx.load(str(Path(first.manifest["parent"]) / "model.onnx"), load_external_data=False)
    matmul = next(n.name for n in graph.graph.node if n.op_type == "MatMul" and n.name)
    per_tensor = resolve_build_request("text-classification", tiny_classifier, quantize="dynamic-plain",
                                       per_channel=False)
    pinned = resolve_build_request("text-classification", tiny_classifier, quantize="dynamic-plain",
                                   fp32_nodes=[matmul])
    paths = {first.path}
    for request, name in ((per_tensor, "b.json"), (pinned, "c.json")):
        built = build_artifact(load_recipe(save_recipe(request, tmp_path / name)), cache=cache)
        assert built.path not in paths
        paths.add(built.path)
    kept = onnx.load(str(built.path / built.model_file), load_external_data=False)
    assert matmul in {n.name for n in kept.graph.node if n.op_type == "MatMul"}  # left in fp32


def test_load_pipeline_takes_a_recipe(bbc_model: Path, bbc_recipe: Path, artifact_cache: Path) -> None:
    pipe = load_pipeline(recipe=bbc_recipe, cache_dir=artifact_cache)
    named = load_pipeline("text-classification", bbc_model, optimize="O2", quantize="dynamic",
                          cache_dir=artifact_cache)
    assert pipe.artifact.path == named.artifact.path and pipe.variant == named.variant
    assert [r["label"] for r in pipe(TEXTS)] == [r["label"] for r in named(TEXTS)] == ["business", "sports", "tech"]


def test_load_pipeline_refuses_settings_the_recipe_fixes(bbc_recipe: Path) -> None:
    with pytest.raises(InvalidConfigError, match="fixes what to build.*optimize"):
        load_pipeline(recipe=bbc_recipe, optimize="O3")
    with pytest.raises(InvalidConfigError, match="conflicts with the recipe"):
        load_pipeline("token-classification", recipe=bbc_recipe)
    with pytest.raises(InvalidConfigError, match="needs a task and a model"):
        load_pipeline("text-classification")


def test_parity_and_bench_take_recipe_variants(bbc_recipe: Path) -> None:
    spec = parse_variant_specs(f"fp32,recipe:{bbc_recipe}", get_task("text-classification"))[1]
    assert spec.recipe == bbc_recipe.resolve() and spec.variant is not None and spec.variant.name == "O2+int8-dynamic"
    with pytest.raises(InvalidConfigError, match="builds 'text-classification'"):
        parse_variant_specs(f"recipe:{bbc_recipe}", get_task("token-classification"))
    rows = default_candidates(f"O2,recipe:{bbc_recipe}", baselines=False)
    assert [r.kind for r in rows] == [CandidateKind.OURS] * 2
    assert rows[1].recipe == str(bbc_recipe.resolve()) and rows[1].variant == "O2+int8-dynamic"


def test_export_cli_builds_a_recipe(bbc_recipe: Path, artifact_cache: Path, tmp_path: Path, capsys) -> None:
    from onnx_pipelines.cli import main

    out = tmp_path / "out"
    assert main(["export", "--recipe", str(bbc_recipe), "--cache-dir", str(artifact_cache), "--output", str(out),
                 "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["quantize"].startswith("qint8") and (out / manifest["model_file"]).is_file()
    assert main(["export", "--recipe", str(bbc_recipe), "--quantize", "static"]) == 2
    assert "fixes what to build" in capsys.readouterr().err


def test_serve_cli_reads_model_and_task_from_the_recipe(bbc_model: Path, bbc_recipe: Path, monkeypatch) -> None:
    pytest.importorskip("fastapi")
    import onnx_pipelines.serving.factory as factory
    import onnx_pipelines.serving.server as server
    from onnx_pipelines.cli import main

    seen: dict = {}
    monkeypatch.setattr(factory, "create_app", lambda model, task, **kw: seen.update(model=model, task=task, **kw))
    monkeypatch.setattr(server, "run_server", lambda app, **kw: 0)
    assert main(["serve", "--recipe", str(bbc_recipe)]) == 0
    assert seen["model"] == str(bbc_model.resolve()) and seen["task"] == "text-classification"
    assert seen["recipe"] == str(bbc_recipe)

