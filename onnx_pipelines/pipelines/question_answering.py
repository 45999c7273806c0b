"""Extractive question answering on an ONNX Runtime model.

Contexts longer than the model's window are split by transformers into overlapping windows
(``max_seq_len`` tokens, ``doc_stride`` tokens shared by neighbours) and the best span over all windows
wins, exactly as with the PyTorch pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import QuestionAnsweringPipeline
from transformers.pipelines.question_answering import SquadExample

from onnx_pipelines.errors import InvalidConfigError, InvalidInputError
from onnx_pipelines.pipelines.base import OnnxPipelineMixin

QA_FIELDS: tuple[str, str] = ("question", "context")


class OnnxQuestionAnsweringPipeline(OnnxPipelineMixin, QuestionAnsweringPipeline):
    """transformers' ``QuestionAnsweringPipeline`` with clear errors for missing or empty inputs.

    Accepted inputs: ``question=`` and ``context=`` keywords (strings, or lists of equal length, or a list
    of questions on one context), a ``{"question", "context"}`` dict, a list of such dicts, or
    ``(question, context)`` as two positional strings. Options are transformers': ``top_k``,
    ``doc_stride`` (default ``min(max_seq_len // 2, 128)``), ``max_seq_len`` (default 384),
    ``max_answer_len``, ``handle_impossible_answer``.

    A single question (strings, one dict, two positional strings) gets its answer; a list of questions
    (even a list of one) gets a list with one entry per question: transformers unwraps a list of one,
    this class does not, so callers never have to.

    Example:
        >>> qa = load_pipeline("question-answering", "path/to/qa-model")  # doctest: +SKIP
        >>> qa(question="Who scored?", context="The striker scored twice.")  # doctest: +SKIP
        {'score': 0.91, 'start': 0, 'end': 12, 'answer': 'The striker'}
    """

    def _sanitize_parameters(  # type: ignore[override]
        self, doc_stride: int | None = None, max_seq_len: int | None = None, **kwargs: Any
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        for name, value in (("doc_stride", doc_stride), ("max_seq_len", max_seq_len)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise InvalidConfigError(f"{name}={value!r} must be a positive int (a number of tokens).")
        if doc_stride is not None:
            window = max_seq_len or min(int(getattr(self.tokenizer, "model_max_length", 384)), 384)
            if doc_stride >= window:
                raise InvalidConfigError(
                    f"doc_stride={doc_stride} must be smaller than max_seq_len ({window}): it is the overlap "
                    "between neighbouring windows of a long context."
                )
        try:
            return super()._sanitize_parameters(doc_stride=doc_stride, max_seq_len=max_seq_len, **kwargs)
        except ValueError as e:  # top_k < 1, max_answer_len < 1
            raise InvalidConfigError(f"Invalid question-answering option: {e}") from e

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        examples = qa_examples(args, kwargs)
        batch = _is_batch(args, kwargs)
        kwargs.pop("question", None)
        kwargs.pop("context", None)
        # Keywords, not positional examples: transformers deprecates the latter with a FutureWarning.
        answers = super().__call__(question=[e["question"] for e in examples],
                                   context=[e["context"] for e in examples], **kwargs)
        return [answers] if batch and len(examples) == 1 else answers  # transformers unwraps a list of one


def answer_each(pipe: Any, questions: list[str], contexts: list[str], **kwargs: Any) -> list[Any]:
    """Run any question-answering pipeline on lists of questions and contexts; one entry per question.

    Our pipeline class already answers a list with a list. transformers' own pipeline answers a list of
    one as if it were a single question (its answer, or its ``top_k`` answers, unwrapped): this puts that
    answer back in a list of one. For code that also drives plain transformers pipelines (the benchmark's
    PyTorch baseline, the server's development backend).
    """
    answers = pipe(question=questions, context=contexts, **kwargs)
    if len(questions) == 1 and not isinstance(pipe, OnnxQuestionAnsweringPipeline):
        return [answers]
    return list(answers)


def _is_batch(args: Sequence[Any], kwargs: dict[str, Any]) -> bool:
    """Whether the call passed a list of questions (keywords or positional), not a single one."""
    if "question" in kwargs or "context" in kwargs:
        return any(not isinstance(kwargs.get(k), str) for k in QA_FIELDS)
    return len(args) == 1 and not isinstance(args[0], (dict, SquadExample))


def qa_examples(args: Sequence[Any], kwargs: dict[str, Any]) -> list[dict[str, str]]:
    """Check question-answering call arguments and return them as ``{"question", "context"}`` dicts.

    Raises:
        InvalidInputError: If a question or context is missing, empty, not a string, or questions and
            contexts differ in number.
    """
    if "question" in kwargs or "context" in kwargs:
        if args:
            raise InvalidInputError("Pass question/context either as keywords or positionally, not both.")
        return _from_keywords(kwargs.get("question"), kwargs.get("context"))
    if len(args) == 2 and all(isinstance(a, str) for a in args):
        return [_check_example({"question": args[0], "context": args[1]}, "The input")]
    if len(args) != 1:
        raise InvalidInputError(
            "No question given: call qa(question=..., context=...), qa({'question': ..., 'context': ...}) "
            "or qa([{...}, {...}])."
        )
    inputs = args[0]
    if isinstance(inputs, (dict, SquadExample)):
        return [_check_example(inputs, "The input")]
    if isinstance(inputs, Sequence) and not isinstance(inputs, str) and inputs:
        return [_check_example(item, f"inputs[{i}]") for i, item in enumerate(inputs)]
    raise InvalidInputError(
        f"Question answering takes {{'question': ..., 'context': ...}} dicts (or question=/context= keywords), "
        f"not {type(inputs).__name__}{' (empty)' if isinstance(inputs, Sequence) else ''}."
    )


def _from_keywords(question: Any, context: Any) -> list[dict[str, str]]:
    if question is None or context is None:
        missing = "question" if question is None else "context"
        raise InvalidInputError(f"No {missing} given: pass both question=... and context=....")
    if isinstance(question, str):
        question = [question]
    if isinstance(context, str):
        context = [context] * len(question)
    if not isinstance(question, Sequence) or not isinstance(context, Sequence):
        raise InvalidInputError("question= and context= must be strings or lists of strings.")
    if len(question) != len(context) or not question:
        raise InvalidInputError(
            f"{len(question)} questions for {len(context)} contexts: pass one context per question, "
            "or one context shared by all questions."
        )
    return [_check_example({"question": q, "context": c}, f"inputs[{i}]")
            for i, (q, c) in enumerate(zip(question, context, strict=True))]


def _check_example(item: Any, where: str) -> dict[str, str]:
    if isinstance(item, SquadExample):
        item = {"question": item.question_text, "context": item.context_text}
    if not isinstance(item, dict):
        raise InvalidInputError(f"{where} is a {type(item).__name__}; pass {{'question': ..., 'context': ...}}.")
    example = {}
    for field in QA_FIELDS:
        value = item.get(field)
        if value is None:
            raise InvalidInputError(f"{where} has no {field!r}: each example needs a question and a context.")
        if not isinstance(value, str):
            raise InvalidInputError(f"{where}[{field!r}] is a {type(value).__name__}, not a string.")
        if not value.strip():
            raise InvalidInputError(f"{where}[{field!r}] is empty: pass a non-empty {field}.")
        example[field] = value
    unknown = set(item) - set(QA_FIELDS)
    if unknown:
        raise InvalidInputError(f"{where} has unknown keys {sorted(unknown)}; use only 'question' and 'context'.")
    return example
