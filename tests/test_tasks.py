import pytest

from onnx_pipelines.errors import UnsupportedTaskError
from onnx_pipelines.tasks import TASKS, get_task, infer_task, supported_tasks


def test_every_task_resolves_its_classes():
    for spec in TASKS.values():
        assert spec.load_ort_class().__name__ == spec.ort_model_class
        assert spec.load_torch_class().__name__ == spec.torch_model_class
        assert spec.load_pipeline_class().__name__ == spec.pipeline_class.rsplit(".", 1)[1]


def test_unknown_task_lists_supported_ones():
    with pytest.raises(UnsupportedTaskError) as info:
        get_task("image-captioning")
    for name in supported_tasks():
        assert name in str(info.value)
    assert isinstance(info.value, ValueError)


def test_aliases_and_case():
    assert get_task("Sentiment-Analysis").name == "text-classification"
    with pytest.raises(UnsupportedTaskError, match="must be a string"):
        get_task(None)


def test_infer_task_from_architectures():
    assert infer_task({"architectures": ["BertForSequenceClassification"]}).name == "text-classification"
    assert infer_task({"architectures": ["BertModel"]}).name == "sentence-embeddings"
