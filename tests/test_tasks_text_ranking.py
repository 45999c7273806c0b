"""text-ranking (rerank): the ONNX cross-encoder against sentence-transformers' CrossEncoder on the shared
BBC reranker, the ranking metric, and parity with relevance labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from onnx_pipelines.errors import InvalidInputError, TaskMismatchError
from onnx_pipelines.pipelines.text_ranking import relevance_logits, relevant_index
from onnx_pipelines.tasks import get_task

#: Queries of the shared test set used here (each with 10 passages): quick, and every category appears.
QUERIES = slice(0, 120, 30)


@pytest.fixture(scope="module")
def ranker(rerank_model: Path, artifact_cache: Path) -> Any:
    from onnx_pipelines import load_pipeline

    return load_pipeline("rerank", rerank_model, cache_dir=artifact_cache)


@pytest.fixture(scope="module")
def cross_encoder(rerank_model: Path) -> Any:
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(rerank_model), device="cpu")


def test_the_alias_and_the_registry_entry() -> None:
    spec = get_task("rerank")
    assert spec.name == "text-ranking" and get_task("reranking") is spec
    assert spec.validation_inputs == ("query-passages",)


def test_scores_and_orders_match_cross_encoder(ranker: Any, cross_encoder: Any, rerank_rows: list[dict]) -> None:
    for row in rerank_rows[QUERIES]:
        pairs = [(row["query"], text) for text in row["texts"]]
        np.testing.assert_allclose(ranker.predict(pairs), cross_encoder.predict(pairs), atol=1e-4, rtol=0)
        ours, theirs = ranker.rank(row["query"], row["texts"]), cross_encoder.rank(row["query"], row["texts"])
        assert [r["corpus_id"] for r in ours] == [r["corpus_id"] for r in theirs]
        assert [r["score"] for r in ours] == pytest.approx([float(r["score"]) for r in theirs], abs=1e-4)
    pairs = [(rerank_rows[0]["query"], t) for t in rerank_rows[0]["texts"][:3]]
    raw, probability = ranker.predict(pairs, raw_scores=True), ranker.predict(pairs)
    np.testing.assert_allclose(1 / (1 + np.exp(-raw)), probability, atol=1e-6)  # raw: the relevance logit


def test_rank_options_and_the_call_convention(ranker: Any, rerank_rows: list[dict]) -> None:
    row = rerank_rows[0]
    full = ranker.rank(row["query"], row["texts"])
    assert row["relevance"][full[0]["corpus_id"]] == 1, "the shared reranker puts the headline's own article first"
    best = ranker.rank(row["query"], row["texts"], top_k=2, return_documents=True)
    assert [b["corpus_id"] for b in best] == [f["corpus_id"] for f in full[:2]]
    assert best[0]["text"] == row["texts"][best[0]["corpus_id"]]
    answers = ranker([{"query": r["query"], "texts": r["texts"]} for r in rerank_rows[:2]], top_k=3)
    assert len(answers) == 2 and [a["index"] for a in answers[0]] == [f["corpus_id"] for f in full[:3]]
    assert ranker({"query": row["query"], "texts": row["texts"]}) == [
        {"index": f["corpus_id"], "score": f["score"]} for f in full]
    assert ranker.predict(("a query", "a passage")).shape == (1,)
    with pytest.raises(InvalidInputError, match="top_k"):
        ranker.rank(row["query"], row["texts"], top_k=0)
    with pytest.raises(InvalidInputError, match=r"inputs\[0\]"):
        ranker.predict([("only one",)])  # type: ignore[list-item]


def test_heads_that_are_not_rerankers_are_refused(bbc_model: Path, tmp_path: Path) -> None:
    from onnx_pipelines import load_pipeline

    assert relevant_index({"id2label": {"0": "relevance"}}) is None
    assert relevant_index({"id2label": {"0": "not_relevant", "1": "relevant"}}) == 1
    logits = np.array([[0.5, 2.0], [1.0, -1.0]], dtype=np.float32)
    np.testing.assert_allclose(relevance_logits(logits, 1), [1.5, -2.0])
    with pytest.raises(TaskMismatchError, match="2 labels"):
        relevant_index({"id2label": {"0": "cat", "1": "dog"}})
    with pytest.raises(TaskMismatchError, match="5 labels"):  # before anything is exported
        load_pipeline("text-ranking", bbc_model, cache_dir=tmp_path)


def test_ranking_metric_by_hand() -> None:
    from onnx_pipelines.metrics import load_metric

    metric = load_metric("ranking")
    # query 1: the relevant passage ranked 2nd; query 2: ranked 1st.
    result = metric.compute(predictions=[[0.9, 0.8, 0.1], [0.2, 0.7, 0.1]], references=[[0, 1, 0], [0, 1, 0]])
    assert result["mrr"] == pytest.approx((1 / 2 + 1) / 2)
    assert result["ndcg"] == pytest.approx((1 / np.log2(3) + 1) / 2)
    assert result["top1_accuracy"] == 0.5


def test_parity_with_relevance_labels(rerank_model: Path, rerank_test_file: Path, artifact_cache: Path) -> None:
    from onnx_pipelines.eval_data import ColumnMapping
    from onnx_pipelines.parity import evaluate_parity

    report = evaluate_parity(
        rerank_model, "rerank", rerank_test_file, variants=["fp32"], limit=4, cache_dir=artifact_cache,
        columns=ColumnMapping(text="query", text_pair="texts", label="relevance"),
    )
    (fp32,) = report.variants
    assert fp32.passed, [c.message for c in fp32.checks]
    assert fp32.agreement == 1.0
    metrics = {m.name: m for m in fp32.metrics}
    assert set(metrics) == {"ndcg@10", "mrr", "top1_accuracy", "kendall_tau"}
    assert metrics["kendall_tau"].value == pytest.approx(1.0)
    for name in ("ndcg@10", "mrr", "top1_accuracy"):
        assert metrics[name].value == pytest.approx(report.reference.metrics[name], abs=1e-9)
    assert report.reference.metrics["mrr"] > 0.8  # the reranker finds each headline's own article
    assert fp32.outputs[0].name == "scores" and fp32.outputs[0].max_abs_diff < 1e-4


def test_predict_and_bench_drive_the_task_from_the_registry(
    ranker: Any, rerank_model: Path, artifact_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from transformers import pipeline

    from onnx_pipelines.benchmark.tasks import get_bench_task
    from onnx_pipelines.cli import main

    query, passage = "Striker scores twice in final", "The striker scored twice in the cup final."
    assert main(["predict", str(rerank_model), "--task", "rerank", "--text", query, "--text-pair", passage,
                 "--cache-dir", str(artifact_cache)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["output"]["score"] == pytest.approx(float(ranker.predict([(query, passage)])[0]), abs=1e-6)

    driver = get_bench_task("rerank")
    texts = [passage, "The central bank raised interest rates."]
    ours = driver.call(ranker, texts, 2, 512, {"question": query})
    reference = driver.call(pipeline("text-classification", model=str(rerank_model), device="cpu"), texts, 2, 512,
                            {"question": query})
    assert [driver.label(o) for o in ours] == [driver.label(r) for r in reference] == ["relevant", "not relevant"]
    assert [o["score"] for o in ours] == pytest.approx([r["score"] for r in reference], abs=1e-4)
