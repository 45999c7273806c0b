"""``onnx-pipelines serve``: serve one model over HTTP.

Importing this module is cheap and needs no ``serve`` extra, so the main CLI can always register it;
FastAPI and uvicorn are imported when the command runs.
"""

from __future__ import annotations

import argparse
import logging
import sys

from onnx_pipelines.commands.common import add_runtime_options, add_variant_options
from onnx_pipelines.errors import InvalidConfigError, OnnxPipelinesError
from onnx_pipelines.serving.settings import BACKENDS, ServingSettings
from onnx_pipelines.tasks import supported_tasks

_DEFAULTS = ServingSettings()
_SERVE_EXTRA_MODULES = {"fastapi", "starlette", "uvicorn", "prometheus_client", "pydantic"}

DESCRIPTION = """\
Serve MODEL over HTTP with an API shaped like Hugging Face text-embeddings-inference (TEI).

One endpoint per task:
  text-classification    POST /predict    {"inputs": "text" | ["t1", ...] | [["text", "pair"]], "top_k": 2}
  sentence-embeddings    POST /embed      {"inputs": "text" | ["t1", ...], "normalize": true}
  token-classification   POST /ner        {"inputs": "text" | ["t1", ...]}
  feature-extraction     POST /embed_all  {"inputs": "text" | ["t1", ...]}
  question-answering     POST /answer     {"inputs": {"question": "q", "context": "c"} | [{...}, ...], "top_k": 1}
  zero-shot-classification
                         POST /zero-shot  {"inputs": "text" | ["t1", ...], "candidate_labels": ["a", "b"]}
  text-ranking           POST /rerank     {"query": "q", "texts": ["passage 1", ...], "return_text": false}
Every endpoint takes "truncate": true to cut inputs longer than the model accepts (else 422).
Also: GET /health, GET /info, GET /metrics (Prometheus), GET /docs (OpenAPI).

Concurrent requests are batched (bounded by --max-batch-size, --max-batch-tokens and --max-wait-ms)
and run one batch at a time off the event loop. A full queue answers 429. On SIGTERM the server stops
accepting connections, finishes the requests it has, and exits 0.
"""

EPILOG = """\
examples:
  # ONNX Runtime, graph-optimized and int8-quantized, on port 8080 of this machine; the first start
  # exports the model into the artifact cache (--cache-dir), later starts reuse it
  onnx-pipelines serve ./models/bbc-news-minilm --task text-classification --optimize O2 --quantize dynamic

  # sentence embeddings for other machines, small batches, short waits
  onnx-pipelines serve ./all-MiniLM-L6-v2 --task sentence-embeddings --host 0.0.0.0 \\
      --max-batch-size 16 --max-wait-ms 2

  # exactly what `onnx-pipelines tune` chose (its recipe names the model and the task)
  onnx-pipelines serve --recipe tune-out/recipe.json

  # every request alone (to measure what batching buys)
  onnx-pipelines serve ./models/bbc-news-minilm --task text-classification --no-batching

  # then
  curl -s localhost:8080/predict -H 'content-type: application/json' -d '{"inputs": "Shares rose."}'

  # the same app under uvicorn, configured by ONNX_PIPELINES_* variables
  ONNX_PIPELINES_MODEL=./models/bbc-news-minilm ONNX_PIPELINES_TASK=text-classification \\
      uvicorn --factory onnx_pipelines.serving:create_app_from_env --port 8080

See docs/serving.md for the API, limits, metrics and deployment.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` options to ``parser`` (shared by the subcommand and ``python -m``)."""
    parser.add_argument("model", nargs="?", help="local model folder (the server never loads models named by "
                        "requests); optional with --recipe, which names it")
    parser.add_argument(
        "--task",
        help=f"task to serve, one endpoint each (see above); this install supports {', '.join(supported_tasks())} "
        "(optional with --recipe)",
    )
    parser.add_argument("--recipe", metavar="FILE",
                        help="serve exactly what a recipe file builds (e.g. the recipe.json of onnx-pipelines tune); "
                        "no --optimize/--quantize/--runtime/--precision with it")
    # The model is exported, optimized and quantized on the first start, then reused from the cache.
    add_variant_options(parser)
    add_runtime_options(parser)
    # Development only: serve the plain PyTorch model, as the baseline the ONNX variants are compared against.
    parser.add_argument("--backend", choices=BACKENDS, default="onnx", help=argparse.SUPPRESS)

    server = parser.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    server.add_argument("--port", type=int, default=8080, help="TCP port (default: %(default)s)")
    server.add_argument(
        "--graceful-timeout",
        type=int,
        default=30,
        metavar="SECONDS",
        help="longest wait for in-flight requests after SIGTERM (default: %(default)s)",
    )
    server.add_argument(
        "--log-level", default="info", choices=("critical", "error", "warning", "info", "debug")
    )

    limits = parser.add_argument_group("batching and limits")
    limits.add_argument(
        "--max-batch-size", type=int, default=_DEFAULTS.max_batch_size, help="most inputs per model call"
    )
    limits.add_argument(
        "--max-batch-tokens",
        type=int,
        default=_DEFAULTS.max_batch_tokens,
        help="token budget per model call, as inputs x longest input (default: %(default)s)",
    )
    limits.add_argument(
        "--max-wait-ms",
        type=float,
        default=_DEFAULTS.max_wait_ms,
        help="how long a request waits for others to share its batch (default: %(default)s)",
    )
    limits.add_argument(
        "--max-queue",
        type=int,
        default=_DEFAULTS.max_queue,
        help="waiting requests before 429 (default: %(default)s)",
    )
    limits.add_argument(
        "--max-input-items",
        type=int,
        default=_DEFAULTS.max_input_items,
        help="inputs per request before 422 (default: %(default)s)",
    )
    limits.add_argument(
        "--max-payload-bytes",
        type=int,
        default=_DEFAULTS.max_payload_bytes,
        help="request body size before 413 (default: %(default)s)",
    )
    limits.add_argument(
        "--no-batching",
        dest="batching",
        action="store_false",
        help="run every request alone, in arrival order",
    )


def settings_from_args(args: argparse.Namespace) -> ServingSettings:
    """Build :class:`ServingSettings` from parsed ``serve`` options.

    Raises:
        InvalidConfigError: A limit is out of range.
    """
    return ServingSettings(
        max_batch_size=args.max_batch_size,
        max_batch_tokens=args.max_batch_tokens,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
        max_input_items=args.max_input_items,
        max_payload_bytes=args.max_payload_bytes,
        batching=args.batching,
    )


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``serve`` subcommand to the main ``onnx-pipelines`` parser."""
    parser = subparsers.add_parser(
        "serve",
        help="serve a model over HTTP (TEI-style API, dynamic batching, Prometheus metrics)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the model and serve it until SIGTERM or SIGINT.

    Returns:
        0 after a clean shutdown; 1 if the server failed to start; 2 without the ``serve`` extra.

    Raises:
        OnnxPipelinesError: A bad model or option (``onnx-pipelines`` prints it and exits with 2).
    """
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    logging.getLogger("onnx_pipelines").setLevel(args.log_level.upper())  # export progress at "info"
    try:
        from onnx_pipelines.serving.factory import create_app
        from onnx_pipelines.serving.server import run_server
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in _SERVE_EXTRA_MODULES:
            raise
        print(
            f"onnx-pipelines serve: error: {e.name} is not installed; "
            "install the serve extra: pip install 'onnx-pipelines[serve]'",
            file=sys.stderr,
        )
        return 2
    runtime = {k: v for k, v in (("runtime", args.runtime), ("precision", args.precision))
               if v not in (None, "onnxruntime")}  # only when asked: the pytorch backend takes no ONNX options
    model, task = args.model, args.task
    if args.recipe:
        from onnx_pipelines.recipes import recipe_model, recipe_task

        model, task = model or recipe_model(args.recipe), task or recipe_task(args.recipe)
        runtime["recipe"] = args.recipe
    elif model is None or task is None:
        raise InvalidConfigError("serve needs MODEL and --task (or --recipe FILE, which names both).")
    app = create_app(
        model,
        task,
        optimize=args.optimize,
        quantize=args.quantize,
        provider=args.provider,
        cache_dir=args.cache_dir,
        intra_op_threads=args.threads,
        settings=settings_from_args(args),
        backend=args.backend,
        **runtime,
    )
    return run_server(
        app,
        host=args.host,
        port=args.port,
        graceful_timeout_s=args.graceful_timeout,
        log_level=args.log_level,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m onnx_pipelines.serving`` (same options as ``onnx-pipelines serve``)."""
    parser = argparse.ArgumentParser(
        prog="python -m onnx_pipelines.serving",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except OnnxPipelinesError as e:  # as onnx-pipelines' own main does
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
