"""How serving runs each task: its endpoint, request body, pipeline call and response shape.

Each task's :class:`Endpoint` is defined here, and the task registry (:data:`onnx_pipelines.tasks.TASKS`)
says which task is served by which (``TaskSpec.endpoint``): :func:`get_endpoint` reads it. The app, the
batcher and the Azure ML scoring script use the endpoint and nothing else task-specific.

A task whose inputs are not texts (question answering: question + context) passes its own ``to_items``;
a per-request option the pipeline needs at call time (zero-shot ``candidate_labels``) can travel on
:class:`Item` and be grouped inside ``call``, so the batcher stays task-agnostic. Calls follow the
pipeline classes' convention: a list of inputs in, one output per input out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from onnx_pipelines.errors import InputLimitError, InvalidInputError, UnsupportedTaskError
from onnx_pipelines.pipelines.inputs import Encoded
from onnx_pipelines.serving.schemas import (
    Answer,
    AnswerRequest,
    EmbedRequest,
    EntitiesRequest,
    Entity,
    LabelScore,
    PredictRequest,
    Rank,
    RerankRequest,
    TaskRequest,
    TextsRequest,
    TokenVectorsRequest,
    ZeroShotRequest,
)
from onnx_pipelines.tasks import TASKS, get_task, load_object


@dataclass(frozen=True)
class Item:
    """One input of a request: a text, or a text pair (question answering: question and context).

    ``options`` are per-request call options (zero-shot candidate labels, QA ``top_k``) as sorted,
    hashable ``(name, value)`` pairs; a task's ``call`` runs items with equal options together.
    """

    text: str
    text_pair: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    #: The tokenizer's output that counted this item's tokens, when the pipeline runs it as it is.
    encoding: Encoded | None = field(default=None, compare=False, repr=False)

    def as_pipeline_input(self) -> str | dict[str, str] | Encoded:
        """Return the form the pipeline takes: the item's encoding when it has one (tokenized once), else the
        text, or a ``{"text", "text_pair"}`` dict for a pair."""
        if self.encoding is not None:
            return self.encoding
        if self.text_pair is None:
            return self.text
        return {"text": self.text, "text_pair": self.text_pair}


@dataclass(frozen=True)
class Endpoint:
    """Everything task-specific about serving one task (the registry's ``TaskSpec.endpoint`` names it).

    Attributes:
        path: Endpoint path, e.g. ``/predict``.
        summary: One line for the OpenAPI docs.
        request_model: Pydantic model of the request body.
        response_model: Type of a successful response body (for the OpenAPI docs).
        call: ``call(pipeline, items)`` runs ONE pipeline call on a batch and returns one output per
            item, in order. Runs in the inference thread. It may truncate: the app has already
            refused inputs that are too long unless the request asked for truncation.
        shape: ``shape(request, outputs)`` turns one request's outputs into its JSON-ready body.
        to_items: Turns a validated request into its list of inputs.
        probe: The input ``GET /health`` runs to check that the model answers.
        labelled: Whether ``GET /info`` lists the model's labels (``config.id2label``).
    """

    path: str
    summary: str
    request_model: type[TaskRequest]
    response_model: Any
    call: Callable[[Any, list[Item]], Sequence[Any]]
    shape: Callable[[Any, list[Any]], Any]
    to_items: Callable[[Any], list[Item]]
    probe: Item = Item("health check")
    labelled: bool = False


def items_from_inputs(request: PredictRequest | TextsRequest) -> list[Item]:
    """Turn ``inputs`` (a text, a list of texts, or a list of ``[text, text_pair]``) into items."""
    inputs = [request.inputs] if isinstance(request.inputs, str) else request.inputs
    return [Item(x) if isinstance(x, str) else Item(x[0], x[1]) for x in inputs]


def check_items(items: Sequence[Item], max_items: int) -> None:
    """Refuse an empty request, an empty text, or more items than the server allows.

    Raises:
        InvalidInputError: No items, or an empty (or whitespace-only) text.
        InputLimitError: More than ``max_items`` items.
    """
    if not items:
        raise InvalidInputError("`inputs` is empty: send a text or a non-empty list of texts.")
    if len(items) > max_items:
        raise InputLimitError(
            f"`inputs` has {len(items)} items; this server accepts at most {max_items} per request "
            "(--max-input-items). Split the request."
        )
    for i, item in enumerate(items):
        if not item.text.strip() or (item.text_pair is not None and not item.text_pair.strip()):
            raise InvalidInputError(f"`inputs[{i}]` is empty: every text must contain some non-space text.")


def _one_or_many(request: TaskRequest, per_input: list[Any]) -> Any:
    """Answer a single-input request with its own result and a list request with a list."""
    return per_input[0] if not isinstance(getattr(request, "inputs", None), list) else per_input


def _by_options(items: list[Item], run: Callable[[list[Item], dict[str, Any]], list[Any]]) -> list[Any]:
    """Run ``run(group, options)`` once per distinct ``Item.options`` and return outputs in item order."""
    groups: dict[tuple[tuple[str, Any], ...], list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(item.options, []).append(index)
    outputs: list[Any] = [None] * len(items)
    for options, indices in groups.items():
        results = run([items[i] for i in indices], dict(options))
        for i, result in zip(indices, results, strict=True):
            outputs[i] = result
    return outputs


# --- text-classification ---------------------------------------------------------------------------


def _classify(pipe: Any, items: list[Item]) -> Sequence[Any]:
    inputs = [item.as_pipeline_input() for item in items]
    return pipe(inputs, top_k=None, truncation=True, batch_size=len(inputs))  # type: ignore[no-any-return]


def _shape_predictions(request: PredictRequest, outputs: list[Any]) -> Any:
    per_input = []
    for scores in outputs:
        ranked = sorted(scores, key=lambda s: s["score"], reverse=True)[: request.top_k]
        per_input.append([{"label": str(s["label"]), "score": float(s["score"])} for s in ranked])
    return _one_or_many(request, per_input)


# --- sentence-embeddings ---------------------------------------------------------------------------


def _embed(pipe: Any, items: list[Item]) -> Sequence[Any]:
    inputs = [item.as_pipeline_input() for item in items]
    # Truncation at the pipeline's max_seq_length: TokenCounter has refused longer inputs unless asked to cut.
    return list(np.asarray(pipe(inputs, truncation=True, batch_size=len(inputs)), dtype=np.float32))


def _shape_embeddings(request: EmbedRequest, outputs: list[Any]) -> Any:
    vectors = np.stack(outputs)
    if request.normalize:
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors.tolist()  # always a list of vectors, as TEI answers


# --- token-classification --------------------------------------------------------------------------


def _tag(pipe: Any, items: list[Item]) -> Sequence[Any]:
    texts = [item.text for item in items]
    return pipe(texts, aggregation_strategy="simple", batch_size=len(texts))  # type: ignore[no-any-return]


def _shape_entities(request: TextsRequest, outputs: list[Any]) -> Any:
    def entity(e: dict[str, Any]) -> dict[str, Any]:
        start, end = e.get("start"), e.get("end")
        return {
            "entity_group": str(e["entity_group"]),
            "score": float(e["score"]),
            "word": str(e["word"]),
            "start": None if start is None else int(start),
            "end": None if end is None else int(end),
        }

    return _one_or_many(request, [[entity(e) for e in entities] for entities in outputs])


# --- feature-extraction ----------------------------------------------------------------------------


def _token_vectors(pipe: Any, items: list[Item]) -> Sequence[Any]:
    inputs = [item.as_pipeline_input() for item in items]
    # Batched, the pipeline returns each text padded to the longest of its batch, as [1][tokens][hidden]:
    # keep the text's own tokens only, so an answer does not depend on its batch mates. The lengths come
    # from the items' encodings; only inputs without one (truncated, or another backend) are tokenized here.
    missing = [item.text for item in items if item.encoding is None]
    cut = iter(len(ids) for ids in pipe.tokenizer(missing, truncation=True)["input_ids"]) if missing else iter(())
    lengths = [item.encoding.length if item.encoding is not None else next(cut) for item in items]
    left = getattr(pipe.tokenizer, "padding_side", "right") == "left"
    outputs = pipe(inputs, truncation=True, batch_size=len(inputs))
    return [out[0][-n:] if left else out[0][:n] for out, n in zip(outputs, lengths, strict=True)]


def _shape_token_vectors(request: TextsRequest, outputs: list[Any]) -> Any:
    return [np.asarray(out, dtype=np.float32).tolist() for out in outputs]


# --- question-answering ----------------------------------------------------------------------------


def _qa_items(request: AnswerRequest) -> list[Item]:
    inputs = request.inputs if isinstance(request.inputs, list) else [request.inputs]
    options = (("top_k", request.top_k),)
    return [Item(x.question, x.context, options) for x in inputs]


def _answer(pipe: Any, items: list[Item]) -> Sequence[Any]:
    # The dev backend serves plain transformers pipelines, which unwrap a single question's answers.
    from onnx_pipelines.pipelines.question_answering import answer_each

    def run(group: list[Item], options: dict[str, Any]) -> list[Any]:
        answers = answer_each(pipe, [i.text for i in group], [str(i.text_pair) for i in group],
                              top_k=options["top_k"], batch_size=len(group))
        return [a if isinstance(a, list) else [a] for a in answers]

    return _by_options(items, run)


def _shape_answers(request: AnswerRequest, outputs: list[Any]) -> Any:
    per_input = [
        [{"answer": str(a["answer"]), "score": float(a["score"]), "start": int(a["start"]), "end": int(a["end"])}
         for a in answers]
        for answers in outputs
    ]
    return _one_or_many(request, per_input)


# --- zero-shot-classification ----------------------------------------------------------------------


def _zero_shot_items(request: ZeroShotRequest) -> list[Item]:
    from onnx_pipelines.pipelines.zero_shot import check_candidate_labels, check_hypothesis_template

    options = (
        ("candidate_labels", tuple(check_candidate_labels(request.candidate_labels))),
        ("hypothesis_template", check_hypothesis_template(request.hypothesis_template)),
        ("multi_label", request.multi_label),
    )
    inputs = [request.inputs] if isinstance(request.inputs, str) else request.inputs
    return [Item(text, None, options) for text in inputs]


def _zero_shot(pipe: Any, items: list[Item]) -> Sequence[Any]:
    def run(group: list[Item], options: dict[str, Any]) -> list[Any]:
        return list(pipe([i.text for i in group], candidate_labels=list(options["candidate_labels"]),
                         hypothesis_template=options["hypothesis_template"],
                         multi_label=options["multi_label"], batch_size=len(options["candidate_labels"])))

    return _by_options(items, run)


def _shape_zero_shot(request: ZeroShotRequest, outputs: list[Any]) -> Any:
    per_input = [
        [{"label": str(label), "score": float(score)} for label, score in zip(o["labels"], o["scores"], strict=True)]
        for o in outputs
    ]
    return _one_or_many(request, per_input)


# --- text-ranking ----------------------------------------------------------------------------------


def _rerank_items(request: RerankRequest) -> list[Item]:
    if not request.texts:
        raise InvalidInputError("`texts` is empty: send at least one passage to rank.")
    if not request.query.strip():
        raise InvalidInputError("`query` is empty: send the query the texts are ranked for.")
    for i, text in enumerate(request.texts):
        if not text.strip():
            raise InvalidInputError(f"`texts[{i}]` is empty: every passage must contain some non-space text.")
    return [Item(request.query, text) for text in request.texts]


def _rerank(pipe: Any, items: list[Item]) -> Sequence[Any]:
    # Raw logits: each request applies (or not) the sigmoid itself, so raw and plain requests share batches.
    pairs = [(item.text, item.text_pair or "") for item in items]
    return pipe.predict(pairs, batch_size=len(pairs), raw_scores=True).tolist()  # type: ignore[no-any-return]


def _shape_ranks(request: RerankRequest, outputs: list[Any]) -> Any:
    from onnx_pipelines.pipelines.text_ranking import sigmoid

    raw = np.asarray(outputs, dtype=np.float32)
    scores = raw if request.raw_scores else sigmoid(raw)
    ranked = []
    for index in np.argsort(-scores, kind="stable"):  # best first; ties keep the texts' order
        entry: dict[str, Any] = {"index": int(index), "score": float(scores[index])}
        if request.return_text:
            entry["text"] = request.texts[index]
        ranked.append(entry)
    return ranked


# --- the endpoints, named by the task registry's ``TaskSpec.endpoint`` ------------------------------

TEXT_CLASSIFICATION = Endpoint(
    path="/predict",
    summary="Classify texts or text pairs; labels sorted by score.",
    request_model=PredictRequest,
    response_model=list[LabelScore] | list[list[LabelScore]],
    call=_classify,
    shape=_shape_predictions,
    to_items=items_from_inputs,
    labelled=True,
)
SENTENCE_EMBEDDINGS = Endpoint(
    path="/embed",
    summary="One vector per text (mean-pooled sentence embedding).",
    request_model=EmbedRequest,
    response_model=list[list[float]],
    call=_embed,
    shape=_shape_embeddings,
    to_items=items_from_inputs,
)
TOKEN_CLASSIFICATION = Endpoint(
    path="/ner",
    summary="Named entities per text, sub-words grouped into words.",
    request_model=EntitiesRequest,
    response_model=list[Entity] | list[list[Entity]],
    call=_tag,
    shape=_shape_entities,
    to_items=items_from_inputs,
    labelled=True,
)
FEATURE_EXTRACTION = Endpoint(
    path="/embed_all",
    summary="One vector per token per text (the last hidden state).",
    request_model=TokenVectorsRequest,
    response_model=list[list[list[float]]],
    call=_token_vectors,
    shape=_shape_token_vectors,
    to_items=items_from_inputs,
)
QUESTION_ANSWERING = Endpoint(
    path="/answer",
    summary="Extractive answers: the best spans of each context, best first.",
    request_model=AnswerRequest,
    response_model=list[Answer] | list[list[Answer]],
    call=_answer,
    shape=_shape_answers,
    to_items=_qa_items,
    probe=Item("What is checked?", "The health of the server is checked.", (("top_k", 1),)),
)
ZERO_SHOT_CLASSIFICATION = Endpoint(
    path="/zero-shot",
    summary="Scores for labels chosen per request, from an NLI model; best first.",
    request_model=ZeroShotRequest,
    response_model=list[LabelScore] | list[list[LabelScore]],
    call=_zero_shot,
    shape=_shape_zero_shot,
    to_items=_zero_shot_items,
    probe=Item("health check", None, (("candidate_labels", ("ok",)),
                                      ("hypothesis_template", "This example is {}."),
                                      ("multi_label", False))),
)


TEXT_RANKING = Endpoint(
    path="/rerank",
    summary="The texts ordered by relevance to the query (cross-encoder scores), best first.",
    request_model=RerankRequest,
    response_model=list[Rank],
    call=_rerank,
    shape=_shape_ranks,
    to_items=_rerank_items,
    probe=Item("health check", "The health of the server is checked."),
)


def get_endpoint(task: str) -> Endpoint:
    """The endpoint that serves ``task`` (a name or alias of the task registry).

    Raises:
        UnsupportedTaskError: The task is unknown, or the registry gives it no endpoint; the message lists
            the tasks that can be served.
    """
    spec = get_task(task)
    if spec.endpoint is None:
        raise UnsupportedTaskError(
            f"Task {spec.name!r} cannot be served; supported tasks: {', '.join(served_tasks())}."
        )
    endpoint: Endpoint = load_object(spec.endpoint)
    return endpoint


def served_tasks() -> list[str]:
    """Names of the tasks the task registry gives an endpoint, sorted."""
    return sorted(name for name, spec in TASKS.items() if spec.endpoint is not None)


def endpoints() -> dict[str, Endpoint]:
    """Every served task's endpoint, by task name (read from the task registry)."""
    return {name: get_endpoint(name) for name in served_tasks()}
