"""The Hugging Face ``parameters`` object folded into the TEI-shaped bodies, and the options fixed at one value."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from onnx_pipelines.serving.parameters import Fixed, fold_parameters
from onnx_pipelines.serving.schemas import EmbedRequest, EntitiesRequest, PredictRequest


def test_parameters_become_body_fields() -> None:
    request = PredictRequest.model_validate({"inputs": ["a", "b"], "parameters": {"top_k": 2, "truncate": True}})
    assert (request.top_k, request.truncate, request.inputs) == (2, True, ["a", "b"])
    embed = EmbedRequest.model_validate({"inputs": "a", "parameters": {"normalize": False}})
    assert embed.normalize is False and embed.inputs == "a"


def test_a_single_text_with_parameters_is_answered_as_a_list_of_one_for_classification() -> None:
    # InferenceClient.text_classification reads answer[0] as the label list, as the Inference API sends it.
    assert PredictRequest.model_validate({"inputs": "a", "parameters": {}}).inputs == ["a"]
    assert PredictRequest.model_validate({"inputs": "a"}).inputs == "a"  # TEI's own shape is unchanged
    assert EntitiesRequest.model_validate({"inputs": "a", "parameters": {}}).inputs == "a"


def test_fixed_options_accept_what_the_server_does_at_the_top_level_and_in_parameters() -> None:
    ok: list[dict[str, Any]] = [
        {"inputs": "a", "truncation_direction": "Right"},
        {"inputs": "a", "parameters": {"truncation_direction": "right", "prompt_name": None}},
        {"inputs": "a", "prompt_name": None, "parameters": None},
    ]
    for body in ok:
        assert EmbedRequest.model_validate(body).inputs == "a"
    assert EntitiesRequest.model_validate({"inputs": "a", "parameters": {"aggregation_strategy": "simple"}})


@pytest.mark.parametrize(
    ("model", "body", "message"),
    [
        (EmbedRequest, {"inputs": "a", "truncation_direction": "left"}, "truncation_direction='left' is not supported"),
        (EmbedRequest, {"inputs": "a", "parameters": {"prompt_name": "query"}}, "applies no sentence-transformers"),
        (PredictRequest, {"inputs": "a", "parameters": {"function_to_apply": "sigmoid"}}, "own activation"),
        (PredictRequest, {"inputs": "a", "raw_scores": True}, "probabilities, not logits"),
        (EntitiesRequest, {"inputs": "a", "parameters": {"aggregation_strategy": "max"}}, '"simple"'),
        (PredictRequest, {"inputs": "a", "parameters": {"normalize": True}}, "does not take; it takes"),
        (PredictRequest, {"inputs": "a", "parameters": [1]}, "must be an object"),
        (PredictRequest, {"inputs": "a", "top_k": 1, "parameters": {"top_k": 2}}, "disagree"),
    ],
)
def test_what_the_server_does_not_do_is_refused_with_the_reason(model: Any, body: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        model.model_validate(body)


def test_fold_parameters_leaves_non_objects_to_the_field_validators() -> None:
    assert fold_parameters(["not", "an", "object"], {"top_k": "top_k"}) == ["not", "an", "object"]
    assert Fixed((None,), "why").accepted == (None,)
