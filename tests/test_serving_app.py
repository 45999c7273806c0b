"""In-process tests of the HTTP API on the real ONNX pipelines (``load_pipeline`` on models from ../shared):
answers, batching, every error code, metrics, and draining on shutdown.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'onnx-pipelines[serve]'")
import httpx  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from onnx_pipelines.errors import InvalidConfigError, ModelNotFoundError, UnsupportedTaskError  # noqa: E402
from onnx_pipelines.pipeline import load_pipeline  # noqa: E402
from onnx_pipelines.serving import ServingSettings, create_app, create_app_from_pipeline  # noqa: E402
from onnx_pipelines.serving.tasks import served_tasks  # noqa: E402
from onnx_pipelines.tasks import supported_tasks  # noqa: E402

pytestmark = pytest.mark.anyio

#: The variant served in these tests: the library's fast CPU variant (and the one test_pipeline builds too).
FAST = {"optimize": "O2", "quantize": "dynamic"}


def onnx_pipeline(task: str, model: Path, cache: Path, **options: Any) -> Any:
    """``load_pipeline(task, model)``; skip when the task registry does not have ``task`` yet."""
    if task not in supported_tasks():
        pytest.skip(f"{task!r} is not in the task registry yet (branch `tasks` adds it); its endpoint is untested")
    return load_pipeline(task, model, cache_dir=cache, **options)


@pytest.fixture(scope="module")
def bbc_texts(bbc_test_rows: list[dict[str, Any]]) -> list[str]:
    # Every 50th article, cut to 60 words: the five classes, various lengths, quick to run.
    return [" ".join(row["text"].split()[:60]) for row in bbc_test_rows[::50]]


@pytest.fixture(scope="module")
def classifier(bbc_model: Path, artifact_cache: Path) -> Any:
    return load_pipeline("text-classification", bbc_model, cache_dir=artifact_cache, **FAST)


@pytest.fixture(scope="module")
def bbc_expected(classifier: Any, bbc_texts: list[str]) -> list[list[dict[str, Any]]]:
    """The pipeline's own answers (all labels, sorted) for ``bbc_texts``."""
    return classifier(bbc_texts, top_k=None, truncation=True, batch_size=len(bbc_texts))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def embedder(minilm_model: Path, artifact_cache: Path) -> Any:
    return load_pipeline("sentence-embeddings", minilm_model, cache_dir=artifact_cache)


@asynccontextmanager
async def serving(pipe: Any, task: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan around an httpx client talking to it in-process."""
    app = create_app_from_pipeline(pipe, task, model_name="test-model", settings=ServingSettings(**settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


class Wrapped:
    """A real pipeline with a hook before each call; attributes (tokenizer, model) pass through."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)

    def before(self, inputs: list[Any]) -> None:
        self.entered.set()
        assert self.gate.wait(20), "test never released the gate"

    def __call__(self, inputs: list[Any], **kwargs: Any) -> Any:
        self.before(inputs)
        return self.pipe(inputs, **kwargs)


class Poisoned(Wrapped):
    def before(self, inputs: list[Any]) -> None:
        if any("POISON" in str(x) for x in inputs):
            raise RuntimeError("cannot run /secret/path/model.onnx: internal detail")


class Broken(Wrapped):
    def before(self, inputs: list[Any]) -> None:
        raise RuntimeError("/secret/path/model.onnx is corrupt")


class Garbled(Wrapped):
    def __call__(self, inputs: list[Any], **kwargs: Any) -> Any:
        return ["not a score list"] * len(inputs)


def assert_error(response: httpx.Response, status: int, error_type: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_type"}, body
    assert body["error_type"] == error_type, body
    assert "Traceback" not in body["error"] and "/secret" not in body["error"], body
    return body


# --- answers ---------------------------------------------------------------------------------------


async def test_predict_matches_the_pipeline(
    classifier: Any, bbc_texts: list[str], bbc_expected: list[list[dict[str, Any]]]
) -> None:
    expected = bbc_expected
    async with serving(classifier, "text-classification") as client:
        response = await client.post("/predict", json={"inputs": bbc_texts})
        single = await client.post("/predict", json={"inputs": bbc_texts[0], "top_k": 2})
    assert response.status_code == 200
    got = response.json()
    assert len(got) == len(bbc_texts)
    for answer, reference in zip(got, expected, strict=True):  # one request, one batch: the same model call
        assert [a["label"] for a in answer] == [r["label"] for r in reference]
        np.testing.assert_allclose([a["score"] for a in answer], [r["score"] for r in reference], atol=1e-6)
    assert single.status_code == 200
    assert [a["label"] for a in single.json()] == [r["label"] for r in expected[0][:2]]


async def test_predict_takes_text_pairs(classifier: Any) -> None:
    pair = ["Shares rose sharply.", "The company reported record profits."]
    # int8 dynamic quantization scales activations per batch: compare with the same batch, run directly.
    expected = classifier([{"text": pair[0], "text_pair": pair[1]}, "A plain text."], top_k=None, batch_size=2)
    async with serving(classifier, "text-classification") as client:
        response = await client.post("/predict", json={"inputs": [pair, "A plain text."]})
    assert response.status_code == 200
    for answer, reference in zip(response.json(), expected, strict=True):
        assert [a["label"] for a in answer] == [r["label"] for r in reference]
        assert answer[0]["score"] == pytest.approx(reference[0]["score"], abs=1e-6)


async def test_embed_matches_the_pipeline(embedder: Any) -> None:
    texts = ["The match ended in a draw.", "Stocks fell on Monday.", "A new phone was released."]
    expected = embedder(texts)  # all-MiniLM-L6-v2 ends with Normalize: unit vectors
    async with serving(embedder, "sentence-embeddings") as client:
        response = await client.post("/embed", json={"inputs": texts})
        raw = await client.post("/embed", json={"inputs": texts[0], "normalize": False})
        info = (await client.get("/info")).json()
    assert response.status_code == 200
    got = np.asarray(response.json(), dtype=np.float32)
    assert got.shape == (3, 384)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.asarray(raw.json()).shape == (1, 384), "a single text still answers a list of vectors (as TEI)"
    np.testing.assert_allclose(raw.json()[0], expected[0], atol=1e-5)
    assert (info["variant"], info["max_input_tokens"]) == ("fp32", 256)  # sentence-transformers' max_seq_length


async def test_ner_matches_the_pipeline(conll_model: Path, artifact_cache: Path) -> None:
    tagger = onnx_pipeline("token-classification", conll_model, artifact_cache)
    texts = ["John Smith flew from London to Paris.", "Germany beat Brazil in Berlin."]
    expected = tagger(texts, aggregation_strategy="simple")
    async with serving(tagger, "token-classification") as client:
        response = await client.post("/ner", json={"inputs": texts})
        single = await client.post("/ner", json={"inputs": texts[0]})
    assert response.status_code == 200
    for got, ref in zip(response.json(), expected, strict=True):
        assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in got] == [
            (e["entity_group"], e["word"], e["start"], e["end"]) for e in ref
        ]
    assert single.json() == response.json()[0]


async def test_embed_all_returns_each_texts_own_tokens(minilm_model: Path, artifact_cache: Path) -> None:
    extractor = onnx_pipeline("feature-extraction", minilm_model, artifact_cache)
    texts = ["hi", "a much longer sentence with many more tokens in it"]
    alone = [np.asarray(extractor(t)[0]) for t in texts]
    async with serving(extractor, "feature-extraction", max_wait_ms=100) as client:
        responses = await asyncio.gather(*(client.post("/embed_all", json={"inputs": t}) for t in texts))
    for response, reference in zip(responses, alone, strict=True):
        got = np.asarray(response.json()[0])
        assert got.shape == reference.shape, "padding from a batch mate must not leak into the answer"
        np.testing.assert_allclose(got, reference, atol=1e-4)


async def test_concurrent_requests_share_batches_and_get_their_own_answers(
    classifier: Any, bbc_texts: list[str], bbc_expected: list[list[dict[str, Any]]]
) -> None:
    expected = [r[0]["label"] for r in bbc_expected]
    async with serving(classifier, "text-classification", max_wait_ms=100) as client:
        responses = await asyncio.gather(*(client.post("/predict", json={"inputs": t}) for t in bbc_texts))
        metrics = _metrics(await client.get("/metrics"))
    assert [r.json()[0]["label"] for r in responses] == expected
    batches = metrics["onnx_pipelines_batch_size_count"]
    assert batches < len(bbc_texts), f"{len(bbc_texts)} concurrent requests ran in {batches} batches"


# --- health, info, metrics, docs --------------------------------------------------------------------


def _metrics(response: httpx.Response) -> dict[str, float]:
    assert response.status_code == 200
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            key = s.name + "".join(f"|{k}={v}" for k, v in sorted(s.labels.items()))
            samples[key] = s.value
    return samples


async def test_health_info_metrics_and_docs(classifier: Any) -> None:
    async with serving(classifier, "text-classification") as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        info = (await client.get("/info")).json()
        await client.post("/predict", json={"inputs": "Shares rose."})
        await client.post("/predict", json={"inputs": ""})
        metrics = _metrics(await client.get("/metrics"))
        openapi = (await client.get("/openapi.json")).json()
        assert (await client.get("/docs")).status_code == 200
    assert info["task"] == "text-classification" and info["endpoint"] == "/predict"
    assert info["variant"] == "O2+int8-dynamic", "the pipeline's own variant name"
    assert info["labels"] == ["business", "entertainment", "politics", "sports", "tech"]
    assert info["max_input_tokens"] == 512
    assert info["limits"]["max_queue"] == ServingSettings().max_queue
    assert {"python", "transformers", "onnx-pipelines"} <= set(info["versions"])
    ok = "onnx_pipelines_requests_total|endpoint=/predict|outcome=success|status=200"
    rejected = "onnx_pipelines_requests_total|endpoint=/predict|outcome=rejected|status=400"
    assert metrics[ok] == 1 and metrics[rejected] == 1
    assert metrics["onnx_pipelines_queue_size"] == 0
    assert "onnx_pipelines_inference_duration_seconds_count" in metrics
    assert "/predict" in openapi["paths"] and "PredictRequest" in openapi["components"]["schemas"]


async def test_two_apps_in_one_process_keep_separate_metrics(classifier: Any) -> None:
    key = "onnx_pipelines_requests_total|endpoint=/predict|outcome=success|status=200"
    async with (
        serving(classifier, "text-classification") as first,
        serving(classifier, "text-classification") as second,
    ):
        await first.post("/predict", json={"inputs": "one"})
        await first.post("/predict", json={"inputs": "two"})
        await second.post("/predict", json={"inputs": "three"})
        assert _metrics(await first.get("/metrics"))[key] == 2
        assert _metrics(await second.get("/metrics"))[key] == 1


async def test_health_is_503_and_predict_424_when_the_model_fails(classifier: Any) -> None:
    async with serving(Broken(classifier), "text-classification") as client:
        assert_error(await client.get("/health"), 503, "unhealthy")
        assert_error(await client.post("/predict", json={"inputs": "x"}), 424, "model_error")


# --- errors ------------------------------------------------------------------------------------------

LONG_TEXT = "word " * 600  # about 600 tokens; the model takes 512

BAD_REQUESTS = [
    ("empty text", {"inputs": ""}, 400, "invalid_input"),
    ("empty list", {"inputs": []}, 400, "invalid_input"),
    ("blank item", {"inputs": ["ok", "   "]}, 400, "invalid_input"),
    ("blank pair half", {"inputs": [["ok", ""]]}, 400, "invalid_input"),
    ("number", {"inputs": 3}, 422, "validation_error"),
    ("number in list", {"inputs": ["a", 1]}, 422, "validation_error"),
    ("triple", {"inputs": [["a", "b", "c"]]}, 422, "validation_error"),
    ("null", {"inputs": None}, 422, "validation_error"),
    ("missing inputs", {"top_k": 1}, 422, "validation_error"),
    ("top_k zero", {"inputs": "x", "top_k": 0}, 422, "validation_error"),
    ("top_k string", {"inputs": "x", "top_k": "2"}, 422, "validation_error"),
    ("truncate string", {"inputs": "x", "truncate": "yes"}, 422, "validation_error"),
    ("unknown field", {"inputs": "x", "model": "/etc/passwd"}, 422, "validation_error"),
    ("too many items", {"inputs": ["x"] * 9}, 422, "validation_error"),
    ("too long", {"inputs": ["short", LONG_TEXT]}, 422, "validation_error"),
    ("body is a list", ["x"], 422, "validation_error"),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "error_type"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
async def test_bad_requests(classifier: Any, case: str, body: Any, status: int, error_type: str) -> None:
    async with serving(classifier, "text-classification", max_input_items=8) as client:
        assert_error(await client.post("/predict", json=body), status, error_type)


async def test_transport_level_errors(classifier: Any) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b'"' + b"x" * 200 + b'",'

    async with serving(classifier, "text-classification", max_payload_bytes=1000) as client:
        big = json.dumps({"inputs": ["x" * 100] * 20})
        headers = {"content-type": "application/json"}
        assert_error(await client.post("/predict", content=big, headers=headers), 413, "payload_too_large")
        assert_error(
            await client.post("/predict", content=chunks(), headers=headers), 413, "payload_too_large"
        )
        assert_error(
            await client.post("/predict", content=b"{not json", headers=headers), 400, "invalid_json"
        )
        assert_error(await client.post("/predict", content=b'{"inputs": "x"}'), 415, "unsupported_media_type")
        assert_error(await client.get("/predict"), 405, "method_not_allowed")
        assert_error(await client.get("/nothing-here"), 404, "not_found")
        assert_error(await client.post("/embed", json={"inputs": "x"}), 404, "not_found")
        # ... and after all that, a good request still works.
        assert (
            await client.post("/predict", json={"inputs": "Shares rose.", "truncate": True})
        ).status_code == 200


async def test_too_long_input_is_accepted_with_truncate(classifier: Any) -> None:
    async with serving(classifier, "text-classification") as client:
        response = await client.post("/predict", json={"inputs": LONG_TEXT, "truncate": True})
    assert response.status_code == 200 and len(response.json()) == 5


async def test_embed_validation_and_truncation_at_max_seq_length(embedder: Any) -> None:
    # all-MiniLM-L6-v2 keeps 256 tokens (sentence_bert_config.json), although its tokenizer takes 512:
    # "word" is one token, plus [CLS] and [SEP].
    longest, too_long = "word " * 254, "word " * 255
    async with serving(embedder, "sentence-embeddings", max_input_items=4) as client:
        assert_error(await client.post("/embed", json={"inputs": [["a", "b"]]}), 422, "validation_error")
        assert_error(
            await client.post("/embed", json={"inputs": "a", "normalize": 1}), 422, "validation_error"
        )
        assert_error(await client.post("/embed", json={"inputs": ["a"] * 5}), 422, "validation_error")
        body = assert_error(await client.post("/embed", json={"inputs": too_long}), 422, "validation_error")
        at_limit = await client.post("/embed", json={"inputs": longest})
        cut = await client.post("/embed", json={"inputs": too_long, "truncate": True})
    assert "257 tokens" in body["error"] and "256" in body["error"]
    assert at_limit.status_code == 200 and cut.status_code == 200
    # cut to the 256 tokens the pipeline keeps: the same vector as the text that fits
    np.testing.assert_allclose(cut.json()[0], at_limit.json()[0], atol=1e-6)


async def test_full_queue_answers_429(classifier: Any) -> None:
    gated = Wrapped(classifier)
    async with serving(gated, "text-classification", max_queue=2, max_batch_size=1, max_wait_ms=0) as client:
        gated.gate.clear()
        gated.entered.clear()
        running = asyncio.ensure_future(client.post("/predict", json={"inputs": "running"}))
        assert await asyncio.to_thread(gated.entered.wait, 10)
        queued = [
            asyncio.ensure_future(client.post("/predict", json={"inputs": f"queued {i}"})) for i in range(2)
        ]
        while (await client.get("/metrics")).text.find("onnx_pipelines_queue_size 2.0") < 0:
            await asyncio.sleep(0.01)
        refused = await client.post("/predict", json={"inputs": "one too many"})
        gated.gate.set()
        answered = await asyncio.gather(running, *queued)
    body = assert_error(refused, 429, "overloaded")
    assert refused.headers["retry-after"] == "1" and "--max-queue" in body["error"]
    assert [r.status_code for r in answered] == [200, 200, 200]


async def test_model_failure_is_424_without_internals_and_spares_batch_mates(classifier: Any) -> None:
    async with serving(Poisoned(classifier), "text-classification", max_wait_ms=100) as client:
        good, bad = await asyncio.gather(
            client.post("/predict", json={"inputs": "Shares rose."}),
            client.post("/predict", json={"inputs": "POISON pill"}),
        )
    assert good.status_code == 200
    assert_error(bad, 424, "model_error")


async def test_unexpected_model_output_is_500_without_internals(classifier: Any) -> None:
    async with serving(Garbled(classifier), "text-classification") as client:
        assert_error(await client.post("/predict", json={"inputs": "x"}), 500, "internal_error")


async def test_shutdown_finishes_queued_requests(classifier: Any) -> None:
    gated = Wrapped(classifier)
    settings = ServingSettings(max_batch_size=1, max_wait_ms=0)
    app = create_app_from_pipeline(gated, "text-classification", settings=settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        gated.gate.clear()
        gated.entered.clear()
        in_flight = [
            asyncio.ensure_future(client.post("/predict", json={"inputs": f"text {i}"})) for i in range(6)
        ]
        # one request runs (held at the gate), the other five wait in the queue: wait for both, else the
        # sixth request may not have arrived yet when shutdown starts (and is rightly refused with 503)
        while not gated.entered.is_set() or "onnx_pipelines_queue_size 5.0" not in (await client.get("/metrics")).text:
            await asyncio.sleep(0.01)
        shutdown = asyncio.ensure_future(lifespan.__aexit__(None, None, None))
        await asyncio.sleep(0.05)
        assert not shutdown.done(), "shutdown must wait for queued requests"
        gated.gate.set()
        responses = await asyncio.gather(*in_flight)
        await asyncio.wait_for(shutdown, 20)
        assert [r.status_code for r in responses] == [200] * 6
        assert_error(await client.post("/predict", json={"inputs": "late"}), 503, "shutting_down")
        assert_error(await client.get("/health"), 503, "shutting_down")


# --- factories -----------------------------------------------------------------------------------

#: Tasks with an endpoint that the task registry does not support (yet): their apps cannot be built.
def test_factories_refuse_bad_configuration(tmp_path: Path, bbc_model: Path) -> None:
    with pytest.raises(UnsupportedTaskError, match="text-classification"):
        create_app(bbc_model, "summarization")
    with pytest.raises(ModelNotFoundError, match="does-not-exist"):
        create_app(tmp_path / "does-not-exist", "text-classification", cache_dir=tmp_path)
    with pytest.raises(InvalidConfigError, match="onnx backend"):
        create_app(bbc_model, "text-classification", backend="pytorch", optimize="O2")
    with pytest.raises(InvalidConfigError, match="backend"):
        create_app(bbc_model, "text-classification", backend="tensorflow")


def test_every_served_task_is_in_the_task_registry() -> None:
    assert set(served_tasks()) <= set(supported_tasks())


@pytest.mark.parametrize(
    ("task", "path", "body"),
    [
        ("text-classification", "/predict", {"inputs": ["The striker scored twice.", "Shares fell sharply."]}),
        ("sentence-embeddings", "/embed", {"inputs": ["The striker scored twice.", "Shares fell sharply."]}),
    ],
)
async def test_the_pytorch_backend_answers_like_the_onnx_pipeline(
    request: pytest.FixtureRequest, task: str, path: str, body: dict[str, Any]
) -> None:
    """The hidden ``--backend pytorch`` baseline still serves, and agrees with the ONNX pipeline."""
    model, onnx = {
        "text-classification": ("bbc_model", "classifier"),
        "sentence-embeddings": ("minilm_model", "embedder"),
    }[task]
    app = create_app(request.getfixturevalue(model), task, backend="pytorch")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            info = (await client.get("/info")).json()
            response = await client.post(path, json=body)
    assert info["variant"] == "pytorch" and response.status_code == 200
    expected = request.getfixturevalue(onnx)(body["inputs"])
    if task == "text-classification":
        assert [answer[0]["label"] for answer in response.json()] == [e["label"] for e in expected]
    else:  # fp32 ONNX export vs sentence-transformers
        np.testing.assert_allclose(response.json(), expected, atol=1e-4)
