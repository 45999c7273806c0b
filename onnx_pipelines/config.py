"""Settings for the optimize and quantize steps, and variant names such as ``"O2+int8-dynamic"``.

A *variant* is what the parity evaluator and the benchmarks compare: a plain fp32 export, optionally
graph-optimized (``O1``-``O4``) and optionally int8-quantized (dynamic or static). Presets live in one
table each and resolve through one factory, as in sentence-transformers' ONNX backend helpers, so the
artifact's file name says what it holds (``model_O2_qint8_avx512_vnni.onnx``).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from onnx_pipelines.errors import InvalidConfigError

OPTIMIZATION_LEVELS: tuple[str, ...] = ("O1", "O2", "O3", "O4")
#: ``-plain`` modes build the int8 recipe as it comes, without the int8 guard (:mod:`onnx_pipelines.int8_guard`).
QUANTIZE_MODES: tuple[str, ...] = ("dynamic", "static", "dynamic-plain", "static-plain")
PLAIN_SUFFIX = "-plain"
#: OpenVINO variant precisions; ``int8-plain`` is NNCF's int8 without the int8 guard (the one ``-plain`` rule:
#: the suffix on an int8 spelling builds the recipe as it comes).
OPENVINO_PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8", "int8-plain")
CPU_ISAS: tuple[str, ...] = ("avx512_vnni", "avx512", "avx2", "arm64")
#: Version of what quantize.py does beyond the Optimum config (type annotation, float mask ops, entropy
#: bins); part of the cache key so an artifact built by an older recipe is never reused.
QUANTIZE_RECIPE_VERSION = 2


class CalibrationMethod(str, enum.Enum):
    """How static quantization picks activation ranges from calibration data."""

    MINMAX = "minmax"
    ENTROPY = "entropy"
    PERCENTILE = "percentile"


@lru_cache(maxsize=1)
def detect_cpu_isa() -> str:
    """Return the best int8 instruction set of this CPU, one of :data:`CPU_ISAS`.

    Reads ``/proc/cpuinfo`` flags on Linux; ARM machines report ``arm64``; anything unknown falls back
    to ``avx2``, which every x86-64 CPU of the last decade supports.

    Returns:
        ``"avx512_vnni"``, ``"avx512"``, ``"avx2"`` or ``"arm64"``.
    """
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                flags.update(line.split(":", 1)[1].split())
                break
    if "avx512_vnni" in flags or "avx512vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2"


def config_fingerprint(config: Any) -> dict[str, Any]:
    """A JSON-safe dict describing an Optimum config dataclass (enums by value), for cache keys."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        raw = dataclasses.asdict(config)
    else:
        raw = dict(vars(config))
    return json.loads(json.dumps(raw, sort_keys=True, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value if not isinstance(value.value, enum.Enum) else str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(str(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class OptimizeSettings:
    """A resolved graph-optimization step.

    Attributes:
        label: ``"O1"``-``"O4"`` for presets, ``"custom"`` for a user ``OptimizationConfig``.
        config: The Optimum ``OptimizationConfig`` to apply.
    """

    label: str
    config: Any

    @property
    def needs_gpu(self) -> bool:
        """Whether the step produces fp16 graphs that only run on a GPU (``O4`` or ``fp16=True``)."""
        return bool(getattr(self.config, "fp16", False))


@dataclass(frozen=True)
class QuantizeSettings:
    """A resolved int8 quantization step.

    Attributes:
        label: File-name friendly description, e.g. ``"qint8_avx512_vnni"`` or ``"static_minmax_avx512_vnni"``.
        config: The Optimum ``QuantizationConfig``.
        calibration_method: For static quantization, the calibration method.
        calibration_samples: For static quantization, how many dataset rows calibrate the ranges.
        percentile: For the percentile method, the percentile kept.
        guard: Compare the int8 graph with its fp32 parent on real text when it is built, repair it with
            fp32 fallbacks when it misses its task's bound (:mod:`onnx_pipelines.int8_guard`). ``False``
            (the ``-plain`` modes) builds the recipe as it comes.
        isa: The instruction set the preset targets (``None`` for a user ``QuantizationConfig``).
        per_channel: Whether weights are quantized per output channel.
        fp32_nodes: Nodes pinned to fp32 by the caller (a recipe's mixed-precision fallbacks), passed to the
            quantizer as ``nodes_to_exclude``; part of the cache key through the config. The guard may keep
            more nodes in fp32 on top of these.
    """

    label: str
    config: Any
    calibration_method: CalibrationMethod | None = None
    calibration_samples: int = 128
    percentile: float = 99.999
    isa: str | None = None
    per_channel: bool = True
    guard: bool = True
    fp32_nodes: tuple[str, ...] = ()

    @property
    def is_static(self) -> bool:
        """Whether activations are quantized with ranges calibrated on data."""
        return bool(self.config.is_static)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this step in the cache key (bump :data:`QUANTIZE_RECIPE_VERSION` when our recipe changes)."""
        data: dict[str, Any] = {
            "label": self.label,
            "config": config_fingerprint(self.config),
            "recipe": QUANTIZE_RECIPE_VERSION,
        }
        if not self.guard:
            data["guard"] = False
        if self.is_static:
            data.update(
                calibration_method=self.calibration_method.value if self.calibration_method else None,
                calibration_samples=self.calibration_samples,
                percentile=self.percentile,
            )
        return data


#: Preset fusions left out when the graph will run on CPU: onnxruntime's CPU ``SkipLayerNormalization`` kernel
#: is a scalar loop, 6-8x slower than the ``Add`` + ``LayerNormalization`` it replaces (see
#: :data:`onnx_pipelines.runtime.CPU_DISABLED_OPTIMIZERS`, which keeps ORT from re-fusing them at load time).
CPU_PRESET_OVERRIDES: dict[str, bool] = {
    "disable_skip_layer_norm_fusion": True,
    "disable_bias_skip_layer_norm_fusion": True,
}


def resolve_optimize(optimize: Any, *, for_cpu: bool = True) -> OptimizeSettings | None:
    """Turn ``None``, ``"O1"``-``"O4"`` or an Optimum ``OptimizationConfig`` into :class:`OptimizeSettings`.

    Args:
        optimize: The user's value.
        for_cpu: Tune presets for the CPU provider (:data:`CPU_PRESET_OVERRIDES`); ``O4`` (fp16, GPU only)
            and user ``OptimizationConfig`` objects are used as given.

    Raises:
        InvalidConfigError: For any other value.
    """
    if optimize is None:
        return None
    from optimum.onnxruntime.configuration import AutoOptimizationConfig, OptimizationConfig

    if isinstance(optimize, OptimizationConfig):
        return OptimizeSettings(label="custom", config=optimize)
    if isinstance(optimize, str) and optimize.upper() in OPTIMIZATION_LEVELS:
        level = optimize.upper()
        overrides = CPU_PRESET_OVERRIDES if for_cpu and level != "O4" else {}
        return OptimizeSettings(label=level, config=AutoOptimizationConfig.with_optimization_level(level, **overrides))
    raise InvalidConfigError(
        f"optimize={optimize!r} is not valid. Use None, one of {', '.join(OPTIMIZATION_LEVELS)} "
        "(O4 = O3 + fp16, GPU only), or an optimum.onnxruntime.OptimizationConfig."
    )


def resolve_quantize(
    quantize: Any,
    *,
    isa: str | None = None,
    per_channel: bool = True,
    calibration_method: str | CalibrationMethod = CalibrationMethod.MINMAX,
    calibration_samples: int = 128,
    percentile: float = 99.999,
    fp32_nodes: Sequence[str] = (),
) -> QuantizeSettings | None:
    """Turn ``None``, ``"dynamic"``, ``"static"`` or an Optimum ``QuantizationConfig`` into settings.

    The int8 recipe is chosen for the CPU it runs on (``avx512_vnni`` / ``avx512`` / ``avx2`` / ``arm64``)
    unless ``isa`` names one.

    Args:
        quantize: The user's value.
        isa: Force an instruction set instead of detecting it.
        per_channel: Quantize weights per output channel (Optimum's default). Measured on all-MiniLM-L6-v2
            after O2: min cosine to sentence-transformers 0.990 per channel vs 0.951 per tensor (the Optimum
            docs' ``per_channel=False`` recipe).
        calibration_method: ``minmax``, ``entropy`` or ``percentile`` (static only).
        calibration_samples: Rows of the calibration dataset to use (static only).
        percentile: Percentile kept by the ``percentile`` method.
        fp32_nodes: Node names to keep in fp32 (``nodes_to_exclude``), e.g. the fallbacks a recipe pins.

    Raises:
        InvalidConfigError: For an unknown mode, instruction set or calibration method, or ``fp32_nodes``
            that are not a list of node names.
    """
    if quantize is None:
        return None
    pinned = _node_names(fp32_nodes)
    if pinned:
        settings = resolve_quantize(quantize, isa=isa, per_channel=per_channel,
                                    calibration_method=calibration_method,
                                    calibration_samples=calibration_samples, percentile=percentile)
        assert settings is not None  # quantize is not None
        excluded = list(dict.fromkeys([*(settings.config.nodes_to_exclude or []), *pinned]))
        return dataclasses.replace(settings, config=dataclasses.replace(settings.config, nodes_to_exclude=excluded),
                                   fp32_nodes=pinned)
    from optimum.onnxruntime.configuration import AutoQuantizationConfig, QuantizationConfig

    if isinstance(quantize, QuantizationConfig):
        kind = "static" if quantize.is_static else "qint8"
        return QuantizeSettings(
            label=f"{kind}_custom",
            config=quantize,
            per_channel=bool(getattr(quantize, "per_channel", True)),
            calibration_method=_calibration_method(calibration_method) if quantize.is_static else None,
            calibration_samples=calibration_samples,
            percentile=percentile,
        )
    if not isinstance(quantize, str) or quantize.lower() not in QUANTIZE_MODES:
        raise InvalidConfigError(
            f"quantize={quantize!r} is not valid. Use None, 'dynamic' (int8, no data needed), "
            "'static' (int8 calibrated on a dataset: pass calibration_dataset=...), "
            "'dynamic-plain' / 'static-plain' (the same recipes without the int8 accuracy guard), "
            "or an optimum.onnxruntime.QuantizationConfig."
        )
    guard = not quantize.lower().endswith(PLAIN_SUFFIX)
    quantize = quantize.lower().removesuffix(PLAIN_SUFFIX)
    plain = "" if guard else "_plain"
    isa = isa or detect_cpu_isa()
    if isa not in CPU_ISAS:
        raise InvalidConfigError(f"isa={isa!r} is not valid; use one of {', '.join(CPU_ISAS)}.")
    is_static = quantize.lower() == "static"
    factory = getattr(AutoQuantizationConfig, isa)
    if is_static:
        # Static int8 for transformers: QDQ format, symmetric weights; ORT fuses QDQ pairs into int8 kernels.
        config = factory(is_static=True, per_channel=per_channel)
        method = _calibration_method(calibration_method)
        label = f"static_{method.value}_{isa}{'' if per_channel else '_per_tensor'}{plain}"
        return QuantizeSettings(
            label=label,
            config=config,
            calibration_method=method,
            calibration_samples=calibration_samples,
            percentile=percentile,
            isa=isa,
            per_channel=per_channel,
            guard=guard,
        )
    config = factory(is_static=False, per_channel=per_channel)
    return QuantizeSettings(label=f"qint8_{isa}{'' if per_channel else '_per_tensor'}{plain}", config=config, isa=isa,
                            per_channel=per_channel, guard=guard)


def _node_names(nodes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(nodes, str) or not all(isinstance(n, str) and n for n in nodes):
        raise InvalidConfigError(
            f"fp32_nodes={nodes!r} is not valid: pass a list of graph node names, e.g. "
            "['/encoder/layer.0/output/dense/MatMul'] (onnx-pipelines inspect MODEL --sensitivity lists them)."
        )
    return tuple(dict.fromkeys(nodes))


def _calibration_method(value: str | CalibrationMethod) -> CalibrationMethod:
    try:
        return CalibrationMethod(value)
    except ValueError as e:
        allowed = ", ".join(m.value for m in CalibrationMethod)
        raise InvalidConfigError(f"calibration_method={value!r} is not valid; use one of {allowed}.") from e


def variant_name(optimize: str | None, quantize: str | None) -> str:
    """The one spelling of a variant: ``fp32``, ``O2``, ``int8-dynamic``, ``O2+int8-static``, ``custom+int8-dynamic``.

    Args:
        optimize: The optimization label (``"O1"``-``"O4"``, ``"custom"``) or ``None``.
        quantize: ``"dynamic"``, ``"static"`` or ``None``.
    """
    parts = [p for p in (optimize, f"int8-{quantize}" if quantize else None) if p]
    return "+".join(parts) if parts else "fp32"


@dataclass(frozen=True)
class Variant:
    """A named variant: optional graph optimization, then optional int8 quantization, on a runtime.

    Spelled ``fp32``, ``O1``..``O4``, ``int8-dynamic``, ``int8-static`` or ``O2+int8-dynamic`` etc. on ONNX
    Runtime; ``openvino:fp32``, ``openvino:bf16``, ``openvino:int8`` (also ``openvino+int8``) on OpenVINO,
    which reads the plain fp32 export and brings its own graph fusions and (NNCF) int8; ``openvino:int8-plain``
    is that int8 without the int8 guard, as ``int8-dynamic-plain`` is on ONNX Runtime.

    Example:
        >>> Variant.parse("O2+int8-dynamic")
        Variant(optimize='O2', quantize='dynamic', runtime='onnxruntime', precision=None)
        >>> Variant.parse("openvino+int8").name
        'openvino:int8'
    """

    optimize: str | None = None
    quantize: str | None = None
    runtime: str = "onnxruntime"
    precision: str | None = None  # OpenVINO only: fp32, bf16, int8 or int8-plain

    def __post_init__(self) -> None:
        if self.optimize is not None and self.optimize not in OPTIMIZATION_LEVELS:
            raise InvalidConfigError(
                f"Variant optimize level {self.optimize!r} is not one of {', '.join(OPTIMIZATION_LEVELS)}."
            )
        if self.quantize is not None and self.quantize not in QUANTIZE_MODES:
            raise InvalidConfigError(
                f"Variant quantize mode {self.quantize!r} is not one of {', '.join(QUANTIZE_MODES)}."
            )
        # --- runtime/precision (issue 15) ---
        if self.runtime not in ("onnxruntime", "openvino"):
            raise InvalidConfigError(f"Variant runtime {self.runtime!r} is not one of onnxruntime, openvino.")
        if self.runtime == "openvino":
            if self.optimize is not None or self.quantize is not None:
                raise InvalidConfigError(
                    "OpenVINO variants read the plain fp32 export (OpenVINO fuses the graph itself, and quantizes "
                    "with NNCF): use openvino:fp32, openvino:bf16 or openvino:int8, without O1-O4 or int8-dynamic."
                )
            object.__setattr__(self, "precision", self.precision or "fp32")
            if self.precision not in OPENVINO_PRECISIONS:
                raise InvalidConfigError(
                    f"OpenVINO precision {self.precision!r} is not one of {', '.join(OPENVINO_PRECISIONS)}.")
        elif self.precision is not None:
            raise InvalidConfigError(
                f"precision={self.precision!r} is for OpenVINO variants; on ONNX Runtime say int8-dynamic or "
                "int8-static (bf16 has no ONNX Runtime CPU kernels on x86: use openvino:bf16)."
            )

    @property
    def name(self) -> str:
        """The canonical spelling, e.g. ``"O2+int8-dynamic"`` or ``"openvino:bf16"``."""
        if self.runtime == "openvino":
            return f"openvino:{self.precision}"
        return variant_name(self.optimize, self.quantize)

    @property
    def calibrates(self) -> bool:
        """Whether building it needs calibration texts: int8-static, and OpenVINO's NNCF int8."""
        return str(self.quantize).startswith("static") or (
            self.runtime == "openvino" and str(self.precision).startswith("int8"))

    @classmethod
    def parse(cls, spec: str) -> Variant:
        """Parse a variant name.

        Raises:
            InvalidConfigError: If the spec is not a known spelling.
        """
        text = spec.strip()
        if not text:
            raise InvalidConfigError("Empty variant name; use e.g. fp32, O2, int8-dynamic, O2+int8-dynamic.")
        head, _, rest = text.replace(":", "+", 1).partition("+")
        if head.strip().lower() in ("openvino", "ov"):
            precision = rest.strip().lower() or "fp32"
            if precision not in OPENVINO_PRECISIONS:
                raise InvalidConfigError(_bad_variant(spec))
            return cls(runtime="openvino", precision=precision)
        optimize: str | None = None
        quantize: str | None = None
        for part in text.split("+"):
            token = part.strip()
            if token.lower() == "fp32":
                continue
            if token.upper() in OPTIMIZATION_LEVELS and optimize is None:
                optimize = token.upper()
            elif token.lower().startswith("int8-") and quantize is None:
                quantize = token.lower().removeprefix("int8-")
                if quantize not in QUANTIZE_MODES:
                    raise InvalidConfigError(_bad_variant(spec))
            else:
                raise InvalidConfigError(_bad_variant(spec))
        return cls(optimize=optimize, quantize=quantize)

    def __str__(self) -> str:
        return self.name


def _bad_variant(spec: str) -> str:
    return (
        f"Unknown variant {spec!r}. Use fp32, O1, O2, O3, O4, int8-dynamic, int8-static (or int8-dynamic-plain, "
        "int8-static-plain: without the int8 guard), an optimization level joined with a quantization, "
        "e.g. O2+int8-dynamic, or an OpenVINO variant: openvino:fp32, openvino:bf16, openvino:int8 "
        "(openvino:int8-plain: without the int8 guard)."
    )


def parse_variants(specs: str | list[str] | tuple[str, ...]) -> list[Variant]:
    """Parse a comma-separated string or a list of variant names, keeping order and dropping repeats."""
    items = specs.split(",") if isinstance(specs, str) else list(specs)
    seen: dict[str, Variant] = {}
    for item in items:
        variant = Variant.parse(item)
        seen.setdefault(variant.name, variant)
    if not seen:
        raise InvalidConfigError("No variants given; use e.g. --variants fp32,O2,O2+int8-dynamic.")
    return list(seen.values())
