"""In-process tests of the OpenAI-compatible routes on the real MiniLM embedding pipeline."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'onnx-pipelines[serve]'")
import httpx  # noqa: E402

from onnx_pipelines.pipeline import load_pipeline  # noqa: E402
from onnx_pipelines.serving import create_app_from_pipeline  # noqa: E402

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def embedder(minilm_model: Path, artifact_cache: Path) -> Any:
    return load_pipeline("sentence-embeddings", minilm_model, cache_dir=artifact_cache)


async def post_all(pipe: Any, task: str, requests: list[tuple[str, Any]]) -> list[httpx.Response]:
    app = create_app_from_pipeline(pipe, task, model_name="minilm")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await (client.get(p) if body is None else client.post(p, json=body)) for p, body in requests]


async def test_embeddings_floats_base64_and_usage(embedder: Any) -> None:
    texts = ["The match ended in a draw.", "Stocks fell on Monday."]
    floats, b64, single, plain, models = await post_all(embedder, "sentence-embeddings", [
        ("/v1/embeddings", {"input": texts, "model": "anything"}),
        ("/v1/embeddings", {"input": texts, "model": "minilm", "encoding_format": "base64", "dimensions": 384}),
        ("/v1/embeddings", {"input": texts[0]}),
        ("/embeddings", {"input": texts[0]}),
        ("/v1/models", None),
    ])
    assert floats.status_code == 200, floats.text
    body = floats.json()
    expected = embedder(texts)
    assert (body["object"], body["model"]) == ("list", "minilm")
    assert [(d["object"], d["index"]) for d in body["data"]] == [("embedding", 0), ("embedding", 1)]
    np.testing.assert_allclose([d["embedding"] for d in body["data"]], expected, atol=1e-5)
    decoded = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in b64.json()["data"]]
    np.testing.assert_array_equal(decoded, np.asarray([d["embedding"] for d in body["data"]], dtype=np.float32))
    tokens = sum(len(ids) for ids in embedder.tokenizer(texts)["input_ids"])
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    assert len(single.json()["data"]) == 1 and plain.json()["data"] == single.json()["data"]
    assert [m["id"] for m in models.json()["data"]] == ["minilm"] and models.json()["object"] == "list"


async def test_what_openai_clients_may_send_that_the_server_does_not_do(embedder: Any) -> None:
    dims, ids, fmt, unknown, empty = await post_all(embedder, "sentence-embeddings", [
        ("/v1/embeddings", {"input": "a", "dimensions": 128}),
        ("/v1/embeddings", {"input": [[101, 2000]]}),
        ("/v1/embeddings", {"input": "a", "encoding_format": "int8"}),
        ("/v1/embeddings", {"input": "a", "normalize": False}),
        ("/v1/embeddings", {"input": []}),
    ])
    assert (dims.status_code, dims.json()["error_type"]) == (400, "invalid_input")
    assert "have 384 dimensions" in dims.json()["error"] and "Omit `dimensions` or send 384" in dims.json()["error"]
    assert ids.status_code == 422 and "token ids" in ids.json()["error"]
    assert fmt.status_code == 422 and "encoding_format" in fmt.json()["error"]
    assert unknown.status_code == 422 and unknown.json()["error_type"] == "validation_error"
    assert empty.status_code == 400 and empty.json()["error_type"] == "invalid_input"


async def test_only_embedding_servers_answer_v1_embeddings(bbc_model: Path, artifact_cache: Path) -> None:
    classifier = load_pipeline("text-classification", bbc_model, cache_dir=artifact_cache, optimize="O2")
    embeddings, models = await post_all(classifier, "text-classification", [
        ("/v1/embeddings", {"input": "a"}), ("/v1/models", None)])
    assert (embeddings.status_code, embeddings.json()["error_type"]) == (404, "not_found")
    assert models.json()["data"][0]["id"] == "minilm"
