import json
import shutil

import pytest

from onnx_pipelines.errors import ExportError, TaskMismatchError, UnsupportedArchitectureError
from onnx_pipelines.export import check_exportable, export_model, validate_against_torch
from onnx_pipelines.model_source import resolve_model
from onnx_pipelines.tasks import get_task


def test_export_and_validate_tiny_model(tmp_path, tiny_classifier):
    source = resolve_model(tiny_classifier)
    task = get_task("text-classification")
    onnx_path = export_model(source, task, tmp_path)
    result = validate_against_torch(source, task, onnx_path)
    assert result.passed and result.max_abs_diff < 1e-4 and result.num_texts == 7


def test_validation_failure_is_an_error_with_numbers(tmp_path, tiny_classifier):
    """An export whose weights differ from the PyTorch model must be rejected, not warned about."""
    import torch
    from transformers import BertForSequenceClassification

    task = get_task("text-classification")
    onnx_path = export_model(resolve_model(tiny_classifier), task, tmp_path / "onnx")
    other = tmp_path / "other"
    shutil.copytree(tiny_classifier, other)
    model = BertForSequenceClassification.from_pretrained(other)
    with torch.no_grad():
        model.classifier.bias += 0.5
    model.save_pretrained(other)
    with pytest.raises(ExportError, match=r"max \|diff\| of logits = 0\.5"):
        validate_against_torch(resolve_model(other), task, onnx_path)


def test_head_that_does_not_fit_the_task(conll_model):
    with pytest.raises(TaskMismatchError, match="BertForTokenClassification") as info:
        check_exportable(resolve_model(conll_model), get_task("text-classification"))
    assert "sentence-embeddings" in str(info.value)


def test_unsupported_architecture(tmp_path, tiny_classifier):
    shutil.copytree(tiny_classifier, tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["model_type"] = "my-private-arch"
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedArchitectureError, match="my-private-arch"):
        check_exportable(resolve_model(tmp_path / "m"), get_task("text-classification"))
