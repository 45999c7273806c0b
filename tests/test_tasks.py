"""The task registry: every task is data that resolves to real classes, and checks run before export."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer, Pipeline
from transformers.pipelines import SUPPORTED_TASKS

from onnx_pipelines.errors import InvalidModelError, TaskMismatchError, UnsupportedTaskError
from onnx_pipelines.export import VALIDATION_INPUTS, check_head, validation_batches
from onnx_pipelines.tasks import TASKS, VALIDATION_INPUT_KINDS, TaskSpec, get_task, infer_task, supported_tasks

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
NEW_TASKS = ("token-classification", "question-answering", "zero-shot-classification", "feature-extraction")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_resolves_to_real_classes(name: str) -> None:
    spec = TASKS[name]
    assert spec.load_ort_class().__name__ == spec.ort_model_class
    assert spec.load_torch_class().__name__ == spec.torch_model_class
    assert spec.pipeline_task in SUPPORTED_TASKS
    # The new tasks keep transformers' behaviour: their classes subclass transformers' own pipelines.
    base = SUPPORTED_TASKS[spec.pipeline_task]["impl"] if name in NEW_TASKS else Pipeline
    assert issubclass(spec.load_pipeline_class(), base)
    assert spec.output_names[0] == spec.output_name
    assert set(spec.validation_inputs) <= set(VALIDATION_INPUTS)


def test_new_tasks_are_registered_with_aliases() -> None:
    assert set(NEW_TASKS) <= set(supported_tasks())
    assert get_task("NER").name == "token-classification"
    assert get_task("zero-shot").name == "zero-shot-classification"
    assert get_task("question-answering").output_names == ("start_logits", "end_logits")
    assert get_task("Sentiment-Analysis").name == "text-classification"


def test_unknown_task_lists_every_supported_one() -> None:
    with pytest.raises(UnsupportedTaskError) as info:
        get_task("summarization")
    for name in supported_tasks():
        assert name in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnsupportedTaskError, match="must be a string"):
        get_task(None)  # type: ignore[arg-type]


def test_validation_kinds_are_checked() -> None:
    assert set(VALIDATION_INPUT_KINDS) == set(VALIDATION_INPUTS)
    fields = {k: v for k, v in vars(TASKS["text-classification"]).items()}
    with pytest.raises(ValueError, match="validation_inputs"):
        TaskSpec(**{**fields, "validation_inputs": ("images",)})


@pytest.mark.parametrize(
    ("architecture", "task"),
    [
        ("BertForTokenClassification", "token-classification"),
        ("BertForQuestionAnswering", "question-answering"),
        ("BertForSequenceClassification", "text-classification"),
        ("BertModel", "sentence-embeddings"),
    ],
)
def test_infer_task_from_the_head(architecture: str, task: str) -> None:
    assert infer_task({"architectures": [architecture]}).name == task


def test_head_mismatch_names_the_tasks_that_fit() -> None:
    config = {"architectures": ["BertForTokenClassification"], "id2label": {"0": "O"}}
    with pytest.raises(TaskMismatchError, match="token-classification") as info:
        check_head(config, get_task("question-answering"), Path("ner"))
    assert "zero-shot" not in str(info.value)


def test_zero_shot_without_entailment_label_fails_before_export() -> None:
    config = {"architectures": ["BertForSequenceClassification"], "id2label": {"0": "business", "1": "sport"}}
    with pytest.raises(InvalidModelError, match="entailment"):
        check_head(config, get_task("zero-shot-classification"), Path("bbc"))
    check_head({**config, "id2label": {"0": "contradiction", "1": "entailment"}},
               get_task("zero-shot-classification"), Path("nli"))


def test_question_context_validation_keeps_the_question_whole() -> None:
    tokenizer = AutoTokenizer.from_pretrained(SHARED / "models" / "bbc-news-minilm")
    (batch,) = validation_batches(tokenizer, kinds=("question-context",))
    assert batch["input_ids"].shape[1] == 384  # the long context is cut to the QA window
    longest = batch["attention_mask"].sum(1).argmax()
    segments = batch["token_type_ids"][longest]
    assert segments[1:].tolist().count(0) >= 3  # question tokens kept (segment 0), context truncated
    assert validation_batches(tokenizer, with_pairs=True)[1]["token_type_ids"].max() == 1
