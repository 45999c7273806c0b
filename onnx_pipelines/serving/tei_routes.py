"""TEI compatibility: ``POST /`` dispatching to the task's route, ``/similarity``, ``/tokenize`` and ``/decode``.

text-embeddings-inference answers ``POST /`` with the route of the model it serves, which is where
``huggingface_hub.InferenceClient(model="http://host:port")`` posts. Here ``POST /`` validates the body
against the served task's request model and answers exactly as the task's endpoint does; on a
``sentence-embeddings`` server a body whose ``inputs`` is ``{"source_sentence", "sentences"}`` (what
``InferenceClient.sentence_similarity`` sends) goes to ``/similarity`` instead.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from onnx_pipelines.errors import InvalidInputError
from onnx_pipelines.serving.responses import TASK_ERROR_RESPONSES, json_response
from onnx_pipelines.serving.served import ServedTask
from onnx_pipelines.serving.tasks import Item, check_items
from onnx_pipelines.serving.tei_schemas import DecodeRequest, SimilarityRequest, SimpleToken, TokenizeRequest

#: Paths these routes may add (for the request metrics' endpoint label).
TEI_PATHS = ("/", "/similarity", "/tokenize", "/decode")
_EMBEDDINGS = "sentence-embeddings"


def add_tei_routes(app: FastAPI, served: ServedTask) -> None:
    """Add ``POST /``, and ``/similarity`` (embeddings), ``/tokenize`` and ``/decode`` (with a tokenizer)."""
    async def similarity(body: SimilarityRequest) -> Response:
        items = [Item(body.inputs.source_sentence)] + [Item(s) for s in body.inputs.sentences]
        ran = await served.run(body, items)
        vectors = np.stack([np.asarray(v, dtype=np.float64) for v in ran.outputs])
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return json_response((vectors[1:] @ vectors[0]).astype(np.float32).tolist())

    async def root(request: Request) -> Response:
        data = await _json_body(request)
        if served.task == _EMBEDDINGS and isinstance(data, dict) and isinstance(data.get("inputs"), dict):
            return await similarity(_validate(SimilarityRequest, data))
        return await served.respond(_validate(served.spec.request_model, data))

    app.post(
        "/",
        summary=f"TEI's default route: the same as POST {served.spec.path}"
        + (" (or /similarity for a {source_sentence, sentences} body)" if served.task == _EMBEDDINGS else ""),
        response_model=served.spec.response_model,
        responses=TASK_ERROR_RESPONSES,
        openapi_extra={"requestBody": {"content": {"application/json": {"schema": {
            "$ref": f"#/components/schemas/{served.spec.request_model.__name__}"}}}, "required": True}},
    )(root)
    if served.task == _EMBEDDINGS:
        app.post(
            "/similarity",
            summary="Cosine similarity of each sentence to the source sentence.",
            response_model=list[float],
            responses=TASK_ERROR_RESPONSES,
        )(similarity)
    if served.has_tokenizer:
        _add_tokenizer_routes(app, served)


def _add_tokenizer_routes(app: FastAPI, served: ServedTask) -> None:
    @app.post("/tokenize", response_model=list[list[SimpleToken]], responses=TASK_ERROR_RESPONSES)
    async def tokenize(body: TokenizeRequest) -> Response:
        """The tokens of each text, as the model sees them (not truncated)."""
        texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
        check_items([Item(t) for t in texts], served.settings.max_input_items)
        tokens = await served.with_tokenizer(lambda tok: _tokens(tok, texts, body.add_special_tokens))
        return json_response(tokens)

    @app.post("/decode", response_model=list[str], responses=TASK_ERROR_RESPONSES)
    async def decode(body: DecodeRequest) -> Response:
        """The text of each list of token ids."""
        sequences: list[list[int]] = [body.ids] if isinstance(body.ids[0], int) else body.ids  # type: ignore[list-item]
        if len(sequences) > served.settings.max_input_items:
            check_items([Item("x")] * len(sequences), served.settings.max_input_items)
        texts = await served.with_tokenizer(lambda tok: _decode(tok, sequences, body.skip_special_tokens))
        return json_response(texts)


def _tokens(tokenizer: Any, texts: list[str], add_special_tokens: bool) -> list[list[dict[str, Any]]]:
    fast = bool(getattr(tokenizer, "is_fast", False))
    encoded = tokenizer(
        texts,
        add_special_tokens=add_special_tokens,
        truncation=False,
        return_offsets_mapping=fast,
        return_special_tokens_mask=True,
        verbose=False,
    )
    answers = []
    for n, text in enumerate(texts):
        ids = encoded["input_ids"][n]
        names = tokenizer.convert_ids_to_tokens(ids)
        special = encoded["special_tokens_mask"][n]
        offsets = encoded["offset_mapping"][n] if fast else [None] * len(ids)
        row = []
        for token_id, name, is_special, span in zip(ids, names, special, offsets, strict=True):
            if is_special or span is None:
                row.append({"id": int(token_id), "text": str(name), "special": bool(is_special),
                            "start": None, "stop": None})
            else:
                start, stop = int(span[0]), int(span[1])
                row.append({"id": int(token_id), "text": text[start:stop], "special": False,
                            "start": start, "stop": stop})
        answers.append(row)
    return answers


def _decode(tokenizer: Any, sequences: list[list[int]], skip_special_tokens: bool) -> list[str]:
    size = len(tokenizer)
    for n, ids in enumerate(sequences):
        for k, token_id in enumerate(ids):
            if not 0 <= token_id < size:
                raise InvalidInputError(
                    f"`ids[{n}][{k}]` is {token_id}, not a token id of this model's tokenizer (0 to {size - 1})."
                )
    return [str(t) for t in tokenizer.batch_decode(sequences, skip_special_tokens=skip_special_tokens)]


async def _json_body(request: Request) -> Any:
    """Read the body as JSON, failing the way FastAPI's own validation does (400 / 415 error bodies)."""
    raw = await request.body()
    if "json" not in request.headers.get("content-type", ""):
        raise RequestValidationError([{"type": "model_attributes_type", "loc": ("body",), "msg": "not JSON"}])
    try:
        return json.loads(raw)
    except ValueError:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error"}]) from None


def _validate(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = [{**err, "loc": ("body", *err.get("loc", ()))} for err in e.errors(include_url=False)]
        raise RequestValidationError(errors) from None
