"""The FastAPI app: one task endpoint from the task table, plus /health, /info, /metrics and docs.

The TEI extras (``POST /``, ``/similarity``, ``/tokenize``, ``/decode``) are added by
:mod:`onnx_pipelines.serving.tei_routes`, the OpenAI-compatible ones by
:mod:`onnx_pipelines.serving.openai_routes`.
"""

# No `from __future__ import annotations` here: FastAPI reads the task endpoint's body annotation,
# which is a class chosen at runtime from the task table, and a string could not be resolved.

import asyncio
import platform
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from onnx_pipelines.errors import OnnxPipelinesError
from onnx_pipelines.serving.batcher import Batcher
from onnx_pipelines.serving.metrics import ServingMetrics
from onnx_pipelines.serving.middleware import MetricsMiddleware, PayloadLimitMiddleware
from onnx_pipelines.serving.openai_routes import OPENAI_PATHS, add_openai_routes
from onnx_pipelines.serving.responses import (
    TASK_ERROR_RESPONSES,
    error_response,
    install_error_handlers,
    json_response,
)
from onnx_pipelines.serving.schemas import ErrorResponse, HealthResponse, InfoResponse
from onnx_pipelines.serving.served import ServedTask
from onnx_pipelines.serving.settings import ServingSettings
from onnx_pipelines.serving.tasks import get_endpoint
from onnx_pipelines.serving.tei_routes import TEI_PATHS, add_tei_routes
from onnx_pipelines.serving.tokens import TokenCounter
from onnx_pipelines.tasks import get_task
from onnx_pipelines.versions import __version__, library_versions

#: A pipeline call that succeeded this recently proves health without running the probe again.
_RECENT_SUCCESS_S = 5.0
_VERSIONED = ("onnx-pipelines", "onnxruntime", "optimum-onnx", "transformers", "torch", "fastapi")


def create_app_from_pipeline(
    pipeline: Any,
    task: str,
    *,
    model_name: str = "model",
    variant: str | None = None,
    settings: ServingSettings | None = None,
) -> FastAPI:
    """Serve an already-built pipeline.

    Args:
        pipeline: A pipeline that behaves like a transformers pipeline of ``task`` (see
            :mod:`onnx_pipelines.serving.tasks` for how each task calls it).
        task: A task the task registry gives an endpoint
            (:func:`~onnx_pipelines.serving.tasks.served_tasks`), e.g. ``"text-classification"``.
        model_name: What ``GET /info`` reports as the model.
        variant: What ``GET /info`` reports as the variant; by default the pipeline's own ``variant``
            (``"O2+int8-dynamic"``, ... for :func:`~onnx_pipelines.pipeline.load_pipeline` pipelines), else
            ``"unknown"``.
        settings: Limits and batching; the defaults of :class:`ServingSettings` when omitted.

    Returns:
        The app. Its lifespan warms the model up at startup and drains the queue at shutdown.

    Raises:
        UnsupportedTaskError: ``task`` cannot be served.

    Example:
        >>> from onnx_pipelines import load_pipeline
        >>> pipe = load_pipeline("text-classification", "../shared/models/bbc-news-minilm",
        ...                      optimize="O2", quantize="dynamic")  # doctest: +SKIP
        >>> app = create_app_from_pipeline(pipe, "text-classification")  # doctest: +SKIP
    """
    spec = get_endpoint(task)
    settings = settings or ServingSettings()
    variant = variant or str(getattr(pipeline, "variant", None) or "unknown")
    metrics = ServingMetrics()
    counter = TokenCounter(pipeline)
    batcher = Batcher(lambda items: spec.call(pipeline, items), settings, metrics)
    probe_cost = counter.count([spec.probe])

    async def run_probe() -> None:
        await batcher.submit([spec.probe], probe_cost, admit_when_full=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        try:  # warm up, so the first client does not pay for lazy initialization
            await run_probe()
        except OnnxPipelinesError:
            pass  # logged by the batcher; /health answers 503 until the model answers
        yield
        await batcher.close()

    app = FastAPI(
        title=f"onnx-pipelines: {model_name}",
        description=f"Serves `{model_name}` ({variant}) for the `{task}` task at `POST {spec.path}`.",
        version=__version__,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(PayloadLimitMiddleware, max_bytes=settings.max_payload_bytes)
    paths = (spec.path, "/health", "/info", "/metrics", "/docs", "/openapi.json", *TEI_PATHS, *OPENAI_PATHS)
    app.add_middleware(MetricsMiddleware, metrics=metrics, paths=paths)  # outermost: counts 413s too
    served = ServedTask(get_task(task).name, spec, pipeline, model_name, settings, counter, batcher)
    _add_task_route(app, served, metrics)
    add_tei_routes(app, served)
    add_openai_routes(app, served)

    @app.get("/health", response_model=HealthResponse, responses={503: {"model": ErrorResponse}})
    async def health() -> Response:
        """200 when the model answers (a recent call succeeded, or a probe does now); 503 otherwise."""
        if batcher.closing:
            return error_response(503, "The server is shutting down.", "shutting_down")
        recent = batcher.seconds_since_success()
        if recent is None or recent > _RECENT_SUCCESS_S:
            try:
                await asyncio.wait_for(run_probe(), settings.health_timeout_s)
            except asyncio.TimeoutError:
                return error_response(
                    503, f"The model did not answer within {settings.health_timeout_s} s.", "unhealthy"
                )
            except OnnxPipelinesError:
                return error_response(503, "The model fails; the server log has the details.", "unhealthy")
        return json_response({"status": "ok"})

    app.get("/", include_in_schema=False)(health)  # TEI answers GET / with its health check

    info = InfoResponse(
        model=model_name,
        task=served.task,  # the registry name, also when started with an alias
        variant=variant,
        endpoint=spec.path,
        labels=_labels(pipeline) if spec.labelled else None,
        max_input_tokens=counter.max_input_tokens,
        limits=settings.as_dict(),
        versions=_versions(),
    ).model_dump()

    @app.get("/info", response_model=InfoResponse)
    async def get_info() -> Response:
        """What is served: model, task, variant, endpoint, labels, limits and library versions."""
        return json_response(info)

    @app.get("/metrics", response_class=Response)
    async def get_metrics() -> Response:
        """Prometheus metrics of this app."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app


def _add_task_route(app: FastAPI, served: ServedTask, metrics: ServingMetrics) -> None:
    spec = served.spec
    request_model = spec.request_model
    in_progress = metrics.in_progress.labels(endpoint=spec.path)

    async def handle(body: request_model) -> Response:  # type: ignore[valid-type]
        in_progress.inc()
        try:
            return await served.respond(body)
        finally:
            in_progress.dec()

    app.post(
        spec.path,
        summary=spec.summary,
        response_model=spec.response_model,
        responses=TASK_ERROR_RESPONSES,
        name=served.task,
    )(handle)


def _labels(pipeline: Any) -> list[str] | None:
    id2label = getattr(getattr(getattr(pipeline, "model", None), "config", None), "id2label", None)
    if not isinstance(id2label, Mapping):
        return None
    return [str(id2label[i]) for i in sorted(id2label, key=int)]


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    versions.update(library_versions(_VERSIONED))
    versions.setdefault("onnx-pipelines", __version__)
    return versions
