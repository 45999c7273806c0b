"""predict_dataset: length-aware batching gives the plain pipeline's results, in the original order."""

from __future__ import annotations

from pathlib import Path

import pytest

from onnx_pipelines.errors import DatasetError, InvalidInputError
from onnx_pipelines.pipeline import load_pipeline
from onnx_pipelines.pipelines.dataset_prediction import predict_dataset, token_lengths


@pytest.fixture(scope="module")
def tiny_onnx(tiny_classifier: Path, artifact_cache: Path):
    return load_pipeline("text-classification", tiny_classifier, cache_dir=artifact_cache)


@pytest.fixture(scope="module")
def texts(bbc_test_rows: list) -> list[str]:
    # Very different lengths, interleaved, so sorting really reorders them.
    rows = sorted(bbc_test_rows[:40], key=lambda r: len(r["text"]))
    short = ["Shares rose.", "The striker scored twice.", "A new phone goes on sale."]
    return [t for pair in zip(short * 4, [r["text"] for r in rows[::3]], strict=False) for t in pair]


def _same(a: list, b: list) -> None:
    assert [x["label"] for x in a] == [x["label"] for x in b]
    assert [x["score"] for x in a] == pytest.approx([x["score"] for x in b], abs=1e-4)


def test_onnx_pipeline_results_equal_the_plain_pipeline_in_input_order(tiny_onnx, texts) -> None:
    plain = tiny_onnx(texts, batch_size=1, max_length=128)
    sorted_run = predict_dataset(tiny_onnx, texts, max_batch_size=4, max_tokens=300, max_length=128)
    _same(sorted_run, plain)
    _same(tiny_onnx.predict_dataset(texts, max_length=128), plain)


def test_pytorch_pipeline_results_equal_the_plain_pipeline_in_input_order(bbc_model: Path, texts) -> None:
    import transformers

    pipe = transformers.pipeline("text-classification", model=str(bbc_model))
    plain = pipe(texts, truncation=True, max_length=128)
    _same(predict_dataset(pipe, texts, max_batch_size=5, truncation=True, max_length=128), plain)


def test_datasets_column_and_call_options(tiny_onnx, texts) -> None:
    from datasets import Dataset

    table = Dataset.from_dict({"body": texts, "n": list(range(len(texts)))})
    top2 = predict_dataset(tiny_onnx, table, column="body", top_k=2, max_length=64)
    assert len(top2) == len(texts) and all(len(r) == 2 for r in top2)
    assert [r[0]["label"] for r in top2] == [r["label"] for r in tiny_onnx(texts, max_length=64)]


def test_lengths_follow_truncation(tiny_onnx, texts) -> None:
    lengths = token_lengths(tiny_onnx.tokenizer, texts, 64)
    assert max(lengths) == 64 and min(lengths) < 10


def test_empty_input_and_bad_items(tiny_onnx) -> None:
    assert predict_dataset(tiny_onnx, []) == []
    with pytest.raises(InvalidInputError, match="Item 1"):
        predict_dataset(tiny_onnx, ["fine", ""])
    with pytest.raises(InvalidInputError, match="single string"):
        predict_dataset(tiny_onnx, "just one text")


def test_missing_column_names_the_columns(tiny_onnx) -> None:
    from datasets import Dataset

    with pytest.raises(DatasetError, match="columns: body"):
        predict_dataset(tiny_onnx, Dataset.from_dict({"body": ["a"]}))
