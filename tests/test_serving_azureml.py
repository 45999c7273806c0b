"""The Azure ML scoring script answers like the HTTP server, on the real text classifier."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pydantic", reason="needs the serve extra: pip install 'onnx-pipelines[serve]'")

from onnx_pipelines.serving import azureml_score  # noqa: E402


@pytest.fixture(scope="module")
def scorer(bbc_model: Path, artifact_cache: Path) -> Iterator[object]:
    with pytest.MonkeyPatch.context() as mp:
        # What an Azure ML deployment sets: the registered model's folder, and our variables.
        mp.setenv("AZUREML_MODEL_DIR", str(bbc_model.parent))
        mp.setenv("ONNX_PIPELINES_MODEL_SUBDIR", bbc_model.name)
        mp.setenv("ONNX_PIPELINES_TASK", "text-classification")
        mp.setenv("ONNX_PIPELINES_OPTIMIZE", "O2")
        mp.setenv("ONNX_PIPELINES_QUANTIZE", "dynamic")
        mp.setenv("ONNX_PIPELINES_CACHE_DIR", str(artifact_cache))
        mp.setenv("ONNX_PIPELINES_MAX_INPUT_ITEMS", "3")
        mp.delenv("ONNX_PIPELINES_MODEL", raising=False)
        mp.setattr(azureml_score, "_state", {})
        azureml_score.init()
        yield azureml_score


def test_run_answers_like_the_predict_endpoint(scorer: object) -> None:
    served = azureml_score._state["pipeline"]
    assert served.variant == "O2+int8-dynamic", "the ONNX pipeline named by the environment"
    texts = ["The striker scored twice in the final.", "Shares fell after the profit warning."]
    expected = served(texts, top_k=None, batch_size=len(texts))
    answer = azureml_score.run(json.dumps({"inputs": texts, "top_k": 2}))
    assert [[a["label"] for a in one] for one in answer] == [
        [r["label"] for r in one[:2]] for one in expected
    ]
    single = azureml_score.run(json.dumps({"inputs": texts[0]}))
    assert single[0]["label"] == expected[0][0]["label"] and len(single) == 5


@pytest.mark.parametrize(
    ("raw", "error_type"),
    [
        ('{"inputs": ""}', "invalid_input"),
        ("{not json", "invalid_json"),
        ('{"inputs": 3}', "validation_error"),
        ('{"inputs": ["a", "b", "c", "d"]}', "validation_error"),
        (json.dumps({"inputs": "word " * 600}), "validation_error"),
    ],
)
def test_run_reports_bad_requests(scorer: object, raw: str, error_type: str) -> None:
    answer = azureml_score.run(raw)
    assert set(answer) == {"error", "error_type"} and answer["error_type"] == error_type


def test_init_needs_a_task(monkeypatch: pytest.MonkeyPatch) -> None:
    from onnx_pipelines.errors import InvalidConfigError

    monkeypatch.delenv("ONNX_PIPELINES_TASK", raising=False)
    with pytest.raises(InvalidConfigError, match="ONNX_PIPELINES_TASK"):
        azureml_score.init()
