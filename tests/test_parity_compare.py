"""Numeric comparison, limits per precision, checks, adapters' predictions and the adapter registry."""

from __future__ import annotations

import numpy as np
import pytest

from onnx_pipelines.config import Variant
from onnx_pipelines.errors import InvalidConfigError, ParityError, UnsupportedTaskError
from onnx_pipelines.parity import ADAPTERS, TaskAdapter, Thresholds, compare_outputs, get_adapter, register_adapter
from onnx_pipelines.parity.adapters.sentence_embeddings import SentenceEmbeddingsAdapter
from onnx_pipelines.parity.adapters.text_classification import TextClassificationAdapter
from onnx_pipelines.parity.report import MetricResult
from onnx_pipelines.parity.scoring import build_checks
from onnx_pipelines.parity.thresholds import resolve_thresholds, variant_precision


def test_compare_outputs_statistics() -> None:
    reference = [np.array([1.0, -2.0, 4.0]), np.array([0.5, 0.5]), np.array([3.0])]
    candidate = [np.array([1.0, -2.0, 4.0]), np.array([0.5, 0.75]), np.array([2.0])]
    result = compare_outputs("logits", reference, candidate)
    assert result.examples == 3 and result.nonfinite_values == 0
    assert result.max_abs_diff == 1.0 and result.worst_example == 2
    assert result.mean_abs_diff == pytest.approx(1.25 / 6)
    assert result.max_rel_diff == pytest.approx(0.5)  # example 1: |0.75-0.5| / 0.5 beats example 2: 1 / 3
    assert result.histogram.zeros == 1 and sum(result.histogram.counts) == 2
    assert result.cosine_min is None


def test_nan_and_inf_are_counted_and_void_the_differences() -> None:
    reference = [np.zeros(4), np.ones(4)]
    candidate = [np.array([0.0, np.nan, 0.0, np.inf]), np.ones(4)]
    result = compare_outputs("logits", reference, candidate, cosine=True)
    assert result.nonfinite_values == 2 and not result.finite
    assert result.max_abs_diff is None and result.mean_abs_diff is None and result.cosine_min is None
    assert result.histogram.nonfinite == 1 and result.histogram.zeros == 1


def test_cosine_for_vectors() -> None:
    reference = [np.array([1.0, 0.0]), np.array([1.0, 1.0])]
    candidate = [np.array([1.0, 0.0]), np.array([1.0, 0.0])]
    result = compare_outputs("sentence_embedding", reference, candidate, cosine=True)
    assert result.cosine_min == pytest.approx(np.sqrt(0.5))
    assert result.cosine_mean == pytest.approx((1 + np.sqrt(0.5)) / 2)


def test_shape_mismatch_is_a_parity_error() -> None:
    with pytest.raises(ParityError, match="shape"):
        compare_outputs("logits", [np.zeros(5)], [np.zeros(4)])


def test_precision_defaults_and_overrides() -> None:
    assert variant_precision(Variant.parse("O2")) == "fp32"
    assert variant_precision(Variant.parse("O3")) == "fp32-approx"
    assert variant_precision(Variant.parse("O2+int8-static")) == "int8"
    assert resolve_thresholds("fp32") == Thresholds(atol=1e-4, min_agreement=1.0, max_metric_drop=0.0)
    assert resolve_thresholds("fp32-approx").atol == 5e-3  # GELU approximation measured at 1.3e-3
    user = Thresholds(atol=1e-3, min_agreement=0.99, max_metric_drop=None)
    assert resolve_thresholds("fp32", user) == Thresholds(atol=1e-3, min_agreement=0.99, max_metric_drop=0.0)
    int8 = resolve_thresholds("int8", user)
    assert int8.atol is None and int8.min_agreement == 0.99 and int8.max_metric_drop == 1.0
    with pytest.raises(InvalidConfigError, match="between 0 and 1"):
        Thresholds(min_agreement=97)
    with pytest.raises(InvalidConfigError, match="atol=-1"):
        Thresholds(atol=-1)


def test_checks_gate_atol_agreement_and_metric_drop() -> None:
    output = compare_outputs("logits", [np.zeros(3)], [np.full(3, 2e-4)])
    drop = [MetricResult("accuracy", 0.95, 0.97, -2.0)]
    checks = {c.name: c for c in build_checks([output], 0.96, drop, resolve_thresholds("fp32"))}
    assert [checks[n].passed for n in ("finite", "atol", "agreement", "metric_drop")] == [True, False, False, False]
    assert checks["metric_drop"].value == 2.0 and "accuracy -2.00 points" in checks["metric_drop"].message
    int8 = {c.name: c for c in build_checks([output], 0.97, [MetricResult("accuracy", 0.96, 0.97, -1.0)],
                                            resolve_thresholds("int8"))}
    assert "atol" not in int8 and int8["agreement"].passed and int8["metric_drop"].passed


def test_classification_predictions_and_margins() -> None:
    logits = [{"logits": np.array([2.0, 0.0, 0.0])}, {"logits": np.array([0.0, 1.0, 1.0 - 1e-3])}]
    predictions = TextClassificationAdapter().predict(logits, ctx=None)  # type: ignore[arg-type]
    assert predictions.labels == [0, 1]
    assert predictions.margins[0] == pytest.approx((np.exp(2) - 1) / (np.exp(2) + 2)) and predictions.margins[1] < 1e-3
    assert predictions.scores[0] == pytest.approx(np.exp(2) / (np.exp(2) + 2))


def test_embedding_predictions_are_nearest_neighbours() -> None:
    vectors = [np.array([1.0, 0.0]), np.array([0.9, 0.1]), np.array([0.0, 1.0]), np.array([0.1, 0.9])]
    predictions = SentenceEmbeddingsAdapter().predict([{"sentence_embedding": v} for v in vectors], ctx=None)  # type: ignore[arg-type]
    assert predictions is not None and predictions.labels == [1, 0, 3, 2]
    assert SentenceEmbeddingsAdapter().predict([{"sentence_embedding": vectors[0]}], ctx=None) is None  # type: ignore[arg-type]


def test_registry_lists_parity_tasks_and_accepts_new_adapters() -> None:
    assert isinstance(get_adapter("sentiment-analysis"), TextClassificationAdapter)  # aliases resolve
    with pytest.raises(UnsupportedTaskError, match="Unknown task 'translation'"):
        get_adapter("translation")

    class ReversedLogits(TextClassificationAdapter):
        pass

    saved = dict(ADAPTERS)
    try:
        register_adapter("text-classification", ReversedLogits)
        assert isinstance(get_adapter("text-classification"), ReversedLogits)
    finally:
        ADAPTERS.clear()
        ADAPTERS.update(saved)
    assert issubclass(type(get_adapter("sentence-embeddings")), TaskAdapter)


def test_adapter_example_in_docs_runs() -> None:
    """docs/parity.md's adapter example registers a working adapter whose primary metric is weighted F1."""
    from pathlib import Path

    from onnx_pipelines.metrics import load_metric
    from onnx_pipelines.parity.adapters import Predictions
    from onnx_pipelines.parity.scoring import metric_values

    doc = (Path(__file__).resolve().parents[1] / "docs" / "parity.md").read_text()
    blocks = [b.split("```", 1)[0] for b in doc.split("```python\n")[1:]]
    example = next(b for b in blocks if "register_adapter" in b)
    saved = dict(ADAPTERS)
    try:
        exec(compile(example, "docs/parity.md", "exec"), {})
        adapter = get_adapter("text-classification")
        assert type(adapter).__name__ == "WeightedF1Classification"
        assert [m.name for m in adapter.metrics] == ["weighted_f1", "accuracy", "macro_f1"]
        modules = {m.metric: load_metric(m.metric) for m in adapter.metrics}
        predictions = Predictions(labels=[0, 1, 1, 2], margins=np.zeros(4), scores=np.ones(4))
        values = metric_values(adapter.metrics, modules, predictions, [0, 1, 2, 2])
        assert values["accuracy"] == 0.75 and 0 < values["weighted_f1"] < 1
    finally:
        ADAPTERS.clear()
        ADAPTERS.update(saved)
