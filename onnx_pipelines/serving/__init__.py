"""HTTP serving of onnx-pipelines models (install with the ``serve`` extra).

The app factories are imported on first use, so ``onnx_pipelines.commands.serve`` and ``.settings``
load without FastAPI installed::

    from onnx_pipelines.serving import create_app
    app = create_app("models/bbc-news-minilm", "text-classification", optimize="O2")

or, from the command line, ``uvicorn --factory onnx_pipelines.serving:create_app_from_env``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from onnx_pipelines.serving.settings import ServingSettings

if TYPE_CHECKING:
    from onnx_pipelines.serving.app import create_app_from_pipeline
    from onnx_pipelines.serving.factory import create_app, create_app_from_env

_LAZY = {
    "create_app": "onnx_pipelines.serving.factory",
    "create_app_from_env": "onnx_pipelines.serving.factory",
    "create_app_from_pipeline": "onnx_pipelines.serving.app",
}

__all__ = ["ServingSettings", "create_app", "create_app_from_env", "create_app_from_pipeline"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
