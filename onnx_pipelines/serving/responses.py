"""Map errors to HTTP answers with one JSON shape: ``{"error": "...", "error_type": "..."}``.

Messages of our own errors are written for clients (they name the bad value and the fix). Anything
else is answered with a fixed message: tracebacks, paths and library internals stay in the log.
Which error gets which status is decided in :mod:`onnx_pipelines.serving.status`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from onnx_pipelines.errors import OnnxPipelinesError
from onnx_pipelines.serving.schemas import ErrorResponse
from onnx_pipelines.serving.status import INTERNAL_ERROR, error_status, validation_status

_HTTP_ERROR_TYPES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

#: The ``responses=`` of a task endpoint, for the OpenAPI docs.
TASK_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Empty input or malformed JSON"},
    413: {"model": ErrorResponse, "description": "Body over --max-payload-bytes"},
    415: {"model": ErrorResponse, "description": "Body not sent as application/json"},
    422: {"model": ErrorResponse, "description": "Wrong types, too many inputs, or an input too long"},
    424: {"model": ErrorResponse, "description": "The model failed on this request"},
    429: {"model": ErrorResponse, "description": "Queue full: retry later"},
    500: {"model": ErrorResponse, "description": "Unexpected server error"},
    503: {"model": ErrorResponse, "description": "Shutting down"},
}

_RETRY_AFTER_S = "1"


def error_response(
    status: int, error: str, error_type: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """Build the JSON error answer every failure path uses."""
    return JSONResponse({"error": error, "error_type": error_type}, status_code=status, headers=headers)


def json_response(body: Any) -> Response:
    """Encode a JSON-ready body compactly (refusing NaN, which JSON cannot carry)."""
    content = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(content, media_type="application/json")


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    status, error_type, message = validation_status(exc.errors())
    if status == 422 and "json" not in request.headers.get("content-type", ""):
        # FastAPI hands a non-JSON body to validation as raw bytes; say what is actually wrong.
        status, error_type = 415, "unsupported_media_type"
        message = "Send the body as JSON, with the header Content-Type: application/json."
    return error_response(status, message, error_type)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error_type = _HTTP_ERROR_TYPES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, str(exc.detail), error_type, exc.headers)


async def _on_library_error(request: Request, exc: Exception) -> Response:
    status, error_type, message = error_status(exc)
    headers = {"Retry-After": _RETRY_AFTER_S} if status == 429 else None
    return error_response(status, message, error_type, headers)


async def _on_unexpected_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises the exception after this answer, so the server logs the traceback.
    status, error_type, message = INTERNAL_ERROR
    return error_response(status, message, error_type)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error path of ``app`` answer with :class:`ErrorResponse`."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(OnnxPipelinesError, _on_library_error)
    app.add_exception_handler(Exception, _on_unexpected_error)
