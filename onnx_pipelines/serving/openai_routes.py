"""OpenAI-compatible routes: ``POST /v1/embeddings`` (sentence-embeddings) and ``GET /v1/models``.

So that ``openai.OpenAI(base_url="http://host:port/v1").embeddings.create(...)`` and the LangChain /
LlamaIndex wrappers built on it work unchanged. The server serves one model: ``model`` in a request is
not checked (as in TEI) and every answer names the served model. Errors keep this server's body,
``{"error", "error_type"}``; the OpenAI client raises its usual ``APIStatusError`` subclasses on them.
"""

from __future__ import annotations

import base64
import time
from typing import Any, Literal

import numpy as np
from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidatorFunctionWrapHandler, field_validator
from pydantic_core import PydanticCustomError

from onnx_pipelines.errors import InvalidInputError
from onnx_pipelines.serving.responses import TASK_ERROR_RESPONSES, json_response
from onnx_pipelines.serving.schemas import EmbedRequest
from onnx_pipelines.serving.served import ServedTask

#: Paths these routes may add (for the request metrics' endpoint label).
OPENAI_PATHS = ("/v1/models", "/v1/embeddings", "/embeddings")


class OpenAIEmbeddingRequest(BaseModel):
    """``POST /v1/embeddings``, as the OpenAI API takes it (texts only)."""

    model_config = ConfigDict(extra="forbid")

    input: StrictStr | list[StrictStr] = Field(description="A text or a list of texts.", examples=[["hello"]])
    model: StrictStr | None = Field(None, description="Not checked: the server serves one model.")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="`float`: lists of numbers; `base64`: little-endian float32 bytes, base64-encoded."
    )
    dimensions: StrictInt | None = Field(
        None, ge=1, description="Accepted only at the model's own dimension: vectors are never cut."
    )
    user: StrictStr | None = Field(None, description="Accepted and ignored.")

    @field_validator("input", mode="wrap")
    @classmethod
    def _input(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, list) and value and all(isinstance(x, int) or isinstance(x, list) for x in value):
            raise PydanticCustomError(
                "token_ids",
                "holds token ids; this server takes texts (its tokenizer is not OpenAI's). With LangChain's "
                "OpenAIEmbeddings pass check_embedding_ctx_length=False",
            )
        return handler(value)


def add_openai_routes(app: FastAPI, served: ServedTask) -> None:
    """Add ``GET /v1/models`` (every task) and ``POST /v1/embeddings`` (sentence-embeddings)."""
    created = int(time.time())
    models = {"object": "list", "data": [
        {"id": served.model_name, "object": "model", "created": created, "owned_by": "onnx-pipelines"}
    ]}

    @app.get("/v1/models", summary="The one model this server serves, in the OpenAI API's shape.")
    async def list_models() -> Response:
        return json_response(models)

    if served.task != "sentence-embeddings":
        return

    async def embeddings(body: OpenAIEmbeddingRequest) -> Response:
        texts = [body.input] if isinstance(body.input, str) else body.input
        request = EmbedRequest.model_validate({"inputs": texts})
        ran = await served.run(request)
        vectors = np.stack([np.asarray(v, dtype=np.float32) for v in ran.outputs])
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        if body.dimensions is not None and body.dimensions != vectors.shape[1]:
            raise InvalidInputError(
                f"`dimensions` is {body.dimensions}, but this model's vectors have {vectors.shape[1]} dimensions "
                "and are not cut (cutting is only meaningful for Matryoshka-trained models). "
                f"Omit `dimensions` or send {vectors.shape[1]}."
            )
        data = [{"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)}
                for i, v in enumerate(vectors)]
        tokens = sum(ran.tokens)
        return json_response({"object": "list", "data": data, "model": served.model_name,
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    for path in ("/v1/embeddings", "/embeddings"):  # TEI serves both
        app.post(path, summary="OpenAI-compatible embeddings (normalized vectors).", responses=TASK_ERROR_RESPONSES,
                 include_in_schema=path == "/v1/embeddings")(embeddings)


def _encode(vector: np.ndarray, encoding_format: str) -> Any:
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.tolist()
