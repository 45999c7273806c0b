"""``load_pipeline``: a model folder or hub id in, a ``transformers.Pipeline`` on ONNX Runtime out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from onnx_pipelines.artifacts import build_variant
from onnx_pipelines.cache import Artifact, ArtifactCache
from onnx_pipelines.config import (
    CalibrationMethod,
    OptimizeSettings,
    QuantizeSettings,
    resolve_optimize,
    resolve_quantize,
)
from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.model_source import ModelSource, resolve_model
from onnx_pipelines.runtime import CPU, RuntimeSettings, resolve_provider
from onnx_pipelines.support_check import require_supported
from onnx_pipelines.tasks import TaskSpec, get_task

logger = logging.getLogger(__name__)

#: Rows tokenized for static calibration are padded to this many tokens (ranges need one shape).
CALIBRATION_MAX_LENGTH = 128


def load_pipeline(
    task: str,
    model: str | Path,
    *,
    optimize: str | Any | None = None,
    quantize: str | Any | None = None,
    provider: str = "auto",
    cache_dir: str | Path | None = None,
    calibration_dataset: Any = None,
    calibration_method: str | CalibrationMethod = CalibrationMethod.MINMAX,
    calibration_samples: int = 128,
    text_column: str = "text",
    intra_op_threads: int | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
    token: str | None = None,
    validate: bool = True,
    progress: Callable[[str], None] | None = None,
    **pipeline_kwargs: Any,
) -> Any:
    """Export (or reuse from the cache), optimize, quantize, and wrap the model in a transformers pipeline.

    Args:
        task: A task from :func:`~onnx_pipelines.tasks.supported_tasks`, e.g. ``"text-classification"``.
        model: A local model folder, a folder already holding ``model.onnx``, or a hub id (needs internet).
        optimize: ``None``, ``"O1"``-``"O4"`` or an Optimum ``OptimizationConfig``. ``O4`` is fp16 and needs
            a GPU.
        quantize: ``None``, ``"dynamic"``, ``"static"`` (needs ``calibration_dataset``) or an Optimum
            ``QuantizationConfig``. The int8 recipe is picked for this CPU (avx512_vnni/avx512/avx2/arm64).
        provider: ``"auto"`` (CUDA when onnxruntime-gpu sees a GPU, else CPU), ``"cpu"``, ``"cuda"`` or a
            full ONNX Runtime provider name.
        cache_dir: Artifact cache folder (default ``~/.cache/onnx-pipelines`` or ``$ONNX_PIPELINES_CACHE``).
        calibration_dataset: Texts (a list, or a ``datasets.Dataset`` with ``text_column``) for static int8.
        calibration_method: ``minmax``, ``entropy`` or ``percentile``.
        calibration_samples: How many calibration rows to use.
        text_column: Column of ``calibration_dataset`` holding the text.
        intra_op_threads: ONNX Runtime intra-op threads (``None``: one per physical core).
        trust_remote_code: Allow custom model code from the hub (off by default).
        revision: Hub revision, for hub ids.
        token: Hub token, for private hub models.
        validate: Check fp32 graphs against PyTorch on real text when building them.
        progress: Called with a message before each long step (export, optimize, quantize).
        **pipeline_kwargs: Passed to ``transformers.pipeline`` (e.g. ``batch_size``, ``top_k``).

    Returns:
        A ``transformers.Pipeline`` whose ``artifact`` attribute describes the ONNX artifact it runs.

    Raises:
        UnsupportedTaskError, ModelNotFoundError, InvalidModelError, TaskMismatchError,
        UnsupportedArchitectureError, InvalidConfigError, ProviderUnavailableError, ExportError,
        CorruptModelError: see :mod:`onnx_pipelines.errors`.

    Example:
        >>> clf = load_pipeline("text-classification", "bbc", optimize="O2", quantize="dynamic")  # doctest: +SKIP
        >>> clf(["Shares rose 5% after the results"])  # doctest: +SKIP
        [{'label': 'business', 'score': 0.93}]
    """
    spec = get_task(task)
    runtime = RuntimeSettings(provider=provider, intra_op_threads=intra_op_threads)
    provider_name = resolve_provider(provider)
    optimize_settings = resolve_optimize(optimize, for_cpu=provider_name == CPU)
    quantize_settings = resolve_quantize(
        quantize, calibration_method=calibration_method, calibration_samples=calibration_samples
    )
    check_provider_fits(optimize_settings, provider_name)
    source = resolve_model(model, revision=revision, token=token)
    if source.onnx_file is None:  # issue 14: the support check fails an unsupported plan before the export
        require_supported(source.path, spec, optimize=optimize_settings, quantize=quantize_settings,
                          provider=provider_name, trust_remote_code=trust_remote_code)
    calibration = None
    if quantize_settings is not None and quantize_settings.is_static:
        calibration = calibration_batches(source, calibration_dataset, quantize_settings, text_column)
    artifact = build_variant(
        source,
        spec,
        optimize=optimize_settings,
        quantize=quantize_settings,
        cache=ArtifactCache(cache_dir),
        calibration_batches=calibration,
        trust_remote_code=trust_remote_code,
        validate=validate,
        progress=progress or (lambda message: logger.info("%s", message)),
    )
    return pipeline_from_artifact(spec, artifact, runtime, provider_name,
                                  variant=variant_name(optimize_settings, quantize_settings), **pipeline_kwargs)


def check_provider_fits(optimize: OptimizeSettings | None, provider: str) -> None:
    """fp16 graphs (O4) only run on a GPU: say so instead of silently running them slowly or wrongly."""
    if optimize is not None and optimize.needs_gpu and provider == CPU:
        raise InvalidConfigError(
            f"optimize={optimize.label!r} converts the graph to fp16, which needs a GPU (CUDA provider), "
            "but this runs on CPUExecutionProvider. Use O3 on CPU, or install onnx-pipelines[gpu] on a "
            "machine with a GPU and pass provider='cuda'."
        )


def variant_name(optimize: OptimizeSettings | None, quantize: QuantizeSettings | None) -> str:
    """``fp32``, ``O2``, ``int8-dynamic``, ``O2+int8-static``, ... for reports and ``/info``."""
    parts = []
    if optimize is not None:
        parts.append(optimize.label)
    if quantize is not None:
        parts.append("int8-static" if quantize.is_static else "int8-dynamic")
    return "+".join(parts) or "fp32"


def pipeline_from_artifact(spec: TaskSpec, artifact: Artifact, runtime: RuntimeSettings, provider: str,
                           *, variant: str = "fp32", **pipeline_kwargs: Any) -> Any:
    """Load an ONNX artifact folder into an ``ORTModelFor...`` and wrap it in the task's pipeline."""
    import transformers
    from transformers import AutoTokenizer

    ort_model = spec.load_ort_class().from_pretrained(
        artifact.path,
        file_name=artifact.model_file,
        provider=provider,
        session_options=runtime.session_options(provider),
        use_io_binding=provider != CPU,
    )
    tokenizer = AutoTokenizer.from_pretrained(artifact.path)
    cap_max_length(tokenizer, ort_model.config)
    if spec.name == "sentence-embeddings":
        from onnx_pipelines.pipelines.sentence_embeddings import PoolingConfig

        pipeline_kwargs.setdefault("pooling", PoolingConfig.from_folder(artifact.path))
    pipe = transformers.pipeline(  # type: ignore[call-overload]
        spec.pipeline_task,
        model=ort_model,
        tokenizer=tokenizer,
        pipeline_class=spec.load_pipeline_class(),
        **pipeline_kwargs,
    )
    pipe.artifact = artifact
    pipe.variant = variant
    pipe.provider = provider
    return pipe


def cap_max_length(tokenizer: Any, config: Any) -> None:
    """Some tokenizers report a huge ``model_max_length``; truncation must stop at the position limit."""
    limit = getattr(config, "max_position_embeddings", None)
    if limit and (tokenizer.model_max_length is None or tokenizer.model_max_length > limit):
        tokenizer.model_max_length = int(limit)


def calibration_batches(source: ModelSource, dataset: Any, settings: QuantizeSettings,
                        text_column: str) -> list[dict[str, Any]]:
    """Tokenize the first ``settings.calibration_samples`` texts of ``dataset`` for static calibration."""
    from transformers import AutoTokenizer

    if dataset is None:
        raise InvalidConfigError(
            "quantize='static' needs calibration data: pass calibration_dataset= a list of texts or a "
            "datasets.Dataset (a sample of the data the model will see), or use quantize='dynamic'."
        )
    texts = _texts(dataset, text_column)[: settings.calibration_samples]
    if not texts:
        raise InvalidConfigError("calibration_dataset is empty: pass at least one text.")
    tokenizer = AutoTokenizer.from_pretrained(source.path)
    encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=CALIBRATION_MAX_LENGTH,
                        return_tensors="np")
    return [dict(encoded)]


def _texts(dataset: Any, column: str) -> list[str]:
    if isinstance(dataset, str):
        raise InvalidConfigError("calibration_dataset must be a list of texts or a datasets.Dataset, not a str.")
    column_names = getattr(dataset, "column_names", None)
    if column_names is not None:
        if column not in column_names:
            raise InvalidConfigError(
                f"calibration_dataset has no column {column!r} (columns: {', '.join(column_names)}); "
                "pass text_column=..."
            )
        return [str(t) for t in dataset[column]]
    if isinstance(dataset, Iterable):
        return [str(t) for t in dataset]
    raise InvalidConfigError(f"calibration_dataset of type {type(dataset).__name__} is not a list or Dataset.")
