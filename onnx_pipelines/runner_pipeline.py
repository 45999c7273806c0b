"""Open one of our pipeline classes on an artifact run by OpenVINO (the same classes ONNX Runtime uses)."""

from __future__ import annotations

from typing import Any

from onnx_pipelines.cache import Artifact
from onnx_pipelines.config import PLAIN_SUFFIX
from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.openvino_runner import OpenVinoSettings, check_precision, check_runtime, open_openvino_runner
from onnx_pipelines.tasks import TaskSpec


def resolve_runtime(runtime: str, precision: str | None, *, optimize: Any, quantize: Any,
                    provider: str) -> tuple[str, str | None, Any]:
    """Check ``runtime``/``precision`` against the other build options; returns ``(runtime, precision, quantize)``.

    On ONNX Runtime, ``precision="int8"`` without ``quantize`` means ``quantize="dynamic"`` (``"int8-plain"``:
    ``"dynamic-plain"``), ``"fp32"`` means no quantization, and ``"bf16"`` is refused (no bf16 kernels in its
    x86 CPU provider). On OpenVINO the precision defaults to ``fp32`` and the graph is the plain export;
    ``"int8"`` is NNCF's int8 with the int8 guard, ``"int8-plain"`` the same without it.

    Raises:
        InvalidConfigError: An unknown runtime or precision, a combination that cannot be built, or bf16 on a
            CPU without it.
        ProviderUnavailableError: runtime='openvino' without the ``[openvino]`` extra.
    """
    runtime = check_runtime(runtime)
    precision = None if precision is None else check_precision(precision)
    if runtime == "onnxruntime":
        if precision == "bf16":
            raise InvalidConfigError(
                "precision='bf16' has no ONNX Runtime CPU kernels on x86 (its bf16 fast-math option is ARM64-only): "
                "use runtime='openvino', precision='bf16' on a CPU with AVX512-BF16 or AMX."
            )
        if precision == "fp32" and quantize is not None:
            raise InvalidConfigError(f"precision='fp32' contradicts quantize={quantize!r}: drop one of them.")
        if precision == "int8" and quantize is None:
            quantize = "dynamic"
        if precision == "int8-plain":
            if quantize is None:
                quantize = "dynamic-plain"
            elif not str(quantize).endswith(PLAIN_SUFFIX):
                raise InvalidConfigError(
                    f"precision='int8-plain' (int8 without the guard) contradicts quantize={quantize!r}: say "
                    f"quantize='{quantize}-plain', or drop precision."
                )
        return runtime, precision, quantize
    if optimize is not None or quantize is not None:
        raise InvalidConfigError(
            f"runtime='openvino' reads the plain fp32 export (OpenVINO fuses the graph itself and quantizes with "
            f"NNCF), so optimize={optimize!r} / quantize={quantize!r} do not apply: drop them and pass "
            "precision='int8' for OpenVINO's int8."
        )
    if str(provider).strip().lower() not in ("auto", "cpu", "cpuexecutionprovider"):
        raise InvalidConfigError(f"runtime='openvino' runs on the CPU; provider={provider!r} is for ONNX Runtime.")
    if precision == "bf16":
        from onnx_pipelines.openvino_runner import check_bf16_available

        check_bf16_available()  # before any export: fail fast on CPUs without bf16
    return runtime, precision or "fp32", None


def openvino_variant_name(precision: str) -> str:
    """``openvino:fp32``, ``openvino:bf16``, ``openvino:int8``: how reports and ``pipe.variant`` name them."""
    return f"openvino:{precision}"


def pipeline_from_runner(spec: TaskSpec, artifact: Artifact, runner: Any, *, variant: str, runtime: str,
                         precision: str, **pipeline_kwargs: Any) -> Any:
    """Wrap ``runner`` in a :class:`~onnx_pipelines.runner_model.RunnerModel` and the task's pipeline class.

    Args:
        spec: The task.
        artifact: The artifact folder (config, tokenizer, pooling files) the runner's graph came from.
        runner: A :class:`~onnx_pipelines.session_runner.ModelRunner`.
        variant: What ``pipe.variant`` says, e.g. ``"openvino:bf16"``.
        runtime: ``"openvino"`` (what ``pipe.runtime`` says).
        precision: ``"fp32"``, ``"bf16"`` or ``"int8"`` (what ``pipe.precision`` says).
        **pipeline_kwargs: Passed to ``transformers.pipeline``.
    """
    import transformers
    from transformers import AutoConfig, AutoTokenizer

    from onnx_pipelines.pipeline import cap_max_length
    from onnx_pipelines.runner_model import RunnerModel

    config = AutoConfig.from_pretrained(artifact.path)
    model = RunnerModel.for_config(runner, config, artifact.path)
    tokenizer = AutoTokenizer.from_pretrained(artifact.path)
    cap_max_length(tokenizer, config)
    if spec.name == "sentence-embeddings":
        from onnx_pipelines.pipelines.sentence_embeddings import PoolingConfig

        pipeline_kwargs.setdefault("pooling", PoolingConfig.from_folder(artifact.path))
    pipe = transformers.pipeline(  # type: ignore[call-overload]
        spec.pipeline_task,
        model=model,
        tokenizer=tokenizer,
        framework="pt",
        pipeline_class=spec.load_pipeline_class(),
        **pipeline_kwargs,
    )
    pipe.artifact = artifact
    pipe.variant = variant
    pipe.provider = "openvino:CPU" if runtime == "openvino" else runtime
    pipe.runtime = runtime
    pipe.precision = precision
    return pipe


def openvino_pipeline(spec: TaskSpec, artifact: Artifact, settings: OpenVinoSettings,
                      **pipeline_kwargs: Any) -> Any:
    """Compile ``artifact`` with OpenVINO under ``settings`` and open the task's pipeline on it.

    Raises:
        ProviderUnavailableError: openvino is not installed.
        InvalidConfigError: bf16 on a CPU without it.
    """
    runner = open_openvino_runner(artifact.model_path, settings)
    return pipeline_from_runner(spec, artifact, runner, variant=openvino_variant_name(settings.precision),
                                runtime="openvino", precision=settings.precision, **pipeline_kwargs)


__all__ = ["openvino_pipeline", "openvino_variant_name", "pipeline_from_runner",
           "resolve_runtime"]
