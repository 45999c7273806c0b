"""The serving endpoints as data: endpoints, request bodies, and how requests become pipeline inputs.

These run without a model. The endpoints of tasks the task registry lacks on this branch (question
answering, zero-shot) are served end to end by the tests of branch ``tasks``
(``test_served_at_answer_like_the_pipeline``, ``test_served_at_zero_shot_like_the_pipeline``).
"""

from __future__ import annotations

import pytest

pytest.importorskip("pydantic", reason="needs the serve extra: pip install 'onnx-pipelines[serve]'")
from pydantic import ValidationError  # noqa: E402

from onnx_pipelines.errors import InvalidInputError, UnsupportedTaskError  # noqa: E402
from onnx_pipelines.serving.schemas import AnswerRequest, TaskRequest, ZeroShotRequest  # noqa: E402
from onnx_pipelines.serving.tasks import (  # noqa: E402
    Item,
    _by_options,
    check_items,
    endpoints,
    get_endpoint,
    served_tasks,
)
from onnx_pipelines.tasks import TASKS  # noqa: E402


def test_each_task_has_its_own_endpoint_and_body() -> None:
    paths = [spec.path for spec in endpoints().values()]
    assert len(set(paths)) == len(paths) and all(p.startswith("/") for p in paths)
    assert {"/predict", "/embed", "/ner", "/embed_all", "/answer", "/zero-shot"} <= set(paths)
    for name, spec in endpoints().items():
        assert issubclass(spec.request_model, TaskRequest), name
    with pytest.raises(UnsupportedTaskError, match="question-answering"):
        get_endpoint("summarization")


def test_question_answering_bodies_become_question_context_items() -> None:
    one = AnswerRequest.model_validate({"inputs": {"question": "Who scored?", "context": "Smith scored twice."}})
    many = AnswerRequest.model_validate(
        {"inputs": [{"question": "Who?", "context": "Smith."}, {"question": "When?", "context": "In May."}], "top_k": 3}
    )
    spec = get_endpoint("question-answering")
    assert spec.to_items(one) == [Item("Who scored?", "Smith scored twice.", (("top_k", 1),))]
    assert [(i.text, i.text_pair, i.options) for i in spec.to_items(many)] == [
        ("Who?", "Smith.", (("top_k", 3),)),
        ("When?", "In May.", (("top_k", 3),)),
    ]
    assert one.truncate is True, "long contexts are windowed by default, not refused"
    with pytest.raises(InvalidInputError, match=r"inputs\[0\]"):
        check_items(spec.to_items(AnswerRequest.model_validate({"inputs": {"question": "Who?", "context": " "}})), 8)


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": {"question": "Who?"}},
        {"inputs": {"question": "Who?", "context": "Smith.", "extra": 1}},
        {"inputs": {"question": "Who?", "context": "Smith."}, "top_k": 0},
        {"inputs": {"question": "Who?", "context": "Smith."}, "top_k": 21},
        {"inputs": "Who scored?"},
    ],
)
def test_bad_question_answering_bodies_are_refused(body: dict) -> None:
    with pytest.raises(ValidationError):
        AnswerRequest.model_validate(body)


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": "The striker scored."},
        {"inputs": "The striker scored.", "candidate_labels": []},
        {"inputs": "The striker scored.", "candidate_labels": "sport"},
        {"inputs": "The striker scored.", "candidate_labels": ["sport"], "multi_label": "yes"},
    ],
)
def test_bad_zero_shot_bodies_are_refused(body: dict) -> None:
    with pytest.raises(ValidationError):
        ZeroShotRequest.model_validate(body)


def test_zero_shot_bodies_carry_their_labels_on_each_item() -> None:
    pytest.importorskip(
        "onnx_pipelines.pipelines.zero_shot", reason="the zero-shot pipeline comes with branch `tasks`"
    )
    request = ZeroShotRequest.model_validate({"inputs": ["a", "b"], "candidate_labels": ["sport", "politics"]})
    items = get_endpoint("zero-shot-classification").to_items(request)
    assert [i.text for i in items] == ["a", "b"]
    assert all(dict(i.options)["candidate_labels"] == ("sport", "politics") for i in items)


def test_batch_mates_with_different_options_run_in_separate_calls_and_keep_their_order() -> None:
    items = [Item("a", None, (("k", 1),)), Item("b", None, (("k", 2),)), Item("c", None, (("k", 1),))]
    calls: list[tuple[list[str], dict]] = []

    def run(group: list[Item], options: dict) -> list[str]:
        calls.append(([i.text for i in group], options))
        return [f"{i.text}{options['k']}" for i in group]

    assert _by_options(items, run) == ["a1", "b2", "c1"]
    assert calls == [(["a", "c"], {"k": 1}), (["b"], {"k": 2})]


def test_the_registry_says_which_task_has_which_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    assert served_tasks() == sorted(name for name, spec in TASKS.items() if spec.endpoint)
    assert get_endpoint("ner") is get_endpoint("token-classification"), "aliases reach the same endpoint"
    unserved = dataclasses.replace(TASKS["feature-extraction"], endpoint=None)
    monkeypatch.setitem(TASKS, "feature-extraction", unserved)
    assert "feature-extraction" not in served_tasks()
    with pytest.raises(UnsupportedTaskError, match=r"'feature-extraction' cannot be served; supported tasks: .*"
                                                   r"question-answering"):
        get_endpoint("feature-extraction")
