"""Text pairs for classification (``text`` + ``text_pair``) end to end on the real bbc-news-minilm.

The BBC model was trained on single articles; a pair input is mechanically valid for a BERT classifier
(segment ids 0/1, one [SEP] between), which is what these tests check against PyTorch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

from onnx_pipelines.cli import main
from onnx_pipelines.errors import InvalidInputError
from onnx_pipelines.pipeline import load_pipeline
from onnx_pipelines.pipelines.base import raw_outputs
from tests.session_cache import session_cache

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BBC = SHARED / "models" / "bbc-news-minilm"
PAIRS = [
    {"text": "Who won the match?", "text_pair": "The striker scored twice as United beat City 2-0 at home."},
    {"text": "What happened to the shares?", "text_pair": "Shares rose 5% after the bank reported record profits."},
    {"text": "Is the budget fair?", "text_pair": "Ministers defended the budget in parliament on Tuesday."},
]


@pytest.fixture(scope="session")
def tasks_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_cache(tmp_path_factory)


@pytest.fixture(scope="session")
def clf_onnx(tasks_cache: Path):
    if not BBC.is_dir():
        pytest.skip(f"shared model not found at {BBC}")
    return load_pipeline("text-classification", BBC, cache_dir=tasks_cache)


@pytest.fixture(scope="session")
def clf_torch():
    model = AutoModelForSequenceClassification.from_pretrained(BBC).eval()
    return pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(BBC))


def test_export_was_validated_on_pairs(clf_onnx) -> None:
    validation = clf_onnx.artifact.manifest["validation"]
    assert validation["num_texts"] == 7  # 5 single texts + 2 pairs
    assert validation["max_abs_diff"] < 1e-4


def test_pairs_predict_like_pytorch(clf_onnx, clf_torch) -> None:
    onnx_out = clf_onnx(PAIRS, top_k=None)
    torch_out = clf_torch(PAIRS, top_k=None)
    for onnx_row, torch_row in zip(onnx_out, torch_out, strict=True):
        assert [r["label"] for r in onnx_row] == [r["label"] for r in torch_row]
        np.testing.assert_allclose([r["score"] for r in onnx_row], [r["score"] for r in torch_row], atol=1e-5)


def test_pair_logits_within_1e4_and_segments_are_used(clf_onnx, clf_torch) -> None:
    for pair in PAIRS:
        (onnx_row,) = raw_outputs(clf_onnx, pair, ("logits",))
        (torch_row,) = raw_outputs(clf_torch, pair, ("logits",))
        np.testing.assert_allclose(onnx_row["logits"], torch_row["logits"], atol=1e-4, rtol=0)
    encoded = clf_onnx.tokenizer(**PAIRS[0])
    assert set(encoded["token_type_ids"]) == {0, 1}  # the second text is segment 1
    single = clf_onnx(PAIRS[0]["text"] + " " + PAIRS[0]["text_pair"], top_k=None)
    assert single != clf_onnx(PAIRS[0], top_k=None)  # a pair is not the concatenated text


def test_list_and_dict_pairs_are_the_same_input(clf_onnx) -> None:
    as_lists = [[p["text"], p["text_pair"]] for p in PAIRS]
    assert clf_onnx(as_lists) == clf_onnx(PAIRS)


@pytest.mark.parametrize(
    "inputs",
    [{"text": "a", "pair": "b"}, {"text": "", "text_pair": "b"}, [["a", ""]], [["a", "b", "c"]], {"text_pair": "b"}],
)
def test_bad_pairs_raise_clear_errors(clf_onnx, inputs) -> None:
    with pytest.raises(InvalidInputError):
        clf_onnx(inputs)


def test_predict_cli_text_pair(clf_onnx, tasks_cache: Path, capsys) -> None:
    args = ["predict", str(BBC), "--task", "text-classification", "--cache-dir", str(tasks_cache)]
    for pair in PAIRS[:2]:
        args += ["--text", pair["text"], "--text-pair", pair["text_pair"]]
    assert main(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text_pair"] for line in lines] == [p["text_pair"] for p in PAIRS[:2]]
    assert [line["output"]["label"] for line in lines] == [r["label"] for r in clf_onnx(PAIRS[:2])]


def test_predict_cli_rejects_unmatched_pairs(tasks_cache: Path, capsys) -> None:
    args = ["predict", str(BBC), "--task", "text-classification", "--cache-dir", str(tasks_cache),
            "--text", "a", "--text", "b", "--text-pair", "c"]
    assert main(args) == 2
    assert "--text-pair" in capsys.readouterr().err


def test_parity_uses_the_text_pair_column(tasks_cache: Path, clf_torch, tmp_path: Path) -> None:
    from onnx_pipelines.eval_data import ColumnMapping
    from onnx_pipelines.parity import evaluate_parity

    labels = {v: k for k, v in clf_torch.model.config.id2label.items()}
    data = tmp_path / "pairs.jsonl"
    rows = [{"question": p["text"], "passage": p["text_pair"], "label": labels["sports"]} for p in PAIRS]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    columns = ColumnMapping(text="question", text_pair="passage", label="label")
    report = evaluate_parity(BBC, "text-classification", data, variants="fp32", columns=columns,
                             cache_dir=tasks_cache)
    (fp32,) = report.variants
    assert report.dataset["columns"]["text_pair"] == "passage"
    assert fp32.outputs[0].max_abs_diff < 1e-4 and fp32.agreement == 1.0
    torch_labels = [r["label"] for r in clf_torch(PAIRS)]  # the pair, not the first text alone
    assert report.reference.metrics["accuracy"] == pytest.approx(torch_labels.count("sports") / len(PAIRS))
