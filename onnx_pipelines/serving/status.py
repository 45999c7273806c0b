"""Which HTTP status and ``error_type`` each failure gets; shared by the app and the Azure ML script.

No web framework is imported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onnx_pipelines.errors import (
    InferenceError,
    InputLimitError,
    InvalidInputError,
    OnnxPipelinesError,
    ServerOverloadedError,
    ServerShuttingDownError,
)

#: Our errors, most specific first: (class, status, error_type). Others are 500 ``internal_error``.
ERROR_STATUS: tuple[tuple[type[OnnxPipelinesError], int, str], ...] = (
    (InputLimitError, 422, "validation_error"),
    (InvalidInputError, 400, "invalid_input"),
    (ServerOverloadedError, 429, "overloaded"),
    (ServerShuttingDownError, 503, "shutting_down"),
    (InferenceError, 424, "model_error"),
)

INTERNAL_ERROR = (500, "internal_error", "Internal server error; the server log has the details.")

_MAX_REPORTED_ERRORS = 5


def error_status(exc: BaseException) -> tuple[int, str, str]:
    """Return ``(status, error_type, message)`` for an exception, hiding the text of unexpected ones.

    Example:
        >>> error_status(InvalidInputError("`inputs` is empty"))
        (400, 'invalid_input', '`inputs` is empty')
    """
    for cls, status, error_type in ERROR_STATUS:
        if isinstance(exc, cls):
            return status, error_type, str(exc)
    return INTERNAL_ERROR


def validation_status(errors: Sequence[Any]) -> tuple[int, str, str]:
    """Return ``(status, error_type, message)`` for pydantic errors of a request body.

    Malformed JSON is a 400 ``invalid_json``; anything else (wrong types, missing or unknown
    fields) a 422 ``validation_error``.
    """
    if any(err.get("type") == "json_invalid" for err in errors):
        return 400, "invalid_json", "The body is not valid JSON."
    return 422, "validation_error", describe_validation_errors(errors)


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """Summarize pydantic errors as ``field: message``, without echoing the (maybe huge) input.

    Example:
        >>> describe_validation_errors([{"loc": ("body", "top_k"), "msg": "Input should be >= 1"}])
        'top_k: Input should be >= 1'
    """
    parts = []
    for err in errors[:_MAX_REPORTED_ERRORS]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = len(errors) - _MAX_REPORTED_ERRORS
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
