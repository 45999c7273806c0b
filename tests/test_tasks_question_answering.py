"""question-answering: PyTorch vs ONNX on a seeded QA head over the real all-MiniLM-L6-v2 weights.

No fine-tuned extractive QA checkpoint is available offline, so the head (``qa_outputs``) is initialised
with a fixed seed: the answers are not meaningful, but tokenization, windowing of long contexts
(``doc_stride``), the exported graph and span decoding are exercised exactly as with a trained model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer, BertForQuestionAnswering, pipeline
from transformers.pipelines.question_answering import SquadExample

from onnx_pipelines.cli import main
from onnx_pipelines.errors import InvalidConfigError, InvalidInputError
from onnx_pipelines.pipeline import load_pipeline
from onnx_pipelines.pipelines.base import raw_outputs
from onnx_pipelines.pipelines.question_answering import answer_each

CONTEXT = "The striker scored twice in the second half, and the club's chairman praised the young coach."
LONG_CONTEXT = " ".join(
    f"In round {i} the visiting team from Leeds drew with the hosts, and the referee sent off {i} players."
    for i in range(1, 31)
)
QUESTIONS = [
    {"question": "Who scored?", "context": CONTEXT},
    {"question": "Who praised the coach?", "context": CONTEXT},
    {"question": "Where was the visiting team from?", "context": LONG_CONTEXT},
]


@pytest.fixture(scope="session")
def qa_onnx(qa_model_dir: Path, tasks_cache: Path):
    return load_pipeline("question-answering", qa_model_dir, cache_dir=tasks_cache)


@pytest.fixture(scope="session")
def qa_torch(qa_model_dir: Path):
    model = BertForQuestionAnswering.from_pretrained(qa_model_dir).eval()
    return pipeline("question-answering", model=model, tokenizer=AutoTokenizer.from_pretrained(qa_model_dir))


def test_export_validates_start_and_end_logits(qa_onnx) -> None:
    validation = qa_onnx.artifact.manifest["validation"]
    assert validation["output_name"] == "start_logits+end_logits"
    assert validation["max_abs_diff"] < 1e-4


def test_long_context_is_split_into_windows_and_logits_match(qa_onnx, qa_torch) -> None:
    example = SquadExample(None, QUESTIONS[2]["question"], LONG_CONTEXT, None, None, None)
    onnx_rows = raw_outputs(qa_onnx, example, ("start_logits", "end_logits"), doc_stride=64)
    torch_rows = raw_outputs(qa_torch, example, ("start_logits", "end_logits"), doc_stride=64)
    assert len(onnx_rows) == len(torch_rows) >= 2  # the context does not fit one 384-token window
    for onnx_row, torch_row in zip(onnx_rows, torch_rows, strict=True):
        for name in ("start_logits", "end_logits"):
            np.testing.assert_allclose(onnx_row[name], torch_row[name], atol=1e-4, rtol=0)


@pytest.mark.parametrize("doc_stride", [None, 64])
def test_answers_match_pytorch(qa_onnx, qa_torch, doc_stride) -> None:
    kwargs = {"top_k": 3} | ({"doc_stride": doc_stride} if doc_stride else {})
    onnx_answers = qa_onnx(QUESTIONS, **kwargs)
    torch_answers = qa_torch(QUESTIONS, **kwargs)
    for onnx_top, torch_top, example in zip(onnx_answers, torch_answers, QUESTIONS, strict=True):
        assert [(a["start"], a["end"], a["answer"]) for a in onnx_top] == [
            (a["start"], a["end"], a["answer"]) for a in torch_top
        ]
        np.testing.assert_allclose([a["score"] for a in onnx_top], [a["score"] for a in torch_top], atol=1e-5)
        assert all(example["context"][a["start"]:a["end"]] == a["answer"] for a in onnx_top)


def test_keyword_and_positional_calls_agree(qa_onnx) -> None:
    by_keywords = qa_onnx(question="Who scored?", context=CONTEXT)
    assert by_keywords == qa_onnx({"question": "Who scored?", "context": CONTEXT})
    assert by_keywords == qa_onnx("Who scored?", CONTEXT)
    shared = qa_onnx(question=["Who scored?", "Who praised the coach?"], context=CONTEXT)
    assert len(shared) == 2 and shared[0] == by_keywords


def test_int8_dynamic_gives_spans_of_the_context(qa_model_dir: Path, tasks_cache: Path, qa_torch) -> None:
    # The span head is seeded, not trained (its span choice is noise the int8 guard would chase): the pipeline
    # is checked on the plain int8 recipe; the guard is tested on trained models in tests/test_int8_guard.py.
    qa_int8 = load_pipeline("question-answering", qa_model_dir, quantize="dynamic-plain", cache_dir=tasks_cache)
    answers = qa_int8(QUESTIONS)
    assert all(e["context"][a["start"]:a["end"]] == a["answer"] for a, e in zip(answers, QUESTIONS, strict=True))


def test_a_list_of_one_question_gets_a_list_of_one_answer(qa_onnx, qa_torch, qa_model_dir: Path,
                                                         tasks_cache: Path, capsys) -> None:
    """The pipeline class owns the call convention, so no caller unwraps (transformers' own pipeline does)."""
    single = qa_onnx(QUESTIONS[0])
    assert isinstance(single, dict)
    assert qa_onnx([QUESTIONS[0]]) == [single]
    assert qa_onnx(question=["Who scored?"], context=CONTEXT) == [single]
    assert qa_onnx(question="Who scored?", context=[CONTEXT]) == [single]
    top_two = qa_onnx([QUESTIONS[0]], top_k=2)
    assert len(top_two) == 1 and [a["answer"] for a in top_two[0]] == [a["answer"] for a in qa_onnx(QUESTIONS[0],
                                                                                                     top_k=2)]
    assert isinstance(qa_torch([QUESTIONS[0]]), dict), "transformers unwraps a list of one"
    for pipe in (qa_torch, qa_onnx):  # answer_each gives plain transformers pipelines the same convention
        assert [a["answer"] for a in answer_each(pipe, ["Who scored?"], [CONTEXT])] == [single["answer"]]

    code = main(["predict", str(qa_model_dir), "--task", "question-answering", "--cache-dir", str(tasks_cache),
                 "--question", "Who scored?", "--context", CONTEXT])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 1 and lines[0]["output"]["answer"] == single["answer"]


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((), {"context": CONTEXT}, InvalidInputError),
        ((), {"question": "Who scored?", "context": ""}, InvalidInputError),
        (({"context": CONTEXT},), {}, InvalidInputError),
        (({"question": "Who?", "context": "   "},), {}, InvalidInputError),
        ((), {"question": ["a?", "b?"], "context": [CONTEXT] * 3}, InvalidInputError),
        (([],), {}, InvalidInputError),
        (("Who scored?",), {}, InvalidInputError),
        ((QUESTIONS[0],), {"doc_stride": 400}, InvalidConfigError),
        ((QUESTIONS[0],), {"top_k": 0}, InvalidConfigError),
    ],
)
def test_bad_inputs_raise_clear_errors(qa_onnx, args, kwargs, error) -> None:
    with pytest.raises(error):
        qa_onnx(*args, **kwargs)


def test_predict_cli_answers_questions(qa_onnx, qa_model_dir: Path, tasks_cache: Path, capsys) -> None:
    code = main(["predict", str(qa_model_dir), "--task", "question-answering", "--cache-dir", str(tasks_cache),
                 "--question", "Who scored?", "--question", "Who praised the coach?", "--context", CONTEXT])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["question"] for line in lines] == ["Who scored?", "Who praised the coach?"]
    assert lines[0]["output"]["answer"] == qa_onnx(question="Who scored?", context=CONTEXT)["answer"]


def test_predict_cli_rejects_missing_context(qa_model_dir: Path, tasks_cache: Path, capsys) -> None:
    code = main(["predict", str(qa_model_dir), "--task", "question-answering", "--cache-dir", str(tasks_cache),
                 "--question", "Who scored?"])
    assert code == 2
    assert "context" in capsys.readouterr().err


def test_served_at_answer_like_the_pipeline(qa_onnx) -> None:
    pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'onnx-pipelines[serve]'")
    from fastapi.testclient import TestClient

    from onnx_pipelines.serving import create_app_from_pipeline

    app = create_app_from_pipeline(qa_onnx, "question-answering", model_name="qa-seeded")
    with TestClient(app) as client:
        many = client.post("/answer", json={"inputs": QUESTIONS, "top_k": 2})
        one = client.post("/answer", json={"inputs": QUESTIONS[0]})
        missing = client.post("/answer", json={"inputs": {"question": "Who scored?"}})
        empty = client.post("/answer", json={"inputs": {"question": "Who scored?", "context": " "}})
    assert many.status_code == 200, many.text
    expected = qa_onnx(QUESTIONS, top_k=2)
    assert [[a["answer"] for a in answers] for answers in many.json()] == [[a["answer"] for a in e] for e in expected]
    assert one.json()[0]["answer"] == qa_onnx(QUESTIONS[0])["answer"]
    assert missing.status_code == 422 and empty.status_code == 400  # schema error; invalid input


@pytest.fixture(scope="session")
def qa_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [
        {"question": "Who scored?", "context": CONTEXT, "answers": {"text": ["The striker"], "answer_start": [0]}},
        {"question": "Who praised the coach?", "context": CONTEXT,
         "answers": {"text": ["the club's chairman"], "answer_start": [CONTEXT.index("the club's")]}},
        {"question": "Where was the visiting team from?", "context": LONG_CONTEXT,
         "answers": {"text": ["Leeds"], "answer_start": [LONG_CONTEXT.index("Leeds")]}},
    ]
    path = tmp_path_factory.mktemp("qa-data") / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_parity_compares_start_end_logits_answers_and_squad(qa_model_dir: Path, tasks_cache: Path,
                                                            qa_dataset: Path, qa_torch) -> None:
    from onnx_pipelines.eval_data import ColumnMapping
    from onnx_pipelines.metrics import load_metric
    from onnx_pipelines.parity import evaluate_parity

    columns = ColumnMapping(question="question", context="context", answers="answers", label=None)
    report = evaluate_parity(qa_model_dir, "question-answering", qa_dataset, variants="fp32", columns=columns,
                             require_labels=True, cache_dir=tasks_cache, task_options={"doc_stride": 64})
    (fp32,) = report.variants
    assert [o.name for o in fp32.outputs] == ["start_logits", "end_logits"]
    assert all(o.max_abs_diff is not None and o.max_abs_diff < 1e-4 for o in fp32.outputs)
    assert fp32.agreement == 1.0 and fp32.passed
    # The reference's SQuAD scores are those of the PyTorch pipeline's own answers (same windows and decoding).
    rows = [json.loads(line) for line in qa_dataset.read_text().splitlines()]
    answers = qa_torch([{"question": r["question"], "context": r["context"]} for r in rows], doc_stride=64,
                       align_to_words=False)
    squad = load_metric("squad").compute(
        predictions=[{"id": str(i), "prediction_text": a["answer"]} for i, a in enumerate(answers)],
        references=[{"id": str(i), "answers": r["answers"]} for i, r in enumerate(rows)])
    assert report.reference.metrics["f1"] == pytest.approx(squad["f1"] / 100)
    assert report.reference.metrics["exact_match"] == pytest.approx(squad["exact_match"] / 100)


def test_parity_needs_gold_answers_on_every_row(qa_model_dir: Path, tasks_cache: Path, tmp_path: Path) -> None:
    from onnx_pipelines.errors import DatasetError
    from onnx_pipelines.eval_data import ColumnMapping
    from onnx_pipelines.parity import evaluate_parity

    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"question": "Who?", "context": CONTEXT, "answers": {"text": [], "answer_start": []}})
                    + "\n")
    columns = ColumnMapping(question="question", context="context", answers="answers", label=None)
    with pytest.raises(DatasetError, match="gold answers"):
        evaluate_parity(qa_model_dir, "question-answering", data, variants="fp32", columns=columns,
                        require_labels=True, cache_dir=tasks_cache)
    empty_context = tmp_path / "empty.jsonl"
    empty_context.write_text(json.dumps({"question": "Who?", "context": ""}) + "\n")
    with pytest.raises(DatasetError, match="context"):
        evaluate_parity(qa_model_dir, "question-answering", empty_context, variants="fp32",
                        columns=ColumnMapping(question="question", context="context", label=None),
                        cache_dir=tasks_cache)


def test_bench_driver_asks_one_question_of_every_text(qa_onnx) -> None:
    from onnx_pipelines.benchmark.tasks import get_bench_task

    spec = get_bench_task("question-answering")
    texts = [CONTEXT, LONG_CONTEXT, "The coach praised the striker."]
    options = {"question": "Who scored?"}
    default = [spec.label(o) for o in spec.call(qa_onnx, texts, 4, 384, options)]
    expected = [qa_onnx(question="Who scored?", context=t)["answer"] for t in texts]
    assert default == expected
    assert [spec.label(o) for o in spec.run_dataset(qa_onnx, texts, batch_size=2, max_tokens=512, max_length=384,
                                                    options=options)] == expected
    assert spec.label(spec.call(qa_onnx, [CONTEXT], 1, 384, options)[0]) == expected[0]
