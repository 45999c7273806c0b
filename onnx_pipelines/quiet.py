"""Keep third-party noise off the user's terminal: route it to debug logging, around our own calls only.

Exporting, loading and running a model makes torch, transformers and Optimum print things a user of this
library cannot act on (``TracerWarning``, "Weight deduplication check ... requires accelerate",
``torch_dtype`` deprecation notices, "Device set to use cpu"). :func:`third_party_quiet` re-emits them as
DEBUG records of the :data:`NOISE_LOGGER` logger (``onnx-pipelines -v`` shows them) for the duration of one
``with`` block; nothing is changed at import time and everything is restored on exit. Warnings raised by
this library's own code, and third-party log records at ERROR or above, still reach the user.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

#: Where third-party warnings and log records go, at DEBUG level.
NOISE_LOGGER = "onnx_pipelines.third_party"

#: Top-level packages whose warnings and log records count as third-party noise.
THIRD_PARTY_PACKAGES: tuple[str, ...] = (
    "torch", "transformers", "optimum", "onnxruntime", "onnx", "onnxscript", "sentence_transformers",
    "huggingface_hub", "datasets", "evaluate", "accelerate", "tokenizers",
)
#: Loggers of those libraries that write to the terminal on their own (their own handlers).
_LIBRARY_LOGGERS: tuple[str, ...] = (
    "transformers", "optimum", "sentence_transformers", "huggingface_hub", "datasets", "evaluate", "torch",
    "torch.onnx",
)

#: Modules whose import attaches a library's own stderr handler.
_SELF_CONFIGURING: tuple[str, ...] = ("transformers.utils.logging", "optimum.utils.logging")

_noise = logging.getLogger(NOISE_LOGGER)


class _ToDebug(logging.Handler):
    """Re-emit a library's records below ERROR as DEBUG records of :data:`NOISE_LOGGER`; pass errors on."""

    def __init__(self, handlers: list[logging.Handler]) -> None:
        super().__init__()
        self._handlers = handlers

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            for handler in self._handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)
            return
        _noise.debug("%s: %s", record.name, record.getMessage())


def is_third_party(filename: str) -> bool:
    """Whether a warning raised in ``filename`` comes from one of :data:`THIRD_PARTY_PACKAGES`."""
    parts = os.path.normpath(filename).split(os.sep)
    return any(part in THIRD_PARTY_PACKAGES for part in parts[:-1]) and "onnx_pipelines" not in parts


@contextmanager
def third_party_quiet() -> Iterator[None]:
    """Within the block, route third-party warnings and log records below ERROR to debug logging.

    Example:
        >>> import warnings
        >>> with third_party_quiet():
        ...     warnings.warn("ours", UserWarning)  # doctest: +SKIP
    """
    saved: list[tuple[logging.Logger, list[logging.Handler], bool]] = []
    with warnings.catch_warnings():  # restores warnings.showwarning and the filters on exit
        shown = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
            if is_third_party(filename):
                _noise.debug("%s: %s (%s:%d)", category.__name__, message, filename, lineno)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        _set_up_library_logging()
        for name in _LIBRARY_LOGGERS:
            library = logging.getLogger(name)
            handlers = list(library.handlers)
            saved.append((library, handlers, library.propagate))
            for handler in handlers:
                library.removeHandler(handler)
            library.addHandler(_ToDebug(handlers or _root_handlers(library)))
            library.propagate = False
        try:
            yield
        finally:
            for library, handlers, propagate in reversed(saved):
                for handler in list(library.handlers):
                    library.removeHandler(handler)
                for handler in handlers:
                    library.addHandler(handler)
                library.propagate = propagate


def _set_up_library_logging() -> None:
    """Let transformers and Optimum attach their own stderr handlers now, so the block can take them over.

    They attach them when first imported; one attached later, inside the block, would print past us.
    """
    import importlib
    import importlib.util

    for module in _SELF_CONFIGURING:
        if module.split(".")[0] in sys.modules or importlib.util.find_spec(module.split(".")[0]) is not None:
            try:
                importlib.import_module(module).get_logger()  # attaches the library root logger's handler
            except Exception:  # a broken optional install must not stop our command
                continue


def _root_handlers(logger: logging.Logger) -> list[logging.Handler]:
    """The handlers a propagating logger's records would reach (for errors to still be shown)."""
    current: Any = logger.parent
    while current is not None:
        if current.handlers:
            return list(current.handlers)
        current = current.parent
    return [logging.lastResort] if logging.lastResort is not None else []


__all__ = ["NOISE_LOGGER", "THIRD_PARTY_PACKAGES", "is_third_party", "third_party_quiet"]
