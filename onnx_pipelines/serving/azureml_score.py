"""Azure ML online-endpoint scoring script: the same pipeline, request bodies and answers as the server.

Azure ML calls :func:`init` once per worker and :func:`run` once per request, with the request body
as a string. Point the deployment's ``scoring_script`` at this file (or a one-line file that
re-exports ``init`` and ``run``) and set, in the deployment's environment variables:

- ``ONNX_PIPELINES_TASK`` (required): e.g. ``text-classification``.
- ``ONNX_PIPELINES_MODEL``: model folder; default ``$AZUREML_MODEL_DIR``, joined with
  ``ONNX_PIPELINES_MODEL_SUBDIR`` when set (the registered model's folder name).
- ``ONNX_PIPELINES_OPTIMIZE``, ``_QUANTIZE``, ``_PROVIDER``, ``_CACHE_DIR``, ``_THREADS`` (how the model is
  loaded, as for ``create_app_from_env``), ``ONNX_PIPELINES_MAX_INPUT_ITEMS``, ...

The body is the one the HTTP server takes (``{"inputs": ..., "truncate": ...}``). Azure ML's own
server handles concurrency, so there is no batcher here: each request is one pipeline call. An
invalid request answers ``{"error": ..., "error_type": ...}``, as the HTTP server does, but with
Azure ML's status (its ``run()`` contract has no status codes without ``azureml-contrib-services``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from onnx_pipelines.errors import InvalidConfigError, OnnxPipelinesError
from onnx_pipelines.serving.loading import load_serving_pipeline, model_options_from_env
from onnx_pipelines.serving.settings import ENV_PREFIX, ServingSettings
from onnx_pipelines.serving.status import error_status, validation_status
from onnx_pipelines.serving.tasks import Endpoint, check_items, get_endpoint
from onnx_pipelines.serving.tokens import TokenCounter

logger = logging.getLogger(__name__)

_state: dict[str, Any] = {}


def init() -> None:
    """Load the model named by the environment (called once by Azure ML).

    Raises:
        InvalidConfigError: ``ONNX_PIPELINES_TASK`` is unset, or no model folder is given.
    """
    env = os.environ
    task = env.get(ENV_PREFIX + "TASK")
    model = env.get(ENV_PREFIX + "MODEL") or _azureml_model_dir(env)
    if not task or not model:
        raise InvalidConfigError(
            f"Set {ENV_PREFIX}TASK, and {ENV_PREFIX}MODEL unless AZUREML_MODEL_DIR holds the model."
        )
    pipeline, variant = load_serving_pipeline(model, task, **model_options_from_env(env))
    _state.update(
        spec=get_endpoint(task),
        pipeline=pipeline,
        counter=TokenCounter(pipeline),
        settings=ServingSettings.from_env(env),
    )
    logger.info("Serving %s (%s, %s)", model, task, variant)


def run(raw_data: str) -> Any:
    """Answer one request body (a JSON string) with the body the HTTP endpoint would return.

    Example:
        ``run('{"inputs": ["Shares rose.", "The match ended 2-1."]}')`` returns
        ``[[{"label": "business", "score": 0.93}, ...], [{"label": "sports", ...}, ...]]``.
    """
    spec: Endpoint = _state["spec"]
    try:
        request = spec.request_model.model_validate_json(raw_data)
        items = spec.to_items(request)
        check_items(items, _state["settings"].max_input_items)
        items, _ = _state["counter"].encode(items, truncate=request.truncate)
        outputs = list(spec.call(_state["pipeline"], items))
        return spec.shape(request, outputs)
    except ValidationError as e:
        _, error_type, message = validation_status(e.errors())
        return {"error": message, "error_type": error_type}
    except OnnxPipelinesError as e:
        _, error_type, message = error_status(e)
        return {"error": message, "error_type": error_type}
    except Exception:
        logger.exception("Scoring failed")
        return {
            "error": "The model failed on this request; the log has the details.",
            "error_type": "model_error",
        }


def _azureml_model_dir(env: Mapping[str, str]) -> str | None:
    root = env.get("AZUREML_MODEL_DIR")
    if not root:
        return None
    subdir = env.get(ENV_PREFIX + "MODEL_SUBDIR")
    return str(Path(root) / subdir) if subdir else root
