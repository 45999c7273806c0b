"""The task registry: every task is data that resolves to real classes, and checks run before export."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
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


@pytest.mark.parametrize("name", sorted(TASKS))
def test_each_entry_names_the_endpoint_bench_driver_and_adapter_of_its_task(name: str) -> None:
    """The registry is the one table: what serving, the benchmark, parity and predict use comes from it."""
    from onnx_pipelines.benchmark.tasks import BenchTask, get_bench_task
    from onnx_pipelines.parity.adapters import TaskAdapter, get_adapter
    from onnx_pipelines.tasks import load_object

    spec = TASKS[name]
    assert isinstance(get_adapter(name), TaskAdapter) and spec.parity_adapter is not None
    assert isinstance(load_object(spec.parity_adapter)(), TaskAdapter)
    if spec.bench_driver is not None:
        options = {option: ["sport", "politics"] for option in spec.required_options}
        assert isinstance(get_bench_task(name, options), BenchTask)
    if spec.endpoint is not None and importlib.util.find_spec("pydantic") is not None:
        from onnx_pipelines.serving.tasks import Endpoint, get_endpoint

        assert isinstance(get_endpoint(name), Endpoint)
    assert set(spec.required_options) <= set(spec.call_options) <= set(spec.cli_options)


def test_an_entry_without_a_bench_driver_or_adapter_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from onnx_pipelines.benchmark.tasks import bench_tasks, get_bench_task
    from onnx_pipelines.errors import InvalidConfigError
    from onnx_pipelines.parity.adapters import get_adapter, parity_tasks

    with pytest.raises(InvalidConfigError, match="bench measures text-classification, token-classification"):
        get_bench_task("sentence-embeddings")
    with pytest.raises(InvalidConfigError, match="--candidate-labels"):
        get_bench_task("zero-shot-classification", {})
    with pytest.raises(UnsupportedTaskError, match="Supported tasks: feature-extraction"):
        get_bench_task("summarization")
    monkeypatch.setitem(TASKS, "feature-extraction",
                        dataclasses.replace(TASKS["feature-extraction"], bench_driver=None, parity_adapter=None))
    assert "feature-extraction" not in bench_tasks() and "feature-extraction" not in parity_tasks()
    with pytest.raises(UnsupportedTaskError, match="no adapter for task 'feature-extraction'"):
        get_adapter("feature-extraction")
    with pytest.raises(ValueError, match="required_options"):
        dataclasses.replace(TASKS["zero-shot-classification"], call_options=())


def test_importing_the_registry_imports_no_heavy_library() -> None:
    """The registry names serving/benchmark/parity code by dotted path, so reading it stays instant."""
    heavy = ("torch", "transformers", "optimum", "onnxruntime", "fastapi", "pydantic")
    code = (f"import sys, onnx_pipelines.tasks as t; [s.cli_options for s in t.TASKS.values()]; "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


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
