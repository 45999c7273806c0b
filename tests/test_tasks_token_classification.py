"""token-classification (NER) on the real CoNLL model: PyTorch vs ONNX for every aggregation strategy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

from onnx_pipelines.errors import InvalidConfigError, InvalidInputError
from onnx_pipelines.pipeline import load_pipeline
from onnx_pipelines.pipelines.base import raw_outputs
from onnx_pipelines.pipelines.token_classification import AGGREGATION_STRATEGIES, tag_words

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
NER_MODEL = SHARED / "models" / "conll-ner-minilm"
CONLL_TEST = SHARED / "data" / "conll-sample" / "test.jsonl"
TEXTS = [
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday.",
    "EU rejects German call to boycott British lamb.",
    "Manchester United signed a striker from Real Madrid, Reuters reported.",
]


@pytest.fixture(scope="session")
def conll() -> tuple[list[list[str]], list[list[str]]]:
    if not CONLL_TEST.is_file():
        pytest.skip(f"shared CoNLL sample not found at {CONLL_TEST}")
    labels = json.loads((NER_MODEL / "config.json").read_text())["id2label"]
    rows = [json.loads(line) for line in CONLL_TEST.read_text().splitlines() if line.strip()]
    return [r["tokens"] for r in rows], [[labels[str(t)] for t in r["ner_tags"]] for r in rows]


@pytest.fixture(scope="session")
def ner_fp32(tasks_cache: Path):
    return load_pipeline("token-classification", NER_MODEL, cache_dir=tasks_cache)


@pytest.fixture(scope="session")
def ner_torch():
    model = AutoModelForTokenClassification.from_pretrained(NER_MODEL).eval()
    return pipeline("token-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(NER_MODEL))


@pytest.fixture(scope="session")
def torch_tags(ner_torch, conll) -> list[list[str]]:
    return tag_words(ner_torch, conll[0], batch_size=16)


def _entities(output: list[dict]) -> list[tuple]:
    return [(e.get("entity_group", e.get("entity")), e["start"], e["end"], e["word"]) for e in output]


def test_export_is_validated_against_pytorch(ner_fp32) -> None:
    validation = ner_fp32.artifact.manifest["validation"]
    assert validation["output_name"] == "logits"
    assert validation["max_abs_diff"] < 1e-4


def test_token_logits_match_pytorch_on_conll(ner_fp32, ner_torch, conll) -> None:
    sentences, _ = conll
    worst = 0.0
    for words in sentences[:6]:
        text = " ".join(words)
        (onnx_row,) = raw_outputs(ner_fp32, text, ("logits",), is_split_into_words=False)
        (torch_row,) = raw_outputs(ner_torch, text, ("logits",), is_split_into_words=False)
        mask = torch_row["attention_mask"]
        np.testing.assert_array_equal(onnx_row["logits"][mask].argmax(-1), torch_row["logits"][mask].argmax(-1))
        worst = max(worst, float(np.abs(onnx_row["logits"][mask] - torch_row["logits"][mask]).max()))
    assert worst < 1e-4


@pytest.mark.parametrize("strategy", AGGREGATION_STRATEGIES)
def test_every_aggregation_strategy_matches_pytorch(ner_fp32, ner_torch, strategy: str) -> None:
    onnx_out = ner_fp32(TEXTS, aggregation_strategy=strategy)
    torch_out = ner_torch(TEXTS, aggregation_strategy=strategy)
    assert [_entities(o) for o in onnx_out] == [_entities(t) for t in torch_out]
    scores = [(e["score"], r["score"]) for o, t in zip(onnx_out, torch_out, strict=True)
              for e, r in zip(o, t, strict=True)]
    assert scores and max(abs(float(a) - float(b)) for a, b in scores) < 1e-4
    if strategy != "none":  # grouped output: whole entities, e.g. a two-word person
        assert ("PER", 0, 13, "angela merkel") in _entities(onnx_out[0])


def test_word_tags_score_like_pytorch_with_seqeval(ner_fp32, torch_tags, conll) -> None:
    from seqeval.metrics import f1_score

    sentences, gold = conll
    onnx_tags = tag_words(ner_fp32, sentences, batch_size=16)
    assert onnx_tags == torch_tags
    assert [len(t) for t in onnx_tags] == [len(s) for s in sentences]
    accuracy = np.mean([p == g for ps, gs in zip(onnx_tags, gold, strict=True) for p, g in zip(ps, gs, strict=True)])
    assert accuracy > 0.95  # the model card reports 97.0% token accuracy (first sub-token)
    assert f1_score(gold, onnx_tags) == pytest.approx(f1_score(gold, torch_tags))
    assert f1_score(gold, onnx_tags) > 0.5


def test_stride_covers_texts_longer_than_the_window(ner_fp32, ner_torch) -> None:
    long_text = " ".join(["Angela Merkel visited Paris."] * 90)  # ~630 tokens: two windows
    assert len(ner_fp32.tokenizer(long_text)["input_ids"]) > 512
    onnx_out = ner_fp32(long_text, aggregation_strategy="first", stride=64)
    torch_out = ner_torch(long_text, aggregation_strategy="first", stride=64)
    assert _entities(onnx_out) == _entities(torch_out)
    assert max(e["end"] for e in onnx_out) > len(long_text) - 10  # entities found in the last window too


def test_int8_dynamic_agrees_on_most_word_tags(tasks_cache: Path, torch_tags, conll) -> None:
    ner_int8 = load_pipeline("token-classification", NER_MODEL, quantize="dynamic", cache_dir=tasks_cache)
    assert ner_int8.variant == "int8-dynamic"
    sentences, _ = conll
    int8_tags = tag_words(ner_int8, sentences, batch_size=16)
    agreement = np.mean([a == b for xs, ys in zip(int8_tags, torch_tags, strict=True)
                         for a, b in zip(xs, ys, strict=True)])
    assert agreement > 0.9  # int8 is judged by agreement, not by tolerance (measured in docs/tasks.md)


@pytest.mark.parametrize(
    ("inputs", "kwargs", "error"),
    [
        ("", {}, InvalidInputError),
        (None, {}, InvalidInputError),
        ([["EU", ""]], {"is_split_into_words": True}, InvalidInputError),
        ("EU", {"is_split_into_words": True}, InvalidInputError),
        ("EU rejects", {"aggregation_strategy": "longest"}, InvalidConfigError),
        ("EU rejects", {"aggregation_strategy": "none", "stride": 16}, InvalidConfigError),
        ("EU rejects", {"aggregation_strategy": "first", "stride": 600}, InvalidConfigError),
    ],
)
def test_bad_inputs_raise_clear_errors(ner_fp32, inputs, kwargs, error) -> None:
    with pytest.raises(error):
        ner_fp32(inputs, **kwargs)


def test_parity_cli_reports_entities_logits_and_seqeval(tasks_cache: Path, conll, tmp_path: Path, capsys) -> None:
    from onnx_pipelines.cli import main

    code = main(["parity", str(NER_MODEL), "--task", "token-classification", "--dataset", str(CONLL_TEST),
                 "--tokens-column", "tokens", "--tags-column", "ner_tags", "--variants", "fp32,int8-dynamic",
                 "--cache-dir", str(tasks_cache), "--report-dir", str(tmp_path), "--quiet"])
    report = json.loads((tmp_path / "parity.json").read_text())
    fp32, int8 = report["variants"]
    assert fp32["outputs"][0]["name"] == "logits" and fp32["outputs"][0]["max_abs_diff"] < 1e-4
    assert fp32["agreement"] == 1.0  # every sentence: the same entities (spans and types) as PyTorch
    from seqeval.metrics import f1_score

    sentences, gold = conll
    reference_f1 = report["reference"]["metrics"]["entity_f1"]
    assert reference_f1 == pytest.approx(f1_score(gold, tag_words(load_pipeline(
        "token-classification", NER_MODEL, cache_dir=tasks_cache), sentences)))
    assert int8["agreement"] > 0.9  # measured 0.978 (1 sentence of 46 differs); see docs/tasks.md
    assert code == (0 if all(v["passed"] for v in report["variants"]) else 1)
    assert "entity_f1" in capsys.readouterr().out


def test_parity_rejects_rows_whose_words_and_tags_differ(tmp_path: Path) -> None:
    from onnx_pipelines.errors import DatasetError
    from onnx_pipelines.eval_data import ColumnMapping
    from onnx_pipelines.parity import evaluate_parity

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"tokens": ["EU", "rejects"], "ner_tags": [3]}) + "\n")
    with pytest.raises(DatasetError, match="one tag"):
        evaluate_parity(NER_MODEL, "token-classification", bad, require_labels=True,
                        columns=ColumnMapping(tokens="tokens", tags="ner_tags"), cache_dir=tmp_path)


def test_bench_driver_labels_entities_in_input_order(ner_fp32) -> None:
    from onnx_pipelines.benchmark.tasks import get_bench_task

    spec = get_bench_task("token-classification")
    texts = [TEXTS[0], "Short.", TEXTS[2]]  # lengths out of order: length-aware batching reorders them
    default = [spec.label(o) for o in spec.call(ner_fp32, texts, 8, 128, {})]
    length_aware = [spec.label(o) for o in spec.run_dataset(ner_fp32, texts, batch_size=2, max_tokens=64,
                                                            max_length=128, options={})]
    assert default == length_aware
    assert default[0].startswith("PER:0-13") and default[1] == ""
