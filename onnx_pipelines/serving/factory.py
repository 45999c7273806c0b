"""App factories: load a model and serve it, from arguments or from ``ONNX_PIPELINES_*`` variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.serving.app import create_app_from_pipeline
from onnx_pipelines.serving.loading import load_serving_pipeline, model_options_from_env
from onnx_pipelines.serving.settings import ENV_PREFIX, ServingSettings

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(
    model: str | Path,
    task: str,
    *,
    optimize: str | None = None,
    quantize: str | None = None,
    provider: str = "auto",
    cache_dir: str | Path | None = None,
    intra_op_threads: int | None = None,
    settings: ServingSettings | None = None,
    backend: str = "onnx",
    **pipeline_kwargs: Any,
) -> FastAPI:
    """Load ``model`` for ``task`` and serve it (the app factory behind ``onnx-pipelines serve``).

    Args:
        model: Local model folder (or what ``load_pipeline`` accepts).
        task: A task the registry serves (:func:`onnx_pipelines.serving.tasks.served_tasks`).
        optimize: ONNX optimization level, e.g. ``"O2"``.
        quantize: ONNX quantization, e.g. ``"dynamic"``.
        provider: ONNX Runtime execution provider; ``"auto"`` picks the best available.
        cache_dir: Where exported models are cached.
        intra_op_threads: ONNX Runtime intra-op threads (``None``: one per physical core).
        settings: Limits and batching.
        backend: ``"onnx"`` (``load_pipeline``), or ``"pytorch"`` to serve the plain PyTorch model
            (development baseline).
        **pipeline_kwargs: Passed on to ``load_pipeline``.

    Returns:
        The app.

    Raises:
        UnsupportedTaskError: ``task`` has no endpoint, or the task registry does not support it.
        InvalidConfigError: Bad backend or options.
        ModelNotFoundError: ``model`` does not exist.
        OnnxPipelinesError: Anything else ``load_pipeline`` refuses (wrong head, failed export, ...).

    Example:
        >>> app = create_app("../shared/models/bbc-news-minilm", "text-classification",
        ...                  optimize="O2", quantize="dynamic")  # doctest: +SKIP
    """
    pipeline, variant = load_serving_pipeline(
        model,
        task,
        backend=backend,
        optimize=optimize,
        quantize=quantize,
        provider=provider,
        cache_dir=cache_dir,
        intra_op_threads=intra_op_threads,
        **pipeline_kwargs,
    )
    return create_app_from_pipeline(pipeline, task, model_name=str(model), variant=variant, settings=settings)


def create_app_from_env(environ: Mapping[str, str] | None = None) -> FastAPI:
    """Build the app from ``ONNX_PIPELINES_*`` variables, for ``uvicorn --factory`` or gunicorn.

    Reads ``ONNX_PIPELINES_MODEL`` and ``ONNX_PIPELINES_TASK`` (required), ``_OPTIMIZE``,
    ``_QUANTIZE``, ``_PROVIDER``, ``_CACHE_DIR``, ``_THREADS``, ``_BACKEND``, and every :class:`ServingSettings`
    field (``ONNX_PIPELINES_MAX_QUEUE``, ``ONNX_PIPELINES_BATCHING``, ...).

    Args:
        environ: The variables; ``os.environ`` when omitted.

    Returns:
        The app.

    Raises:
        InvalidConfigError: A required variable is missing or a value is invalid.

    Example:
        ``ONNX_PIPELINES_MODEL=./model ONNX_PIPELINES_TASK=text-classification
        uvicorn --factory onnx_pipelines.serving:create_app_from_env --port 8080``
    """
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(ENV_PREFIX + name, "").strip()
        return value or None

    model, task = get("MODEL"), get("TASK")
    if model is None or task is None:
        raise InvalidConfigError(
            f"Set {ENV_PREFIX}MODEL (a model folder) and {ENV_PREFIX}TASK (e.g. text-classification)."
        )
    return create_app(model, task, settings=ServingSettings.from_env(env), **model_options_from_env(env))

