"""In-process tests of the TEI extras on real ONNX pipelines: ``POST /`` dispatch, ``/similarity``,
``/tokenize`` and ``/decode``, with the same error bodies as the task endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
def classifier(bbc_model: Path, artifact_cache: Path) -> Any:
    return load_pipeline("text-classification", bbc_model, cache_dir=artifact_cache, optimize="O2")


@pytest.fixture(scope="module")
def embedder(minilm_model: Path, artifact_cache: Path) -> Any:
    return load_pipeline("sentence-embeddings", minilm_model, cache_dir=artifact_cache)


@asynccontextmanager
async def serving(pipe: Any, task: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app_from_pipeline(pipe, task, model_name="test-model")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def error_of(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_type"}, body
    return body  # type: ignore[no-any-return]


async def test_root_answers_as_the_task_endpoint_and_takes_parameters(classifier: Any) -> None:
    texts = ["The striker scored twice in the final.", "Shares fell after the results."]
    async with serving(classifier, "text-classification") as client:
        tei = await client.post("/predict", json={"inputs": texts})
        root = await client.post("/", json={"inputs": texts})
        hf = await client.post("/", json={"inputs": texts[0], "parameters": {"top_k": 2}})
        hf_predict = await client.post("/predict", json={"inputs": texts[0], "parameters": {}})
        health = await client.get("/")
        refused = await client.post("/", json={"inputs": texts[0], "parameters": {"function_to_apply": "none"}})
        bad_json = await client.post("/", content=b"{", headers={"content-type": "application/json"})
        not_json = await client.post("/", content=b"inputs=x", headers={"content-type": "text/plain"})
        empty = await client.post("/", json={"inputs": ""})
    assert root.status_code == tei.status_code == 200
    assert root.json() == tei.json()
    assert [s["label"] for s in tei.json()[0]][:1] == ["sports"] and tei.json()[1][0]["label"] == "business"
    assert hf.json() == [tei.json()[0][:2]], "with parameters, one text answers a list holding its label list"
    assert hf_predict.json() == [tei.json()[0]]
    assert health.json() == {"status": "ok"}
    assert "function_to_apply='none' is not supported" in error_of(refused, 422)["error"]
    assert error_of(bad_json, 400)["error_type"] == "invalid_json"
    assert error_of(not_json, 415)["error_type"] == "unsupported_media_type"
    assert error_of(empty, 400)["error_type"] == "invalid_input"


async def test_similarity_is_the_cosine_of_the_pipelines_embeddings(embedder: Any) -> None:
    source, sentences = "A cat sat on the mat.", ["A kitten rested on the rug.", "Stocks fell sharply on Monday."]
    vectors = np.asarray(embedder([source, *sentences]), dtype=np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = vectors[1:] @ vectors[0]
    body = {"inputs": {"source_sentence": source, "sentences": sentences}}
    async with serving(embedder, "sentence-embeddings") as client:
        direct = await client.post("/similarity", json=body)
        root = await client.post("/", json={**body, "parameters": {"truncate": True}})
        embed = await client.post("/", json={"inputs": source})
        no_sentences = await client.post("/similarity", json={"inputs": {"source_sentence": source, "sentences": []}})
        prompt = await client.post("/similarity", json={**body, "parameters": {"prompt_name": "query"}})
    np.testing.assert_allclose(direct.json(), expected, atol=1e-5)
    assert root.json() == direct.json()
    assert expected[0] > 0.5 > expected[1], "the kitten is closer to the cat than the stock market"
    np.testing.assert_allclose(embed.json(), vectors[:1], atol=1e-5)  # POST / is /embed otherwise
    assert "sentences" in error_of(no_sentences, 422)["error"]
    assert "prompt_name='query' is not supported" in error_of(prompt, 422)["error"]


async def test_tokenize_and_decode_round_trip_with_the_models_tokenizer(classifier: Any) -> None:
    texts = ["Hello world!", "Café prices rose 3%."]
    tokenizer = classifier.tokenizer
    async with serving(classifier, "text-classification") as client:
        tokens = await client.post("/tokenize", json={"inputs": texts})
        bare = await client.post("/tokenize", json={"inputs": texts[0], "add_special_tokens": False})
        ids = [[t["id"] for t in row] for row in tokens.json()]
        decoded = await client.post("/decode", json={"ids": ids})
        kept = await client.post("/decode", json={"ids": ids[0], "skip_special_tokens": False})
        out_of_range = await client.post("/decode", json={"ids": [101, 10**6]})
        empty = await client.post("/tokenize", json={"inputs": []})
        similarity = await client.post("/similarity", json={"inputs": {"source_sentence": "a", "sentences": ["b"]}})
    assert tokens.status_code == 200
    assert ids == tokenizer(texts)["input_ids"]
    for text, row in zip(texts, tokens.json(), strict=True):
        assert row[0] == {"id": tokenizer.cls_token_id, "text": "[CLS]", "special": True, "start": None, "stop": None}
        words = [t for t in row if not t["special"]]
        assert all(text[t["start"]:t["stop"]] == t["text"] for t in words)
        assert words[0]["start"] == 0 and words[-1]["stop"] == len(text)
    assert [t["id"] for t in bare.json()[0]] == tokenizer(texts[0], add_special_tokens=False)["input_ids"]
    assert decoded.json() == tokenizer.batch_decode(ids, skip_special_tokens=True)
    assert decoded.json()[0] == "hello world!"  # the model is uncased
    assert kept.json() == ["[CLS] hello world! [SEP]"]
    assert "`ids[0][1]` is 1000000" in error_of(out_of_range, 400)["error"]
    assert error_of(empty, 400)["error_type"] == "invalid_input"
    assert error_of(similarity, 404)["error_type"] == "not_found", "/similarity is for embedding models only"


async def test_rerank_orders_the_texts_as_the_pipeline_ranks_them(
    rerank_model: Path, artifact_cache: Path, rerank_rows: list[dict]
) -> None:
    ranker = load_pipeline("text-ranking", rerank_model, cache_dir=artifact_cache)
    row = rerank_rows[0]
    query, texts = row["query"], row["texts"][:5]
    expected = ranker.rank(query, texts)
    raw = ranker.predict([(query, t) for t in texts], raw_scores=True)
    async with serving(ranker, "text-ranking") as client:
        ranked = await client.post("/rerank", json={"query": query, "texts": texts})
        root = await client.post("/", json={"query": query, "texts": texts})
        logits = await client.post("/rerank", json={"query": query, "texts": texts, "raw_scores": True,
                                                    "return_text": True, "truncate": True})
        empty = await client.post("/rerank", json={"query": query, "texts": []})
        blank = await client.post("/rerank", json={"query": " ", "texts": texts})
        typo = await client.post("/rerank", json={"query": query, "documents": texts})
        long = await client.post("/rerank", json={"query": query, "texts": ["word " * 600]})
    assert ranked.status_code == 200, ranked.text
    assert [r["index"] for r in ranked.json()] == [e["corpus_id"] for e in expected]
    assert [r["score"] for r in ranked.json()] == pytest.approx([e["score"] for e in expected], abs=1e-5)
    assert all(set(r) == {"index", "score"} for r in ranked.json()), "no text unless return_text"
    assert root.json() == ranked.json()
    assert row["relevance"][ranked.json()[0]["index"]] == 1
    for entry in logits.json():
        assert entry["score"] == pytest.approx(float(raw[entry["index"]]), abs=1e-4)
        assert entry["text"] == texts[entry["index"]]
    assert "`texts` is empty" in error_of(empty, 400)["error"]
    assert "`query` is empty" in error_of(blank, 400)["error"]
    assert error_of(typo, 422)["error_type"] == "validation_error"
    assert "truncate" in error_of(long, 422)["error"], "a pair over 512 tokens is refused unless truncate"
