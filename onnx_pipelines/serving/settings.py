"""Limits and batching knobs of the HTTP server, from code, the command line or the environment.

This module imports nothing heavy, so the CLI can build its parser without the ``serve`` extra.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from onnx_pipelines.errors import InvalidConfigError

#: Prefix of every environment variable the server reads (``ONNX_PIPELINES_MAX_QUEUE``, ...).
ENV_PREFIX = "ONNX_PIPELINES_"

#: How a server can run its model: ``onnx`` (``load_pipeline``), or ``pytorch`` (hidden development baseline).
BACKENDS = ("onnx", "pytorch")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class ServingSettings:
    """How the server batches work and what it refuses.

    Args:
        max_batch_size: Most inputs run in one pipeline call.
        max_batch_tokens: Token budget of one call, counted as padded tokens (inputs x longest
            input), because the pipelines pad every input of a batch to the longest one.
        max_wait_ms: How long the first queued request waits for others to join its batch.
        max_queue: Most requests waiting for the model; one more is answered 429.
        max_input_items: Most inputs in one request; more is answered 422.
        max_payload_bytes: Largest request body; more is answered 413.
        batching: ``False`` runs every request alone, in arrival order (for comparison).
        health_timeout_s: How long ``GET /health`` waits for its probe inference.

    Raises:
        InvalidConfigError: A value is out of range.

    Example:
        >>> ServingSettings(max_batch_size=16, max_wait_ms=2).max_batch_tokens
        8192
    """

    max_batch_size: int = 32
    max_batch_tokens: int = 8192
    max_wait_ms: float = 5.0
    max_queue: int = 256
    max_input_items: int = 64
    max_payload_bytes: int = 2 * 1024 * 1024
    batching: bool = True
    health_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for name in (
            "max_batch_size",
            "max_batch_tokens",
            "max_queue",
            "max_input_items",
            "max_payload_bytes",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidConfigError(f"{name} must be a positive integer, got {value!r}.")
        if self.max_wait_ms < 0:
            raise InvalidConfigError(f"max_wait_ms must be >= 0, got {self.max_wait_ms!r}.")
        if self.health_timeout_s <= 0:
            raise InvalidConfigError(f"health_timeout_s must be > 0, got {self.health_timeout_s!r}.")

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-ready dict (used by ``GET /info``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServingSettings:
        """Read settings from ``ONNX_PIPELINES_<FIELD>`` variables; unset ones keep their default.

        Args:
            environ: Usually ``os.environ``; e.g. ``{"ONNX_PIPELINES_MAX_QUEUE": "64",
                "ONNX_PIPELINES_BATCHING": "false"}``.

        Returns:
            The settings.

        Raises:
            InvalidConfigError: A variable does not parse, or its value is out of range.
        """
        values: dict[str, Any] = {}
        for field in fields(cls):
            name = ENV_PREFIX + field.name.upper()
            raw = environ.get(name)
            if raw is None or raw.strip() == "":
                continue
            values[field.name] = _parse(name, raw.strip(), field.type)
        return cls(**values)


def _parse(name: str, raw: str, kind: Any) -> Any:
    """Parse one environment value into the field's type (given as a string by ``__future__``)."""
    if kind in ("bool", bool):
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise InvalidConfigError(f"{name}={raw!r} is not a boolean; use one of {sorted(_TRUE | _FALSE)}.")
    converter = int if kind in ("int", int) else float
    try:
        return converter(raw)
    except ValueError as e:
        raise InvalidConfigError(f"{name}={raw!r} is not a valid {converter.__name__}.") from e
