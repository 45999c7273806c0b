"""zero-shot-classification: PyTorch vs ONNX with a seeded NLI head on the real all-MiniLM-L6-v2 weights.

No NLI checkpoint is available offline: the head is a ``BertForSequenceClassification`` with labels
contradiction / neutral / entailment, initialised with a fixed seed. Its scores carry no meaning, but
the pair construction, the entailment-logit read-out and the exported graph are the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer, BertForSequenceClassification, pipeline

from onnx_pipelines.cli import main
from onnx_pipelines.errors import InvalidInputError, InvalidModelError
from onnx_pipelines.pipeline import load_pipeline
from onnx_pipelines.pipelines.base import raw_outputs
from onnx_pipelines.pipelines.zero_shot import entailment_index

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

TEXTS = ["Shares rose sharply after the bank reported record profits.", "The striker scored twice."]
LABELS = ["business", "sport", "politics"]


@pytest.fixture(scope="session")
def zs_onnx(nli_model_dir: Path, tasks_cache: Path):
    return load_pipeline("zero-shot-classification", nli_model_dir, cache_dir=tasks_cache)


@pytest.fixture(scope="session")
def zs_torch(nli_model_dir: Path):
    model = BertForSequenceClassification.from_pretrained(nli_model_dir).eval()
    return pipeline("zero-shot-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(nli_model_dir))


def test_entailment_label_is_found_in_id2label(zs_onnx) -> None:
    assert zs_onnx.entailment_id == 2
    assert entailment_index({"0": "ENTAILMENT", "1": "not_entailment"}) == 0


@pytest.mark.parametrize("multi_label", [False, True])
def test_scores_match_pytorch(zs_onnx, zs_torch, multi_label: bool) -> None:
    onnx_out = zs_onnx(TEXTS, candidate_labels=LABELS, multi_label=multi_label)
    torch_out = zs_torch(TEXTS, candidate_labels=LABELS, multi_label=multi_label)
    for onnx_row, torch_row in zip(onnx_out, torch_out, strict=True):
        assert onnx_row["labels"] == torch_row["labels"]
        np.testing.assert_allclose(onnx_row["scores"], torch_row["scores"], atol=1e-5)
        if not multi_label:
            assert sum(onnx_row["scores"]) == pytest.approx(1.0, abs=1e-5)


def test_nli_logits_match_pytorch_within_1e4(zs_onnx, zs_torch) -> None:
    kwargs = {"candidate_labels": LABELS, "hypothesis_template": "This example is {}."}
    onnx_rows = raw_outputs(zs_onnx, TEXTS[0], ("logits",), **kwargs)
    torch_rows = raw_outputs(zs_torch, TEXTS[0], ("logits",), **kwargs)
    assert len(onnx_rows) == len(LABELS)  # one premise/hypothesis pair per candidate label
    np.testing.assert_allclose(np.stack([r["logits"] for r in onnx_rows]),
                               np.stack([r["logits"] for r in torch_rows]), atol=1e-4, rtol=0)


def test_int8_dynamic_scores_every_label(nli_model_dir: Path, tasks_cache: Path) -> None:
    # The NLI head is seeded, not trained: its near-tied logits make the int8 guard's top-1 measure noise, so
    # this checks the pipeline on the plain int8 recipe (the guard is tested on trained models in
    # tests/test_int8_guard.py).
    zs_int8 = load_pipeline("zero-shot-classification", nli_model_dir, quantize="dynamic-plain", cache_dir=tasks_cache)
    out = zs_int8(TEXTS[0], candidate_labels=LABELS)
    assert sorted(out["labels"]) == sorted(LABELS)
    assert sum(out["scores"]) == pytest.approx(1.0, abs=1e-5)


def test_model_without_entailment_label_is_rejected(tasks_cache: Path) -> None:
    bbc = SHARED / "models" / "bbc-news-minilm"
    if not bbc.is_dir():
        pytest.skip(f"shared model not found at {bbc}")
    with pytest.raises(InvalidModelError, match="entailment"):
        load_pipeline("zero-shot-classification", bbc, cache_dir=tasks_cache)


@pytest.mark.parametrize(
    ("inputs", "kwargs"),
    [
        (TEXTS[0], {}),
        (TEXTS[0], {"candidate_labels": []}),
        (TEXTS[0], {"candidate_labels": ["sport", ""]}),
        (TEXTS[0], {"candidate_labels": ["sport", "sport"]}),
        (TEXTS[0], {"candidate_labels": LABELS, "hypothesis_template": "This example is about sport."}),
        ("", {"candidate_labels": LABELS}),
        ([], {"candidate_labels": LABELS}),
    ],
)
def test_bad_inputs_raise_clear_errors(zs_onnx, inputs, kwargs) -> None:
    with pytest.raises(InvalidInputError):
        zs_onnx(inputs, **kwargs)


def test_predict_cli_takes_candidate_labels(zs_onnx, nli_model_dir: Path, tasks_cache: Path, capsys) -> None:
    code = main(["predict", str(nli_model_dir), "--task", "zero-shot-classification", "--cache-dir",
                 str(tasks_cache), "--candidate-labels", "business, sport, politics", "--text", TEXTS[0]])
    assert code == 0
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = zs_onnx(TEXTS[0], candidate_labels=LABELS)
    assert line["output"]["labels"] == expected["labels"]


def test_predict_cli_requires_candidate_labels(nli_model_dir: Path, tasks_cache: Path, capsys) -> None:
    code = main(["predict", str(nli_model_dir), "--task", "zero-shot-classification", "--text", TEXTS[0],
                 "--cache-dir", str(tasks_cache)])
    assert code == 2
    assert "--candidate-labels" in capsys.readouterr().err


def test_served_at_zero_shot_like_the_pipeline(zs_onnx) -> None:
    pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'onnx-pipelines[serve]'")
    from fastapi.testclient import TestClient

    from onnx_pipelines.serving import create_app_from_pipeline

    app = create_app_from_pipeline(zs_onnx, "zero-shot-classification", model_name="nli-seeded")
    with TestClient(app) as client:
        many = client.post("/zero-shot", json={"inputs": TEXTS, "candidate_labels": LABELS})
        one = client.post("/zero-shot", json={"inputs": TEXTS[0], "candidate_labels": LABELS[:2]})
        no_labels = client.post("/zero-shot", json={"inputs": TEXTS[0]})
        bad_template = client.post("/zero-shot", json={"inputs": TEXTS[0], "candidate_labels": LABELS,
                                                       "hypothesis_template": "No placeholder."})
    assert many.status_code == 200, many.text
    expected = zs_onnx(TEXTS, candidate_labels=LABELS)
    assert [[r["label"] for r in row] for row in many.json()] == [e["labels"] for e in expected]
    assert [r["label"] for r in one.json()] == zs_onnx(TEXTS[0], candidate_labels=LABELS[:2])["labels"]
    assert no_labels.status_code == 422 and bad_template.status_code == 400  # schema error; invalid input


def test_parity_compares_nli_logits_and_label_agreement(nli_model_dir: Path, tasks_cache: Path, zs_torch,
                                                        tmp_path: Path) -> None:
    from onnx_pipelines.errors import InvalidConfigError
    from onnx_pipelines.parity import evaluate_parity

    data = tmp_path / "zs.jsonl"
    gold = ["business", "sport"]
    data.write_text("".join(json.dumps({"text": t, "label": g}) + "\n" for t, g in zip(TEXTS, gold, strict=True)))
    report = evaluate_parity(nli_model_dir, "zero-shot-classification", data, variants="fp32",
                             cache_dir=tasks_cache, task_options={"candidate_labels": ",".join(LABELS)})
    (fp32,) = report.variants
    assert fp32.outputs[0].name == "logits" and fp32.outputs[0].max_abs_diff < 1e-4
    assert fp32.agreement == 1.0 and fp32.passed
    expected = zs_torch(TEXTS, candidate_labels=LABELS)  # the reference predicts what the PyTorch pipeline does
    accuracy = sum(e["labels"][0] == g for e, g in zip(expected, gold, strict=True)) / len(gold)
    assert report.reference.metrics["accuracy"] == pytest.approx(accuracy)
    with pytest.raises(InvalidConfigError, match="candidate"):
        evaluate_parity(nli_model_dir, "zero-shot-classification", data, variants="fp32", cache_dir=tasks_cache)


def test_bench_drives_zero_shot_end_to_end(nli_model_dir: Path, tasks_cache: Path, tmp_path: Path, capsys) -> None:
    base = ["bench", str(nli_model_dir), "--task", "zero-shot", "--cache-dir", str(tasks_cache)]
    assert main([*base, "--quick"]) == 2  # refused before anything is built
    assert "--candidate-labels" in capsys.readouterr().err
    data = tmp_path / "texts.jsonl"
    gold = ["business", "sport"]
    data.write_text("".join(json.dumps({"text": t, "label_name": g}) + "\n" for t, g in zip(TEXTS, gold, strict=True)))
    code = main([*base, "--candidate-labels", ",".join(LABELS), "--dataset", str(data), "--label-column",
                 "label_name", "--no-baselines", "--variants", "fp32", "--seq-lens", "16", "--batch-sizes", "1",
                 "--batch-seq-len", "16", "--rounds", "1", "--repeats", "2", "--dataset-rounds", "1",
                 "--output", str(tmp_path / "bench")])
    assert code == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "bench" / "results.json").read_text())["summary"]
    (fp32,) = results["candidates"]
    assert results["task_options"]["candidate_labels"] == ",".join(LABELS)
    expected = [o["labels"][0] for o in load_pipeline("zero-shot-classification", nli_model_dir,
                                                      cache_dir=tasks_cache)(TEXTS, candidate_labels=LABELS)]
    accuracy = sum(e == g for e, g in zip(expected, gold, strict=True)) / len(gold)
    assert {e["mode"]: e["accuracy"] for e in fp32["dataset"]} == {"default": accuracy, "length-aware": accuracy}
