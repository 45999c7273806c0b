"""Request and response bodies of the HTTP API, shaped like text-embeddings-inference (TEI).

Requests are validated strictly (a number where a string belongs is a 422, not a silent cast) and
unknown fields are refused, so a misspelled option (``"normalise"``) does not pass unnoticed.
Only pydantic is imported here: the Azure ML scoring script reuses these models without FastAPI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from onnx_pipelines.serving.parameters import PROMPT_NAME, TRUNCATION_DIRECTION, Fixed, fold_parameters

#: One input: a text, or a ``[text, text_pair]`` pair (for cross-encoders and NLI-style classifiers).
TextOrPair = StrictStr | tuple[StrictStr, StrictStr]

_JSON_TYPES = {bool: "a boolean", int: "a number", float: "a number", dict: "an object", list: "a list"}


def _json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def _validate_inputs(value: Any, handler: ValidatorFunctionWrapHandler, pairs: bool) -> Any:
    """Validate ``inputs``, replacing pydantic's one-error-per-union-member with one clear message."""
    try:
        return handler(value)
    except ValidationError:
        pass
    allowed = (
        "a text, a list of texts, or a list of [text, text_pair] pairs"
        if pairs
        else "a text or a list of texts"
    )
    found = f"got {_json_type(value)}"
    if isinstance(value, list):
        for i, x in enumerate(value):
            is_pair = isinstance(x, list) and len(x) == 2 and all(isinstance(t, str) for t in x)
            if not (isinstance(x, str) or (pairs and is_pair)):
                found = f"inputs[{i}] is {_json_type(x)}" + (
                    f" of {len(x)} items" if isinstance(x, list) else ""
                )
                break
    raise PydanticCustomError(
        "inputs_type", "must be {allowed}; {found}", {"allowed": allowed, "found": found}
    )


class Body(BaseModel):
    """A request body: unknown fields refused, Hugging Face ``parameters`` folded in (see ``compat_options``)."""

    model_config = ConfigDict(extra="forbid")

    #: What ``parameters`` may hold and what each option becomes (:mod:`onnx_pipelines.serving.parameters`).
    compat_options: ClassVar[Mapping[str, str | Fixed]] = {}
    #: Answer a single text sent with ``parameters`` as a list of one (the Inference API's shape).
    wrap_single_with_parameters: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _fold_parameters(cls, data: Any) -> Any:
        return fold_parameters(data, cls.compat_options, wrap_single=cls.wrap_single_with_parameters)


class TaskRequest(Body):
    """Fields every task endpoint accepts."""

    compat_options: ClassVar[Mapping[str, str | Fixed]] = {
        "truncate": "truncate",
        "truncation_direction": TRUNCATION_DIRECTION,
    }

    truncate: StrictBool = Field(
        False,
        description="Cut inputs longer than the model's maximum length instead of answering 422.",
    )


class PredictRequest(TaskRequest):
    """``POST /predict`` (text-classification)."""

    compat_options: ClassVar[Mapping[str, str | Fixed]] = {
        **TaskRequest.compat_options,
        "top_k": "top_k",
        "function_to_apply": Fixed(
            (None,), "the server answers with the model's own activation (softmax, or sigmoid for multi-label)"
        ),
        "raw_scores": Fixed((False,), "the server answers with probabilities, not logits"),
    }
    wrap_single_with_parameters: ClassVar[bool] = True

    inputs: StrictStr | list[TextOrPair] = Field(
        description="A text, a list of texts, or a list of [text, text_pair] pairs.",
        examples=["Shares rose after the quarterly results.", [["A question?", "A passage."]]],
    )
    top_k: StrictInt | None = Field(
        None, ge=1, description="Return only the k best labels per input; all labels when omitted."
    )

    @field_validator("inputs", mode="wrap")
    @classmethod
    def _inputs(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return _validate_inputs(value, handler, pairs=True)


class TextsRequest(TaskRequest):
    """Body of the endpoints that take plain texts."""

    inputs: StrictStr | list[StrictStr] = Field(
        description="A text or a list of texts.",
        examples=["Shares rose after the quarterly results."],
    )

    @field_validator("inputs", mode="wrap")
    @classmethod
    def _inputs(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return _validate_inputs(value, handler, pairs=False)


class EmbedRequest(TextsRequest):
    """``POST /embed`` (sentence-embeddings)."""

    compat_options: ClassVar[Mapping[str, str | Fixed]] = {
        **TaskRequest.compat_options, "normalize": "normalize", "prompt_name": PROMPT_NAME,
    }

    normalize: StrictBool = Field(
        True,
        description=(
            "L2-normalize the vectors. With false you get what the model returns, which is already "
            "normalized when its sentence-transformers config ends with a Normalize module."
        ),
    )


class EntitiesRequest(TextsRequest):
    """``POST /ner`` (token-classification)."""

    compat_options: ClassVar[Mapping[str, str | Fixed]] = {
        **TaskRequest.compat_options,
        "aggregation_strategy": Fixed(("simple",), 'sub-words are grouped into words with "simple"'),
        "ignore_labels": Fixed((None, ["O"]), 'the server leaves out the "O" (outside) label only'),
        "stride": Fixed((None,), "texts over the model's length are refused (or cut with truncate), not windowed"),
    }


class TokenVectorsRequest(TextsRequest):
    """``POST /embed_all`` (feature-extraction)."""

    compat_options: ClassVar[Mapping[str, str | Fixed]] = {**TaskRequest.compat_options, "prompt_name": PROMPT_NAME}


class QuestionContext(BaseModel):
    """One extractive question-answering input."""

    model_config = ConfigDict(extra="forbid")

    question: StrictStr = Field(examples=["Who scored?"])
    context: StrictStr = Field(examples=["The striker scored twice in the second half."])


class AnswerRequest(TaskRequest):
    """``POST /answer`` (question-answering). Long contexts are split into overlapping windows."""

    inputs: QuestionContext | list[QuestionContext] = Field(
        description="A {question, context} object or a list of them.",
        examples=[{"question": "Who scored?", "context": "The striker scored twice in the second half."}],
    )
    top_k: StrictInt = Field(1, ge=1, le=20, description="Answers per question, best first.")
    truncate: StrictBool = Field(
        True,
        description="Contexts longer than the model's window are split into overlapping windows (doc_stride), "
        "never cut; false refuses them instead (422).",
    )


class ZeroShotRequest(TextsRequest):
    """``POST /zero-shot`` (zero-shot-classification with an NLI model)."""

    candidate_labels: list[StrictStr] = Field(
        min_length=1, max_length=64, description="The labels to choose from.", examples=[["business", "sport"]]
    )
    hypothesis_template: StrictStr = Field(
        "This example is {}.", description="The NLI hypothesis; {} is replaced by each label."
    )
    multi_label: StrictBool = Field(
        False, description="Score each label on its own (entailment vs contradiction) instead of across labels."
    )


class RerankRequest(TaskRequest):
    """``POST /rerank`` (text-ranking): the texts ordered by relevance to the query."""

    query: StrictStr = Field(examples=["What is Deep Learning?"])
    texts: list[StrictStr] = Field(description="The passages to order.", examples=[["Deep Learning is ..."]])
    raw_scores: StrictBool = Field(False, description="Answer the relevance logits instead of their sigmoid.")
    return_text: StrictBool = Field(False, description="Add each passage's text to its entry.")


class Rank(BaseModel):
    """One passage of a reranking: its position in ``texts``, its score, and its text when asked for."""

    index: int
    score: float
    text: str | None = None


class Answer(BaseModel):
    """One answer span of extractive question answering."""

    answer: str
    score: float
    start: int
    end: int


class LabelScore(BaseModel):
    """One label of a classification, with its probability."""

    label: str
    score: float


class Entity(BaseModel):
    """One entity found by token classification (``aggregation_strategy="simple"``)."""

    entity_group: str
    score: float
    word: str
    start: int | None
    end: int | None


class ErrorResponse(BaseModel):
    """Body of every non-2xx answer. ``error_type`` is stable; ``error`` is for humans."""

    error: str
    error_type: str = Field(examples=["validation_error"])


class HealthResponse(BaseModel):
    """Body of a healthy ``GET /health``."""

    status: str = Field(examples=["ok"])


class InfoResponse(BaseModel):
    """``GET /info``: what is served, with which limits and library versions."""

    model: str
    task: str
    variant: str
    endpoint: str
    labels: list[str] | None = None
    max_input_tokens: int | None = None
    limits: dict[str, Any]
    versions: dict[str, str]
