"""What every onnx-pipelines pipeline carries besides transformers' behaviour."""

from __future__ import annotations

from typing import Any


class OnnxPipelineMixin:
    """Metadata about the ONNX artifact behind a pipeline.

    Attributes:
        artifact: The :class:`~onnx_pipelines.cache.Artifact` the model was loaded from (``None`` until
            :func:`~onnx_pipelines.load_pipeline` sets it).
        variant: The variant name, e.g. ``"O2+int8-dynamic"``.
        provider: The ONNX Runtime execution provider in use.
    """

    artifact: Any = None
    variant: str = "fp32"
    provider: str = "CPUExecutionProvider"
