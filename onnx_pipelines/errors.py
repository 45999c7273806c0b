"""Exceptions raised by onnx-pipelines.

Every error the library raises on purpose derives from :class:`OnnxPipelinesError` and also from
the built-in exception a caller would naturally catch (``ValueError``, ``FileNotFoundError``, ...).
Messages name the bad value, what is allowed, and how to fix it.
"""

from __future__ import annotations


class OnnxPipelinesError(Exception):
    """Base class of every error raised by onnx-pipelines."""


class ModelNotFoundError(OnnxPipelinesError, FileNotFoundError):
    """A model path does not exist (or a hub id could not be resolved)."""


class InvalidModelError(OnnxPipelinesError, ValueError):
    """A folder exists but does not hold a usable model (no config.json, no weights, no tokenizer)."""


class UnsupportedTaskError(OnnxPipelinesError, ValueError):
    """The task name is not in the task registry."""


class TaskMismatchError(OnnxPipelinesError, ValueError):
    """The model's head does not fit the requested task."""


class UnsupportedArchitectureError(OnnxPipelinesError, ValueError):
    """The ONNX exporter does not support this architecture (or this architecture for this task)."""


class CorruptModelError(OnnxPipelinesError, ValueError):
    """An ``.onnx`` file is truncated, corrupt, or fails ``onnx.checker``."""


class ProviderUnavailableError(OnnxPipelinesError, RuntimeError):
    """The requested ONNX Runtime execution provider is not available."""


class InvalidConfigError(OnnxPipelinesError, ValueError):
    """An invalid optimize / quantize / variant / runtime setting."""


class InvalidInputError(OnnxPipelinesError, ValueError):
    """Bad inference input: empty, ``None``, wrong type, ..."""


class ExportError(OnnxPipelinesError, RuntimeError):
    """Exporting, optimizing or quantizing failed, or the result disagrees with PyTorch."""


class QuantizationAccuracyError(ExportError):
    """An int8 build misses its task's accuracy bound against its fp32 parent, even with fp32 fallbacks."""


class DatasetError(OnnxPipelinesError, ValueError):
    """A dataset could not be loaded or lacks the columns a task needs."""


class ParityError(OnnxPipelinesError, RuntimeError):
    """The parity evaluation could not be carried out."""


class BenchmarkError(OnnxPipelinesError, RuntimeError):
    """A benchmark candidate failed to build, load or run in its measurement process."""


class TuneError(OnnxPipelinesError, RuntimeError):
    """``tune`` found no candidate meeting its bounds (the message names the closest and what to relax).

    Attributes:
        result: The written ``TuneResult`` (every candidate's numbers), when the search ran.
    """

    def __init__(self, message: str, *, result: object = None) -> None:
        super().__init__(message)
        self.result = result


class EngineUnavailableError(OnnxPipelinesError, RuntimeError):
    """A distributed engine (Ray) is not installed, or its cluster cannot be reached."""


class InputLimitError(InvalidInputError):
    """Well-formed input that exceeds a configured limit (too many items, too many tokens)."""


class ServingError(OnnxPipelinesError, RuntimeError):
    """The HTTP server could not answer a request: overloaded, shutting down, or the model failed."""


class ServerOverloadedError(ServingError):
    """The request queue is full; the client should retry later."""


class ServerShuttingDownError(ServingError):
    """The server is draining its queue before it exits and takes no new work."""


class InferenceError(ServingError):
    """The pipeline raised while running a batch (details are logged, not returned to the client)."""


__all__ = [
    "BenchmarkError",
    "CorruptModelError",
    "DatasetError",
    "EngineUnavailableError",
    "ExportError",
    "InferenceError",
    "InputLimitError",
    "InvalidConfigError",
    "InvalidInputError",
    "InvalidModelError",
    "ModelNotFoundError",
    "OnnxPipelinesError",
    "ParityError",
    "QuantizationAccuracyError",
    "ProviderUnavailableError",
    "ServerOverloadedError",
    "ServerShuttingDownError",
    "ServingError",
    "TaskMismatchError",
    "TuneError",
    "UnsupportedArchitectureError",
    "UnsupportedTaskError",
]
