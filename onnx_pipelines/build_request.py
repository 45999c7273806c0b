"""One resolved build request: what to build (task, model, optimize, quantize, calibration) and how to run it.

Every entry point — :func:`~onnx_pipelines.load_pipeline`, the ``export`` / ``optimize`` / ``quantize`` /
``predict`` / ``serve`` / ``bench`` commands, the parity evaluator — turns the user's settings into a
:class:`BuildRequest` through :func:`resolve_build_request` and nothing else, so the same settings always
build the same graphs. The request is frozen and serializable (:meth:`BuildRequest.to_dict`,
:meth:`BuildRequest.from_dict`): a saved request is a recipe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onnx_pipelines.config import (
    PLAIN_SUFFIX,
    CalibrationMethod,
    OptimizeSettings,
    QuantizeSettings,
    resolve_optimize,
    resolve_quantize,
    variant_name,
)
from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.model_source import ModelSource, resolve_model
from onnx_pipelines.runtime import CPU, RuntimeSettings, resolve_provider
from onnx_pipelines.tasks import TaskSpec, get_task
from onnx_pipelines.text_column import column_items

#: Version of :meth:`BuildRequest.to_dict`'s layout.
REQUEST_FORMAT = 1


@dataclass(frozen=True)
class BuildRequest:
    """Everything needed to build one ONNX variant of a model and open it.

    Made by :func:`resolve_build_request` only; consumed by
    :func:`~onnx_pipelines.artifacts.build_artifact` and :func:`~onnx_pipelines.pipeline.open_pipeline`.

    Attributes:
        task: The task's registry entry.
        source: The resolved model (a local folder; hub ids are downloaded by the resolver).
        optimize: The graph-optimization step, or ``None``.
        quantize: The int8 step, or ``None``.
        runtime: ONNX Runtime session settings; ``runtime.provider`` is the resolved provider name.
        calibration_texts: Texts that calibrate static int8 (``None`` unless ``quantize`` is static).
        trust_remote_code: Passed to the exporter.
        validate: Compare fp32 graphs with PyTorch on real text when building them.
        opset: ONNX opset to export with (Optimum's default when ``None``).
    """

    task: TaskSpec
    source: ModelSource
    optimize: OptimizeSettings | None = None
    quantize: QuantizeSettings | None = None
    runtime: RuntimeSettings = field(default_factory=lambda: RuntimeSettings(provider=CPU))
    calibration_texts: tuple[str, ...] | None = None
    trust_remote_code: bool = False
    validate: bool = True
    opset: int | None = None

    @property
    def provider(self) -> str:
        """The resolved ONNX Runtime execution provider, e.g. ``"CPUExecutionProvider"``."""
        return self.runtime.provider

    @property
    def engine(self) -> str:
        """The runtime that runs the graph: ``onnxruntime`` or ``openvino``."""
        return self.runtime.engine

    @property
    def precision(self) -> str:
        """``fp32``, ``bf16`` or ``int8`` (ONNX Runtime: ``int8`` when quantized, else ``fp32``; OpenVINO's
        ``int8-plain``, int8 without the guard, is ``int8`` here and in the variant name's suffix)."""
        if self.runtime.precision is not None:
            return self.runtime.precision.removesuffix(PLAIN_SUFFIX)
        return "int8" if self.quantize is not None else "fp32"

    @property
    def variant(self) -> str:
        """``fp32``, ``O2``, ``int8-dynamic``, ``O2+int8-static``, ``openvino:bf16``, ... as reports name it."""
        if self.runtime.engine == "openvino":  # issue 15
            return f"openvino:{self.runtime.precision or 'fp32'}"
        return variant_name(
            self.optimize.label if self.optimize else None,
            None if self.quantize is None else self.quantize_mode,
        )

    @property
    def quantize_mode(self) -> str | None:
        """``"dynamic"``, ``"static"``, ``"dynamic-plain"`` or ``"static-plain"`` (without the int8 guard)."""
        if self.quantize is None:
            return None
        return ("static" if self.quantize.is_static else "dynamic") + ("" if self.quantize.guard else PLAIN_SUFFIX)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description that :meth:`from_dict` resolves back to an equal request.

        Raises:
            InvalidConfigError: For requests built from user Optimum config objects (they have no name).
        """
        if (self.optimize and self.optimize.label == "custom") or (
            self.quantize and self.quantize.label.endswith("_custom")
        ):
            raise InvalidConfigError(
                "A request built from an Optimum OptimizationConfig/QuantizationConfig object cannot be saved: "
                "use a preset name (optimize='O2', quantize='dynamic') to get a reproducible recipe."
            )
        quantize: dict[str, Any] | None = None
        if self.quantize is not None:
            quantize = {
                "mode": self.quantize_mode,
                "isa": self.quantize.isa,
                "per_channel": self.quantize.per_channel,
                "fp32_nodes": list(self.quantize.fp32_nodes),
            }
            if self.quantize.is_static:
                assert self.quantize.calibration_method is not None  # static settings always carry one
                quantize.update(calibration_method=self.quantize.calibration_method.value,
                                calibration_samples=self.quantize.calibration_samples,
                                percentile=self.quantize.percentile)
        return {
            "format": REQUEST_FORMAT,
            "task": self.task.name,
            "model": self.source.hub_id or str(self.source.path),
            "revision": self.source.revision,
            "optimize": self.optimize.label if self.optimize else None,
            "quantize": quantize,
            "provider": self.runtime.provider,
            "intra_op_threads": self.runtime.intra_op_threads,
            "runtime": self.runtime.engine,
            "precision": self.runtime.precision,
            "calibration_texts": list(self.calibration_texts) if self.calibration_texts is not None else None,
            "trust_remote_code": self.trust_remote_code,
            "validate": self.validate,
            "opset": self.opset,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BuildRequest:
        """Resolve a saved request (the output of :meth:`to_dict`) again.

        Raises:
            InvalidConfigError: An unknown format or a malformed entry; plus whatever
                :func:`resolve_build_request` raises for the values it holds.
        """
        if not isinstance(data, Mapping) or data.get("format") != REQUEST_FORMAT:
            raise InvalidConfigError(
                f"Not a saved build request of format {REQUEST_FORMAT} (got format "
                f"{data.get('format') if isinstance(data, Mapping) else type(data).__name__!r}). "
                "Save one with BuildRequest.to_dict()."
            )
        quantize = data.get("quantize") or {}
        if not isinstance(quantize, Mapping):
            raise InvalidConfigError(f"'quantize' must be an object or null, got {quantize!r}.")
        return resolve_build_request(
            data["task"], data["model"], revision=data.get("revision"),
            optimize=data.get("optimize"), quantize=quantize.get("mode"),
            isa=quantize.get("isa"), per_channel=quantize.get("per_channel", True),
            calibration_method=quantize.get("calibration_method", CalibrationMethod.MINMAX),
            calibration_samples=quantize.get("calibration_samples", 128),
            percentile=quantize.get("percentile", 99.999),
            fp32_nodes=quantize.get("fp32_nodes") or (),
            calibration_dataset=data.get("calibration_texts"),
            provider=data.get("provider", "auto"), intra_op_threads=data.get("intra_op_threads"),
            runtime=data.get("runtime", "onnxruntime"), precision=data.get("precision"),
            trust_remote_code=bool(data.get("trust_remote_code", False)),
            validate=bool(data.get("validate", True)), opset=data.get("opset"),
        )


def resolve_build_request(
    task: str | TaskSpec,
    model: str | Path | ModelSource,
    *,
    optimize: str | Any | None = None,
    quantize: str | Any | None = None,
    provider: str = "auto",
    intra_op_threads: int | None = None,
    calibration_dataset: Any = None,
    calibration_method: str | CalibrationMethod = CalibrationMethod.MINMAX,
    calibration_samples: int = 128,
    percentile: float = 99.999,
    text_column: str = "text",
    isa: str | None = None,
    per_channel: bool = True,
    trust_remote_code: bool = False,
    revision: str | None = None,
    token: str | None = None,
    validate: bool = True,
    opset: int | None = None,
    runtime: str = "onnxruntime",
    precision: str | None = None,
    fp32_nodes: Sequence[str] = (),
) -> BuildRequest:
    """Check and resolve every build setting once; the only way a :class:`BuildRequest` is made.

    Cheap checks run here, before anything slow: the task name, the optimize level and quantize mode, that
    the provider exists and fits the level (fp16 ``O4`` needs a GPU), the model folder (or hub download),
    that the model's head fits the task, and that static int8 has calibration texts.

    Args:
        task: A task name (or alias) from :func:`~onnx_pipelines.tasks.supported_tasks`, or its spec.
        model: A local model folder, a folder holding ``model.onnx``, a hub id (needs internet), or a
            resolved :class:`~onnx_pipelines.model_source.ModelSource`.
        optimize: ``None``, ``"O1"``-``"O4"`` or an Optimum ``OptimizationConfig``.
        quantize: ``None``, ``"dynamic"``, ``"static"`` or an Optimum ``QuantizationConfig``.
        provider: ``"auto"``, ``"cpu"``, ``"cuda"`` or a full ONNX Runtime provider name.
        intra_op_threads: ONNX Runtime intra-op threads (``None``: one per physical core).
        calibration_dataset: Texts (a list, or a ``datasets.Dataset`` with ``text_column``) for static int8.
        calibration_method: ``minmax``, ``entropy`` or ``percentile``.
        calibration_samples: How many calibration texts to keep.
        percentile: Percentile kept by the ``percentile`` method.
        text_column: Column of ``calibration_dataset`` holding the text.
        isa: Force an int8 instruction set (default: this CPU's best).
        per_channel: Quantize weights per output channel.
        trust_remote_code: Allow custom model code from the hub.
        revision: Hub revision, for hub ids.
        token: Hub token, for private hub models.
        validate: Check fp32 graphs against PyTorch on real text when building them.
        opset: ONNX opset to export with.
        runtime: ``"onnxruntime"`` or ``"openvino"`` (the ``[openvino]`` extra): OpenVINO compiles the plain
            fp32 export itself.
        precision: ``"fp32"``, ``"bf16"`` (OpenVINO on CPUs with AVX512-BF16/AMX) or ``"int8"`` (ONNX
            Runtime: ``quantize="dynamic"`` unless given; OpenVINO: NNCF, calibrated on
            ``calibration_dataset``, with the int8 guard); ``"int8-plain"``: the same int8 without the guard;
            ``None``: fp32, or int8 when ``quantize`` is given.
        fp32_nodes: Graph nodes to keep in fp32 when quantizing (a recipe's pinned mixed-precision fallbacks).

    Returns:
        The frozen request.

    Raises:
        UnsupportedTaskError, InvalidConfigError, ProviderUnavailableError, ModelNotFoundError,
        InvalidModelError, TaskMismatchError: see :mod:`onnx_pipelines.errors`.

    Example:
        >>> request = resolve_build_request("text-classification", "models/bbc", optimize="O2",
        ...                                 quantize="dynamic")  # doctest: +SKIP
        >>> request.variant  # doctest: +SKIP
        'O2+int8-dynamic'
    """
    from onnx_pipelines.export import check_head

    spec = task if isinstance(task, TaskSpec) else get_task(task)
    # --- runtime/precision (issue 15) ---
    engine, precision, quantize = resolve_runtime(runtime, precision, optimize=optimize, quantize=quantize,
                                                  provider=provider)
    runtime_settings = RuntimeSettings(provider=resolve_provider(provider), intra_op_threads=intra_op_threads,
                                       engine=engine, precision=precision if engine == "openvino" else None)
    optimize_settings = resolve_optimize(optimize, for_cpu=runtime_settings.provider == CPU)
    quantize_settings = resolve_quantize(quantize, isa=isa, per_channel=per_channel,
                                         calibration_method=calibration_method,
                                         calibration_samples=calibration_samples, percentile=percentile,
                                         fp32_nodes=fp32_nodes)
    if fp32_nodes and quantize_settings is None:
        raise InvalidConfigError("fp32_nodes keeps nodes out of int8, so it needs quantize='dynamic' or 'static'.")
    check_provider_fits(optimize_settings, runtime_settings.provider)
    calibration = None
    if quantize_settings is not None and quantize_settings.is_static:
        calibration = calibration_texts(calibration_dataset, text_column, quantize_settings.calibration_samples)
    elif engine == "openvino" and str(precision).startswith("int8"):  # NNCF calibrates on the user's texts
        if calibration_dataset is None:
            raise InvalidConfigError(
                "runtime='openvino', precision='int8' quantizes with NNCF, which calibrates on real texts: pass "
                "calibration_dataset= a list of texts or a datasets.Dataset like the data the model will see."
            )
        calibration = calibration_texts(calibration_dataset, text_column, calibration_samples)
    source = model if isinstance(model, ModelSource) else resolve_model(model, revision=revision, token=token)
    check_head(source.config(), spec, source.path)
    return BuildRequest(task=spec, source=source, optimize=optimize_settings, quantize=quantize_settings,
                        runtime=runtime_settings, calibration_texts=calibration, trust_remote_code=trust_remote_code,
                        validate=validate, opset=opset)


def check_provider_fits(optimize: OptimizeSettings | None, provider: str) -> None:
    """fp16 graphs (O4) only run on a GPU: say so instead of silently running them slowly or wrongly.

    Raises:
        InvalidConfigError: fp16 optimization on the CPU provider.
    """
    if optimize is not None and optimize.needs_gpu and provider == CPU:
        raise InvalidConfigError(
            f"optimize={optimize.label!r} converts the graph to fp16, which needs a GPU (CUDA provider), "
            "but this runs on CPUExecutionProvider. Use O3 on CPU, or install onnx-pipelines[gpu] on a "
            "machine with a GPU and pass provider='cuda'."
        )


def calibration_texts(dataset: Any, column: str, samples: int) -> tuple[str, ...]:
    """The first ``samples`` texts of a calibration dataset (a list of texts or a ``datasets.Dataset``).

    Raises:
        InvalidConfigError: No dataset, an empty one, a missing column, or a type that holds no texts.
    """
    if dataset is None:
        raise InvalidConfigError(
            "quantize='static' needs calibration data: pass calibration_dataset= a list of texts or a "
            "datasets.Dataset (a sample of the data the model will see), or use quantize='dynamic'."
        )
    texts = [str(t) for t in column_items(dataset, column, what="calibration_dataset", error=InvalidConfigError,
                                          column_option="text_column")]
    if not texts:
        raise InvalidConfigError("calibration_dataset is empty: pass at least one text.")
    return tuple(texts[:samples])


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
    from onnx_pipelines.openvino_runner import check_precision, check_runtime

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
