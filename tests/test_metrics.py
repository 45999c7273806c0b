"""Tests of onnx_pipelines.metrics: bundled evaluate metrics that load offline."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import seqeval.metrics
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from onnx_pipelines.errors import InvalidConfigError, InvalidInputError
from onnx_pipelines.metrics import BUNDLED_METRICS, load_metric
from tests.fresh_process import REPO_ROOT, run_fresh_python

METRICS_DIR = REPO_ROOT / "onnx_pipelines" / "metrics"

Tags = list[list[str]]  # one list of IOB tags per sentence


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def bbc_labels(shared_dir: Path) -> tuple[list[int], list[int]]:
    """(references, predictions): the BBC News test labels, and a copy with every 7th one wrong."""
    references = [row["label"] for row in _read_jsonl(shared_dir / "data" / "bbc-news" / "test.jsonl")]
    predictions = [(label + 1) % 5 if i % 7 == 0 else label for i, label in enumerate(references)]
    return references, predictions


@pytest.fixture(scope="module")
def conll_tags(shared_dir: Path) -> tuple[Tags, Tags]:
    """(references, predictions): CoNLL test tags as strings, and a copy with some entities broken."""
    config = json.loads((shared_dir / "models" / "conll-ner-minilm" / "config.json").read_text())
    id2label = {int(i): label for i, label in config["id2label"].items()}
    rows = _read_jsonl(shared_dir / "data" / "conll-sample" / "test.jsonl")
    references = [[id2label[tag] for tag in row["ner_tags"]] for row in rows]
    predictions = []
    for i, tags in enumerate(references):
        tags = list(tags)
        if i % 3 == 0:  # retype the first entity of every third sentence
            first = next((j for j, tag in enumerate(tags) if tag.startswith("B-")), None)
            if first is not None:
                tags[first] = "B-MISC" if tags[first] != "B-MISC" else "B-PER"
        if i % 4 == 1:  # invent an entity on the last token
            tags[-1] = "B-ORG"
        predictions.append(tags)
    return references, predictions


def test_bundled_metric_names_match_the_scripts_shipped_as_package_data() -> None:
    scripts = {path.parent.name for path in METRICS_DIR.glob("*/*.py")}
    assert scripts == set(BUNDLED_METRICS)
    for name in BUNDLED_METRICS:
        assert (METRICS_DIR / name / f"{name}.py").is_file()
    assert '"metrics/*/*.py"' in (REPO_ROOT / "pyproject.toml").read_text()


def test_accuracy_equals_sklearn_on_bbc_labels(bbc_labels: tuple[list[int], list[int]]) -> None:
    references, predictions = bbc_labels
    result = load_metric("accuracy").compute(predictions=predictions, references=references)
    assert result == {"accuracy": pytest.approx(accuracy_score(references, predictions), abs=1e-12)}
    assert 0.8 < result["accuracy"] < 0.9  # the perturbation really changed 1 in 7 labels


@pytest.mark.parametrize(
    ("name", "sklearn_fn"), [("f1", f1_score), ("precision", precision_score), ("recall", recall_score)]
)
@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_averaged_scores_equal_sklearn_on_bbc_labels(
    bbc_labels: tuple[list[int], list[int]], name: str, sklearn_fn: Any, average: str
) -> None:
    references, predictions = bbc_labels
    result = load_metric(name).compute(predictions=predictions, references=references, average=average)
    assert result == {name: pytest.approx(sklearn_fn(references, predictions, average=average), abs=1e-12)}


def test_f1_per_label_and_binary_default_equal_sklearn(bbc_labels: tuple[list[int], list[int]]) -> None:
    references, predictions = bbc_labels
    f1 = load_metric("f1")
    per_label = f1.compute(predictions=predictions, references=references, average=None)["f1"]
    assert per_label == pytest.approx(list(f1_score(references, predictions, average=None)), abs=1e-12)
    assert len(per_label) == 5
    # The default average is "binary", as on the Hub: score "is it business (label 0)?".
    binary_refs = [int(label == 0) for label in references]
    binary_preds = [int(label == 0) for label in predictions]
    result = f1.compute(predictions=binary_preds, references=binary_refs)
    assert result == {"f1": pytest.approx(f1_score(binary_refs, binary_preds), abs=1e-12)}


def test_multilabel_config_takes_lists_of_ids() -> None:
    references = [[1, 0, 1], [0, 1, 0], [1, 1, 0]]
    predictions = [[1, 0, 0], [0, 1, 0], [1, 1, 1]]
    result = load_metric("f1", config_name="multilabel").compute(
        predictions=predictions, references=references, average="micro"
    )
    assert result == {"f1": pytest.approx(f1_score(references, predictions, average="micro"), abs=1e-12)}


def test_seqeval_equals_seqeval_on_conll_tags(conll_tags: tuple[Tags, Tags]) -> None:
    references, predictions = conll_tags
    result = load_metric("seqeval").compute(predictions=predictions, references=references)
    assert result["overall_precision"] == pytest.approx(
        seqeval.metrics.precision_score(references, predictions)
    )
    assert result["overall_recall"] == pytest.approx(seqeval.metrics.recall_score(references, predictions))
    assert result["overall_f1"] == pytest.approx(seqeval.metrics.f1_score(references, predictions))
    assert result["overall_accuracy"] == pytest.approx(
        seqeval.metrics.accuracy_score(references, predictions)
    )
    assert 0.5 < result["overall_f1"] < 0.95  # the perturbation really broke some entities
    report = seqeval.metrics.classification_report(references, predictions, output_dict=True)
    for entity_type in ("LOC", "MISC", "ORG", "PER"):
        expected = report[entity_type]
        assert result[entity_type] == {
            "precision": pytest.approx(expected["precision"]),
            "recall": pytest.approx(expected["recall"]),
            "f1": pytest.approx(expected["f1-score"]),
            "number": int(expected["support"]),
        }
    assert set(result) == {"LOC", "MISC", "ORG", "PER"} | {
        f"overall_{key}" for key in ("precision", "recall", "f1", "accuracy")
    }


def test_seqeval_strict_scheme_and_unknown_scheme(conll_tags: tuple[Tags, Tags]) -> None:
    from seqeval.scheme import IOB2

    references, predictions = conll_tags
    metric = load_metric("seqeval")
    result = metric.compute(predictions=predictions, references=references, scheme="IOB2", mode="strict")
    expected = seqeval.metrics.f1_score(references, predictions, scheme=IOB2, mode="strict")
    assert result["overall_f1"] == pytest.approx(expected)
    with pytest.raises(InvalidConfigError, match="IOB3.*IOB2"):
        metric.compute(predictions=predictions, references=references, scheme="IOB3")


def _squad_inputs(cases: list[tuple[str, list[str]]]) -> dict[str, list[dict[str, Any]]]:
    return {
        "predictions": [{"id": str(i), "prediction_text": pred} for i, (pred, _) in enumerate(cases)],
        "references": [
            {"id": str(i), "answers": {"text": golds, "answer_start": [0] * len(golds)}}
            for i, (_, golds) in enumerate(cases)
        ],
    }


def test_squad_exact_match_and_f1_on_known_examples() -> None:
    squad = load_metric("squad")
    cases = [
        ("the Eiffel Tower", ["Eiffel Tower"]),  # article dropped: EM 1, F1 1
        ("Paris, France", ["Paris"]),  # 1 of 2 predicted tokens right: EM 0, F1 2/3
        ("1976", ["in 1975", "1976."]),  # best gold answer counts, punctuation dropped: EM 1, F1 1
        ("blue", ["red"]),  # EM 0, F1 0
    ]
    result = squad.compute(**_squad_inputs(cases))
    assert result == {"exact_match": pytest.approx(50.0), "f1": pytest.approx(100 * (1 + 2 / 3 + 1 + 0) / 4)}

    single = squad.compute(**_squad_inputs([("Denver Broncos", ["Broncos of Denver"])]))
    # tokens {denver, broncos} vs {broncos, of, denver}: precision 1, recall 2/3, F1 0.8
    assert single == {"exact_match": 0.0, "f1": pytest.approx(80.0)}


def test_squad_reference_without_prediction_scores_zero() -> None:
    inputs = _squad_inputs([("Paris", ["Paris"]), ("Rome", ["Rome"])])
    inputs["predictions"][1]["id"] = "not-a-reference"
    result = load_metric("squad").compute(**inputs)
    assert result == {"exact_match": 50.0, "f1": 50.0}


def test_squad_rejects_no_references_and_references_without_answers() -> None:
    squad = load_metric("squad")
    with pytest.raises(InvalidInputError, match="no references"):
        squad.compute(predictions=[], references=[])
    with pytest.raises(InvalidInputError, match="Reference '0' has no gold answer"):
        squad.compute(**_squad_inputs([("Paris", [])]))


def _refuse_network(*args: object, **kwargs: object) -> None:
    raise OSError("network access blocked by the test")


def test_unknown_metric_offline_raises_invalid_config_listing_bundled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _refuse_network)
    monkeypatch.setattr(socket, "create_connection", _refuse_network)
    monkeypatch.setattr(socket.socket, "connect", _refuse_network)
    with pytest.raises(InvalidConfigError) as excinfo:
        load_metric("no_such_metric_for_onnx_pipelines")
    message = str(excinfo.value)
    assert "'no_such_metric_for_onnx_pipelines' could not be loaded" in message
    assert "offline" in message
    assert "accuracy, f1, precision, ranking, recall, seqeval, squad" in message
    assert excinfo.value.__cause__ is not None


def test_local_script_path_is_passed_to_evaluate_load() -> None:
    metric = load_metric(str(METRICS_DIR / "accuracy"))
    assert metric.compute(predictions=[1, 0], references=[1, 1]) == {"accuracy": 0.5}


_FRESH_PROCESS_SCRIPT = """
import json, socket, sys

attempts = []

def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("network access blocked by the test")

socket.getaddrinfo = refuse
socket.create_connection = refuse
socket.socket.connect = refuse

from onnx_pipelines.metrics import BUNDLED_METRICS, load_metric

inputs = {
    "accuracy": ([0, 1, 1], [0, 1, 0]),
    "f1": ([0, 1, 1], [0, 1, 0]),
    "precision": ([0, 1, 1], [0, 1, 0]),
    "recall": ([0, 1, 1], [0, 1, 0]),
    "ranking": ([[0.9, 0.1, 0.5]], [[1.0, 0.0, 0.0]]),
    "seqeval": ([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]]),
    "squad": (
        [{"id": "q", "prediction_text": "the cat"}],
        [{"id": "q", "answers": {"text": ["cat"], "answer_start": [4]}}],
    ),
}
results = {}
for name in BUNDLED_METRICS:
    predictions, references = inputs[name]
    results[name] = load_metric(name).compute(predictions=predictions, references=references)
print(json.dumps({"attempts": attempts, "results": results}))
"""


@pytest.mark.parametrize("hub_offline", [True, False], ids=["HF_HUB_OFFLINE=1", "HF_HUB_OFFLINE-unset"])
def test_bundled_metrics_load_in_a_fresh_process_without_network(tmp_path: Path, hub_offline: bool) -> None:
    completed = run_fresh_python(_FRESH_PROCESS_SCRIPT, tmp_path, hub_offline=hub_offline)
    assert completed.returncode == 0, completed.stderr
    output = json.loads(completed.stdout.strip().splitlines()[-1])
    assert output["attempts"] == []
    results = output["results"]
    assert results["accuracy"] == {"accuracy": pytest.approx(2 / 3)}
    assert results["f1"] == {"f1": pytest.approx(2 / 3)}
    assert results["precision"] == {"precision": pytest.approx(0.5)}
    assert results["recall"] == {"recall": pytest.approx(1.0)}
    assert results["seqeval"]["overall_f1"] == pytest.approx(1.0)
    assert results["ranking"]["mrr"] == pytest.approx(1.0)  # the relevant passage is scored first
    assert results["squad"] == {"exact_match": 100.0, "f1": 100.0}
    # evaluate copied the scripts into the fresh modules cache (HF_HOME/modules)
    assert (tmp_path / "hf-home" / "modules" / "evaluate_modules" / "metrics" / "squad").is_dir()
