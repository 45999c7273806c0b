"""``load_pipeline``: a model folder or hub id in, a ``transformers.Pipeline`` on ONNX Runtime out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from onnx_pipelines.artifacts import build_artifact
from onnx_pipelines.build_request import BuildRequest, resolve_build_request
from onnx_pipelines.cache import Artifact, ArtifactCache
from onnx_pipelines.config import CalibrationMethod
from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.runtime import CPU

logger = logging.getLogger(__name__)


def load_pipeline(
    task: str | None = None,
    model: str | Path | None = None,
    *,
    recipe: str | Path | None = None,
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
    runtime: str = "onnxruntime",
    precision: str | None = None,
    **pipeline_kwargs: Any,
) -> Any:
    """Export (or reuse from the cache), optimize, quantize, and wrap the model in a transformers pipeline.

    Args:
        task: A task from :func:`~onnx_pipelines.tasks.supported_tasks`, e.g. ``"text-classification"``
            (optional with ``recipe``: the recipe names it; a different one is an error).
        model: A local model folder, a folder already holding ``model.onnx``, or a hub id (needs internet).
            With ``recipe``: build the recipe for this folder instead of the one it names.
        recipe: A recipe file (:mod:`onnx_pipelines.recipes`, e.g. the ``recipe.json`` that
            ``onnx-pipelines tune`` writes): exactly what to build. It fixes optimize, quantize, calibration,
            runtime and precision, so passing any of those too is an error; ``provider`` and
            ``intra_op_threads`` override the recipe's.
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
        runtime: ``"onnxruntime"`` (default) or ``"openvino"`` (the ``[openvino]`` extra): the same exported
            graph, compiled by OpenVINO with its precision, threads and performance hint set explicitly.
        precision: ``"fp32"``, ``"bf16"`` (OpenVINO, CPUs with AVX512-BF16/AMX only) or ``"int8"`` (ONNX
            Runtime: ``quantize="dynamic"`` unless given; OpenVINO: NNCF on ``calibration_dataset``).
            ``pipe.variant`` names it (``"openvino:bf16"``); so does ``pipe.precision``.
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
        >>> clf = load_pipeline(recipe="tune-out/recipe.json")  # doctest: +SKIP
    """
    if recipe is not None:
        fixed = {"optimize": optimize, "quantize": quantize, "calibration_dataset": calibration_dataset,
                 "precision": precision, "runtime": None if runtime == "onnxruntime" else runtime,
                 "revision": revision}
        request = recipe_request(recipe, task, model, fixed=fixed, provider=None if provider == "auto" else provider,
                                 intra_op_threads=intra_op_threads)
    elif task is None or model is None:
        raise InvalidConfigError("load_pipeline needs a task and a model (or recipe=PATH, which names both): "
                                 "load_pipeline('text-classification', 'path/to/model', optimize='O2').")
    else:
        request = resolve_build_request(
            task, model, optimize=optimize, quantize=quantize, provider=provider, intra_op_threads=intra_op_threads,
            calibration_dataset=calibration_dataset, calibration_method=calibration_method,
            calibration_samples=calibration_samples, text_column=text_column, trust_remote_code=trust_remote_code,
            revision=revision, token=token, validate=validate, runtime=runtime, precision=precision,
        )
    artifact = build_artifact(request, cache=ArtifactCache(cache_dir),
                              progress=progress or (lambda message: logger.info("%s", message)))
    return open_pipeline(request, artifact, **pipeline_kwargs)


def recipe_request(recipe: str | Path, task: str | None, model: str | Path | None, *,
                   fixed: dict[str, Any] | None = None, provider: str | None = None,
                   intra_op_threads: int | None = None) -> BuildRequest:
    """Resolve a recipe for an entry point that may also name the task and the model.

    Args:
        recipe: The recipe file.
        task: The task the caller named (``None``: the recipe's); it must be the recipe's.
        model: Build for this model instead of the recipe's (``None``: the recipe's).
        fixed: Build settings the caller passed too, by name (``None`` = not passed); any passed one is an
            error, since the recipe fixes them.
        provider: Run on this provider instead of the recipe's.
        intra_op_threads: ONNX Runtime threads instead of the recipe's.

    Raises:
        InvalidConfigError: A conflicting task or setting, or a bad recipe
            (:func:`~onnx_pipelines.recipes.load_recipe`).
    """
    from onnx_pipelines.recipes import load_recipe, recipe_task
    from onnx_pipelines.tasks import get_task

    given = sorted(name for name, value in (fixed or {}).items() if value is not None)
    if given:
        raise InvalidConfigError(
            f"recipe={str(recipe)!r} fixes what to build, so {', '.join(given)} cannot be passed as well: drop "
            f"{'them' if len(given) > 1 else 'it'}, or edit the recipe (or build without recipe=)."
        )
    named = recipe_task(recipe)
    if task is not None and get_task(task).name != get_task(named).name:
        raise InvalidConfigError(
            f"task={task!r} conflicts with the recipe {str(recipe)!r}, which builds {named!r}: drop task=, or use a "
            "recipe tuned for that task."
        )
    return load_recipe(recipe, model=model, provider=provider, intra_op_threads=intra_op_threads)


def open_pipeline(request: BuildRequest, artifact: Artifact, *, variant: str | None = None,
                  **pipeline_kwargs: Any) -> Any:
    """Open a built artifact in the task's pipeline class, configured by the request's runtime settings.

    Args:
        request: The resolved request the artifact was built for (task, provider, threads).
        artifact: The artifact folder and graph file to load.
        variant: The name reports use (default: the request's, e.g. ``"O2+int8-dynamic"``).
        **pipeline_kwargs: Passed to ``transformers.pipeline`` (e.g. ``batch_size``, ``top_k``).

    Returns:
        The pipeline, with ``artifact``, ``request``, ``variant`` and ``provider`` attributes.
    """
    import transformers

    from onnx_pipelines.loaders import cap_max_length, load_tokenizer

    if request.engine == "openvino":  # issue 15: our same pipeline classes, on an OpenVINO runner
        from onnx_pipelines.runner_pipeline import pipeline_from_runner
        from onnx_pipelines.session_runner import open_runner

        pipe = pipeline_from_runner(request.task, artifact, open_runner(artifact.model_path, request.runtime),
                                    variant=variant or request.variant, runtime="openvino",
                                    precision=request.precision, **pipeline_kwargs)
        pipe.request = request
        _name_guarded_nodes(pipe, artifact)
        return pipe
    spec, provider = request.task, request.provider
    ort_model = spec.load_ort_class().from_pretrained(
        artifact.path,
        file_name=artifact.model_file,
        provider=provider,
        session_options=request.runtime.session_options(provider),
        use_io_binding=provider != CPU,
    )
    tokenizer = load_tokenizer(artifact.path)
    cap_max_length(tokenizer, ort_model.config)
    pipe = transformers.pipeline(  # type: ignore[call-overload]
        spec.pipeline_task,
        model=ort_model,
        tokenizer=tokenizer,
        pipeline_class=spec.load_pipeline_class(),
        **pipeline_kwargs,
    )
    pipe.artifact = artifact
    pipe.request = request
    pipe.variant = variant or request.variant
    _name_guarded_nodes(pipe, artifact)
    pipe.provider = provider
    pipe.runtime, pipe.precision = request.engine, request.precision
    return pipe


def _name_guarded_nodes(pipe: Any, artifact: Artifact) -> None:
    """int8 guard (issue 11; OpenVINO's NNCF int8 too): ``pipe.int8_guard`` and which nodes stayed fp32."""
    guard = artifact.manifest.get("int8_guard")
    pipe.int8_guard = guard
    if isinstance(guard, dict) and guard.get("fp32_nodes"):
        pipe.variant = f"{pipe.variant} ({len(guard['fp32_nodes'])} nodes fp32)"

