"""Open one of our pipeline classes on an artifact run by OpenVINO (the same classes ONNX Runtime uses)."""

from __future__ import annotations

from typing import Any

from onnx_pipelines.cache import Artifact
from onnx_pipelines.openvino_runner import OpenVinoSettings, open_openvino_runner
from onnx_pipelines.tasks import TaskSpec


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

    from onnx_pipelines.loaders import cap_max_length
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


__all__ = ["openvino_pipeline", "openvino_variant_name", "pipeline_from_runner"]
