"""Families whose graphs take no ``token_type_ids`` (RoBERTa-likes, DistilBERT, ModernBERT) or ignore them
(DeBERTa-v2), through text pairs: export validation, the pipeline, parity, serving and static calibration.

Tiny random-weight classifiers of each family (the support matrix's models, cached with it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from onnx_pipelines.pipeline import load_pipeline
from onnx_pipelines.support_matrix import PAIRS, TEXTS, compare_with_torch

NO_TYPE_IDS = ("roberta", "distilbert", "modernbert", "deberta-v2")
PAIR_INPUTS = [{"text": a, "text_pair": b} for a, b in PAIRS] + [
    {"text": "Who won the cup?", "text_pair": "The home side won the cup final in London."}]


def _graph_inputs(pipe: Any) -> list[str]:
    return [i.name for i in onnx.load(str(pipe.artifact.model_path), load_external_data=False).graph.input]


@pytest.mark.parametrize("family", NO_TYPE_IDS)
def test_pairs_without_token_type_ids(family: str, matrix_folders: Any, matrix_cache: Path) -> None:
    folder = matrix_folders(family, "text-classification")
    pipe = load_pipeline("text-classification", folder, cache_dir=matrix_cache)
    assert "token_type_ids" not in _graph_inputs(pipe)
    assert pipe.artifact.manifest["validation"]["num_texts"] == 7  # the export was validated on pairs too
    assert compare_with_torch("text-classification", pipe, folder) <= 1e-4
    # A pair is not its first text alone: the second segment reaches the model.
    assert pipe(PAIR_INPUTS[0], top_k=None) != pipe(PAIR_INPUTS[0]["text"], top_k=None)


def test_parity_on_pairs_without_token_type_ids(matrix_folders: Any, matrix_cache: Path, tmp_path: Path) -> None:
    from onnx_pipelines.eval_data import ColumnMapping
    from onnx_pipelines.parity import evaluate_parity

    folder = matrix_folders("roberta", "text-classification")
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"q": p["text"], "p": p["text_pair"], "label": 0}) + "\n"
                            for p in PAIR_INPUTS))
    report = evaluate_parity(folder, "text-classification", data, variants="fp32,O2",
                             columns=ColumnMapping(text="q", text_pair="p", label="label"), cache_dir=matrix_cache)
    assert report.passed
    for variant in report.variants:
        assert variant.outputs[0].max_abs_diff < 1e-4 and variant.agreement == 1.0


def test_static_calibration_feeds_only_the_inputs_the_graph_declares(matrix_folders: Any, matrix_cache: Path,
                                                                       tmp_path: Path) -> None:
    # Calibration rows tokenized with token_type_ids (as a BERT-style tokenizer gives them, and DeBERTa-v2's
    # does for a graph without that input) used to fail: "Failed to find input with name: token_type_ids".
    from onnx_pipelines.config import resolve_quantize
    from onnx_pipelines.quantize import quantize_model

    pipe = load_pipeline("text-classification", matrix_folders("roberta", "text-classification"),
                         cache_dir=matrix_cache)
    encoded = dict(pipe.tokenizer(list(TEXTS) * 4, padding="max_length", max_length=32, return_tensors="np"))
    encoded["token_type_ids"] = np.zeros_like(encoded["input_ids"])
    settings = resolve_quantize("static", calibration_samples=8)
    out = quantize_model(pipe.artifact.path, pipe.artifact.model_file, tmp_path, settings, "model_int8.onnx",
                         calibration_batches=[encoded])
    assert out.is_file() and "token_type_ids" not in [i.name for i in onnx.load(str(out)).graph.input]


def test_static_int8_of_deberta_v2_is_refused_before_export(matrix_folders: Any, tmp_path: Path) -> None:
    from onnx_pipelines.errors import UnsupportedArchitectureError
    from onnx_pipelines.support_check import check_model

    folder = matrix_folders("deberta-v2", "text-classification")
    report = check_model(folder, "text-classification", optimize="O2", quantize="static")
    assert not report.supported and "subgraph" in report.reasons[0]
    assert "static" not in report.int8_modes
    assert check_model(folder, "text-classification", quantize="dynamic").supported
    with pytest.raises(UnsupportedArchitectureError, match="subgraph"):
        load_pipeline("text-classification", folder, quantize="static", calibration_dataset=list(TEXTS),
                      cache_dir=tmp_path)
    assert not any(tmp_path.rglob("*.onnx"))


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_served_pairs_without_token_type_ids(matrix_folders: Any, matrix_cache: Path,
                                                   anyio_backend: str) -> None:
    pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'onnx-pipelines[serve]'")
    import httpx

    from onnx_pipelines.serving import ServingSettings, create_app_from_pipeline

    pipe = load_pipeline("text-classification", matrix_folders("modernbert", "text-classification"),
                         cache_dir=matrix_cache)
    expected = pipe(PAIR_INPUTS, top_k=None, batch_size=len(PAIR_INPUTS))
    app = create_app_from_pipeline(pipe, "text-classification", model_name="tiny-modernbert",
                                   settings=ServingSettings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post("/predict", json={"inputs": [[p["text"], p["text_pair"]]
                                                                      for p in PAIR_INPUTS]})
    assert response.status_code == 200, response.text
    for answer, reference in zip(response.json(), expected, strict=True):
        assert {a["label"]: a["score"] for a in answer} == pytest.approx(
            {r["label"]: r["score"] for r in reference}, abs=1e-6)
