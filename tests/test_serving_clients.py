"""The client libraries people use with TEI and OpenAI, against real server processes on 127.0.0.1.

``huggingface_hub.InferenceClient`` (feature_extraction, sentence_similarity, token_classification) and
the ``openai`` client (embeddings, models), each answer checked against the same pipeline run here.
text_classification is tested against the classifier server of tests/test_serving_server.py.
The servers start in parallel: an embedding server (all-MiniLM-L6-v2, fp32), an NER server
(conll-ner-minilm, fp32) and a reranker (bbc-rerank-minilm, fp32, TEI's ``/rerank`` over plain HTTP), the
variants the in-process tests export into the session cache.
The embedding server is started the way the Docker image starts it (``docker/entrypoint.sh`` with the
image's variables), and the image's ``HEALTHCHECK`` command is run against it; no Docker engine runs here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

pytest.importorskip("uvicorn", reason="needs the serve extra: pip install 'onnx-pipelines[serve]'")
huggingface_hub = pytest.importorskip("huggingface_hub")
openai = pytest.importorskip("openai", reason="the dev extra installs the openai client")

from server_process import REPO, ServerProcess  # noqa: E402


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, minilm_model: Path, conll_model: Path, rerank_model: Path,
    artifact_cache: Path,
) -> Iterator[dict[str, ServerProcess]]:
    logs = tmp_path_factory.mktemp("client-servers")
    image_env = {  # what the Dockerfile sets, with the model, cache and interface of this machine
        **dockerfile_env(), "ONNX_PIPELINES_MODEL": str(minilm_model), "ONNX_PIPELINES_TASK": "sentence-embeddings",
        "ONNX_PIPELINES_CACHE_DIR": str(artifact_cache), "ONNX_PIPELINES_HOST": "127.0.0.1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # the venv's onnx-pipelines
    }
    started = {
        "embeddings": ServerProcess.from_command(
            ["sh", str(REPO / "docker" / "entrypoint.sh"), "--log-level", "warning"], logs / "embed.log", image_env),
        "ner": ServerProcess(conll_model, "token-classification", artifact_cache, logs / "ner.log"),
        "rerank": ServerProcess(rerank_model, "rerank", artifact_cache, logs / "rerank.log"),
    }
    try:
        for server in started.values():
            server.wait_ready()
        yield started
    finally:
        for server in started.values():
            server.stop()


def dockerfile_lines() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def dockerfile_env() -> dict[str, str]:
    """The ``ENV key=value`` settings of the Dockerfile's final stage."""
    env: dict[str, str] = {}
    for line in dockerfile_lines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(\w+)=(\S+)", line))
    return env


@pytest.fixture(scope="module")
def embedder(minilm_model: Path, artifact_cache: Path) -> Any:
    from onnx_pipelines.pipeline import load_pipeline

    return load_pipeline("sentence-embeddings", minilm_model, cache_dir=artifact_cache)


@pytest.fixture
def hub_http() -> Iterator[None]:
    """Let ``InferenceClient`` reach loopback: the suite runs with HF_HUB_OFFLINE=1, which blocks every URL."""
    import requests

    huggingface_hub.configure_http_backend(backend_factory=requests.Session)
    yield
    huggingface_hub.configure_http_backend()


def unit(vectors: Any) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float64)
    return array / np.linalg.norm(array, axis=-1, keepdims=True)  # type: ignore[no-any-return]


def test_inference_client_embeddings_and_similarity(
    servers: dict[str, ServerProcess], embedder: Any, hub_http: None
) -> None:
    client = huggingface_hub.InferenceClient(model=servers["embeddings"].url)
    text = "The striker scored twice in the final."
    vector = client.feature_extraction(text)
    assert vector.shape == (1, 384) and vector.dtype == np.float32
    np.testing.assert_allclose(vector[0], embedder([text])[0], atol=1e-5)
    via_route = huggingface_hub.InferenceClient(model=servers["embeddings"].url + "/embed")
    np.testing.assert_allclose(via_route.feature_extraction(text, normalize=True, truncate=True), vector, atol=1e-6)

    others = ["A forward netted two goals in the cup final.", "The central bank raised interest rates."]
    scores = client.sentence_similarity(text, other_sentences=others)
    vectors = unit(embedder([text, *others]))
    np.testing.assert_allclose(scores, vectors[1:] @ vectors[0], atol=1e-5)
    assert scores[0] > scores[1]

    with pytest.raises(huggingface_hub.errors.HfHubHTTPError) as refused:
        client.feature_extraction(text, truncation_direction="left")
    assert refused.value.response.status_code == 422
    assert "truncation_direction='left' is not supported" in refused.value.response.json()["error"]


def test_inference_client_token_classification(
    servers: dict[str, ServerProcess], conll_model: Path, artifact_cache: Path, hub_http: None
) -> None:
    from onnx_pipelines.pipeline import load_pipeline

    text = "John Smith flew from London to Paris on Monday."
    expected = load_pipeline("token-classification", conll_model, cache_dir=artifact_cache)(
        text, aggregation_strategy="simple")
    entities = huggingface_hub.InferenceClient(model=servers["ner"].url).token_classification(text)
    assert [(e.entity_group, e.word, e.start, e.end) for e in entities] == [
        (e["entity_group"], e["word"], e["start"], e["end"]) for e in expected]
    assert any(e.entity_group == "LOC" and e.word == "london" for e in entities), entities
    grouped = huggingface_hub.InferenceClient(model=servers["ner"].url + "/ner").token_classification(
        text, aggregation_strategy="simple")
    assert grouped == entities


def test_openai_client_embeddings_and_models(servers: dict[str, ServerProcess], embedder: Any) -> None:
    client = openai.OpenAI(base_url=servers["embeddings"].url + "/v1", api_key="not-checked", max_retries=0)
    texts = ["The striker scored twice in the final.", "The central bank raised interest rates."]
    response = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)  # the client asks for base64
    floats = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts[0], encoding_format="float")
    expected = embedder(texts)
    np.testing.assert_allclose([d.embedding for d in response.data], expected, atol=1e-5)
    np.testing.assert_allclose(floats.data[0].embedding, response.data[0].embedding, atol=1e-7)
    tokens = sum(len(ids) for ids in embedder.tokenizer(texts)["input_ids"])
    assert (response.usage.prompt_tokens, response.usage.total_tokens) == (tokens, tokens)
    assert [m.id for m in client.models.list()] == [response.model]
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="all-MiniLM-L6-v2", input=texts[0], dimensions=128)
    assert "have 384 dimensions" in str(refused.value.body)  # the client hands over our body's `error`


@pytest.mark.parametrize(("marker", "server"), [
    ("huggingface-hub-embeddings", "embeddings"), ("openai-client", "embeddings"), ("rerank-client", "rerank")])
def test_docs_client_examples_run(servers: dict[str, ServerProcess], marker: str, server: str,
                                  hub_http: None) -> None:
    text = (REPO / "docs" / "serving.md").read_text()
    block = text.split(f"<!-- tested: {marker} -->", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert 'BASE_URL = "http://127.0.0.1:8080"' in block
    namespace: dict[str, Any] = {}
    exec(block.replace("http://127.0.0.1:8080", servers[server].url), namespace)
    assert "two goals" in namespace["best"]


def test_tei_rerank_over_http(servers: dict[str, ServerProcess], rerank_rows: list[dict]) -> None:
    row = rerank_rows[1]
    url = servers["rerank"].url
    ranked = httpx.post(url + "/rerank", json={"query": row["query"], "texts": row["texts"], "return_text": True},
                        timeout=60)
    assert ranked.status_code == 200, ranked.text
    body = ranked.json()
    assert sorted(r["index"] for r in body) == list(range(len(row["texts"])))
    assert [r["score"] for r in body] == sorted((r["score"] for r in body), reverse=True)
    assert row["relevance"][body[0]["index"]] == 1 and body[0]["text"] == row["texts"][body[0]["index"]]
    assert httpx.post(url + "/", json={"query": row["query"], "texts": row["texts"]}, timeout=60).json() == [
        {"index": r["index"], "score": r["score"]} for r in body]
    ids = [t["id"] for t in httpx.post(url + "/tokenize", json={"inputs": row["query"]}, timeout=30).json()[0]]
    decoded = httpx.post(url + "/decode", json={"ids": ids}, timeout=30).json()
    again = httpx.post(url + "/tokenize", json={"inputs": decoded[0]}, timeout=30).json()[0]
    assert [t["id"] for t in again] == ids  # the uncased tokenizer round-trips its own decoding
    assert httpx.get(url + "/info").json()["task"] == "text-ranking"


def test_dockerfile_runs_the_serve_extra_as_a_non_root_user_with_a_healthcheck() -> None:
    lines = dockerfile_lines()
    assert lines[0].startswith("FROM python:") and lines[0].endswith("-slim")
    assert any(line.startswith("RUN pip install") and '".[serve]"' in line and "-c constraints.txt" in line
               for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert [line for line in lines if line.startswith("ENTRYPOINT")] == ['ENTRYPOINT ["onnx-pipelines-entrypoint"]']
    assert any("docker/entrypoint.sh /usr/local/bin/onnx-pipelines-entrypoint" in line for line in lines)
    assert "/health" in next(line for line in lines if line.startswith("HEALTHCHECK"))


def test_the_images_healthcheck_command_passes_against_the_entrypoint_server(
    servers: dict[str, ServerProcess],
) -> None:
    line = next(line for line in dockerfile_lines() if line.startswith("HEALTHCHECK"))
    command = json.loads(line.split(" CMD ", 1)[1])
    assert command[0] == "python"
    env = {**os.environ, "ONNX_PIPELINES_PORT": str(servers["embeddings"].port)}
    healthy = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30)
    assert healthy.returncode == 0, healthy.stderr.decode()
    dead = subprocess.run([sys.executable, *command[1:]], env={**env, "ONNX_PIPELINES_PORT": "9"},
                          capture_output=True, timeout=30)
    assert dead.returncode != 0, "the health check must fail when nothing answers"
    info = httpx.get(servers["embeddings"].url + "/info").json()
    assert (info["task"], info["variant"]) == ("sentence-embeddings", "fp32")
