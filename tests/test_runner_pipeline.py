"""Our pipeline classes on OpenVINO: the same classes, the same answers as on ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from onnx_pipelines import load_pipeline
from onnx_pipelines.openvino_runner import OpenVinoSettings
from onnx_pipelines.runner_model import RunnerModel
from onnx_pipelines.runner_pipeline import openvino_pipeline
from onnx_pipelines.tasks import get_task

pytest.importorskip("openvino", reason="needs the [openvino] extra")


@pytest.fixture(scope="module")
def bbc_ort(bbc_model: Path, artifact_cache: Path):
    return load_pipeline("text-classification", bbc_model, cache_dir=artifact_cache)


@pytest.mark.slow
def test_text_classification_on_openvino_gives_ort_answers(bbc_ort, bbc_test_rows) -> None:
    pipe = openvino_pipeline(get_task("text-classification"), bbc_ort.artifact, OpenVinoSettings("fp32"))
    assert type(pipe) is type(bbc_ort)  # one set of pipeline classes
    assert isinstance(pipe.model, RunnerModel)
    assert (pipe.variant, pipe.runtime, pipe.precision) == ("openvino:fp32", "openvino", "fp32")
    assert pipe.can_run_numpy()  # the lean batched path feeds the runner numpy arrays, as it feeds ORT
    texts = [r["text"] for r in bbc_test_rows[::56]]
    got, expected = pipe(texts, top_k=None), bbc_ort(texts, top_k=None)
    for g, e in zip(got, expected, strict=True):
        assert [x["label"] for x in g] == [x["label"] for x in e]
        np.testing.assert_allclose([x["score"] for x in g], [x["score"] for x in e], atol=1e-4)
    assert pipe(texts[0])[0]["label"] == bbc_ort(texts[0])[0]["label"]


@pytest.mark.slow
def test_sentence_embeddings_on_openvino(minilm_model: Path, artifact_cache: Path, bbc_test_rows) -> None:
    ort = load_pipeline("sentence-embeddings", minilm_model, cache_dir=artifact_cache)
    pipe = openvino_pipeline(get_task("sentence-embeddings"), ort.artifact, OpenVinoSettings("fp32"))
    assert pipe.pooling == ort.pooling
    texts = [r["text"][:300] for r in bbc_test_rows[:6]]
    got, expected = pipe(texts), ort(texts)
    assert got.shape == expected.shape == (6, 384)
    cosine = (got * expected).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosine.min() > 0.99999
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.slow
def test_token_classification_on_openvino(conll_model: Path, artifact_cache: Path) -> None:
    ort = load_pipeline("token-classification", conll_model, cache_dir=artifact_cache)
    pipe = openvino_pipeline(get_task("token-classification"), ort.artifact, OpenVinoSettings("fp32"))
    text = "Angela Merkel met Emmanuel Macron in Paris to discuss the European Union."
    got, expected = pipe(text), ort(text)
    def labels(entities: list[dict]) -> list[tuple]:
        return [(e.get("entity_group") or e.get("entity"), e["word"], e["start"]) for e in entities]

    assert got, "the NER model finds entities in this sentence"
    assert labels(got) == labels(expected)
    np.testing.assert_allclose([e["score"] for e in got], [e["score"] for e in expected], atol=1e-4)


@pytest.mark.slow
def test_load_pipeline_runtime_openvino_resolves_once(bbc_model: Path, artifact_cache: Path, bbc_ort) -> None:
    from onnx_pipelines.build_request import BuildRequest

    pipe = load_pipeline("text-classification", bbc_model, runtime="openvino", cache_dir=artifact_cache)
    assert (pipe.variant, pipe.runtime, pipe.precision) == ("openvino:fp32", "openvino", "fp32")
    assert pipe.artifact.path == bbc_ort.artifact.path  # the same cached export ONNX Runtime reads
    request = pipe.request
    assert request.engine == "openvino" and request.variant == "openvino:fp32"
    saved = request.to_dict()
    assert (saved["runtime"], saved["precision"]) == ("openvino", "fp32")
    assert BuildRequest.from_dict(saved) == request
    assert (bbc_ort.runtime, bbc_ort.precision) == ("onnxruntime", "fp32")
    text = "Shares in the carmaker fell 7% after it cut its profit forecast."
    assert pipe(text)[0]["label"] == bbc_ort(text)[0]["label"] == "business"
