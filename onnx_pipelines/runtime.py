"""ONNX Runtime execution providers and session options."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from onnx_pipelines.errors import InvalidConfigError, ProviderUnavailableError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
_SHORT_NAMES = {"cpu": CPU, "cuda": CUDA, "gpu": CUDA, "tensorrt": TENSORRT, "trt": TENSORRT}

#: ONNX Runtime graph fusions left out on CPU. ``SkipLayerNormFusion`` turns ``Add`` + ``LayerNormalization``
#: into ``SkipLayerNormalization``, whose CPU kernel (onnxruntime 1.32) is a scalar loop: 250 us vs 40 us for
#: the unfused pair on a 128x384 tensor, 1.0 ms vs 0.13 ms at 512x384, i.e. ~2.5 ms of a 12 ms int8 MiniLM
#: call at 128 tokens (docs/performance.md). The fusion stays on for GPU providers, where its kernel is fast.
CPU_DISABLED_OPTIMIZERS: tuple[str, ...] = ("SkipLayerNormFusion",)


def available_providers() -> list[str]:
    """Execution providers this onnxruntime build offers.

    Raises:
        ProviderUnavailableError: When both ``onnxruntime`` and ``onnxruntime-gpu`` are installed: they ship
            the same module and overwrite each other's files, so neither can be trusted.
    """
    import onnxruntime

    check_single_onnxruntime()
    return list(onnxruntime.get_available_providers())


def check_single_onnxruntime() -> None:
    """Refuse to run when the CPU and GPU builds of onnxruntime are installed side by side."""
    from onnx_pipelines.versions import library_versions

    installed = [f"{name} {v}" for name, v in library_versions(("onnxruntime", "onnxruntime-gpu")).items()]
    if len(installed) > 1:
        raise ProviderUnavailableError(
            f"Both {' and '.join(installed)} are installed; they provide the same module and break each other. "
            "Keep one: for GPU, pip uninstall -y onnxruntime onnxruntime-gpu && pip install --no-deps "
            "onnxruntime-gpu; for CPU, pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime."
        )


@lru_cache(maxsize=1)
def cuda_device_count() -> int:
    """Number of CUDA devices the driver sees (0 without a driver), without importing torch."""
    name = ctypes.util.find_library("cuda") or "libcuda.so.1"
    try:
        libcuda = ctypes.CDLL(name)
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if libcuda.cuInit(0) != 0 or libcuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return int(count.value)


def resolve_provider(provider: str = "auto") -> str:
    """Resolve ``"auto"``, a short name (``cpu``/``cuda``) or a full provider name to a provider.

    ``"auto"`` picks CUDA when onnxruntime-gpu is installed and a GPU is visible, else CPU.

    Raises:
        ProviderUnavailableError: If the provider is not available; the message lists those that are.
    """
    available = available_providers()
    if not isinstance(provider, str) or not provider.strip():
        raise InvalidConfigError(
            f"provider must be a non-empty string such as 'auto', 'cpu', 'cuda'; got {provider!r}."
        )
    key = provider.strip()
    if key.lower() == "auto":
        return CUDA if CUDA in available and cuda_device_count() > 0 else CPU
    name = _SHORT_NAMES.get(key.lower(), key)
    if name not in available:
        hint = (
            " For CUDA, install the GPU build instead of the CPU one: "
            "pip uninstall -y onnxruntime && pip install --no-deps onnxruntime-gpu (see README, GPU install)."
            if name in (CUDA, TENSORRT)
            else ""
        )
        raise ProviderUnavailableError(
            f"Execution provider {provider!r} is not available. Available: {', '.join(available)}.{hint}"
        )
    if name in (CUDA, TENSORRT) and cuda_device_count() == 0:
        raise ProviderUnavailableError(
            f"{name} is installed but no CUDA device is visible (driver missing or CUDA_VISIBLE_DEVICES empty). "
            f"Use provider='cpu' or run on a machine with a GPU. Available: {', '.join(available)}."
        )
    return name


@dataclass(frozen=True)
class RuntimeSettings:
    """How ONNX Runtime sessions are configured.

    Attributes:
        provider: ``"auto"``, ``"cpu"``, ``"cuda"`` or a full provider name.
        intra_op_threads: Threads inside one operator; ``None`` lets ORT use one per physical core.
        inter_op_threads: Threads across independent operators (sequential execution uses 1).
        graph_optimization: ORT's online graph optimization level: ``disable``, ``basic``, ``extended``, ``all``.
        enable_cpu_mem_arena: Keep ORT's CPU memory arena (faster; more resident memory).
        disabled_optimizers: ORT graph transformers to switch off, on top of :data:`CPU_DISABLED_OPTIMIZERS`
            which are always off on the CPU provider.
    """

    provider: str = "auto"
    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    graph_optimization: str = "all"
    enable_cpu_mem_arena: bool = True
    disabled_optimizers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("intra_op_threads", "inter_op_threads"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise InvalidConfigError(f"{name} must be a non-negative integer or None, got {value!r}.")
        if self.graph_optimization not in _GRAPH_LEVELS:
            raise InvalidConfigError(
                f"graph_optimization={self.graph_optimization!r} is not valid; use one of {', '.join(_GRAPH_LEVELS)}."
            )

    def session_options(self, provider: str | None = None) -> Any:
        """Build an ``onnxruntime.SessionOptions`` for ``provider`` (default: resolve ``self.provider``)."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if self.intra_op_threads is not None:
            options.intra_op_num_threads = self.intra_op_threads
        if self.inter_op_threads is not None:
            options.inter_op_num_threads = self.inter_op_threads
        options.graph_optimization_level = getattr(
            onnxruntime.GraphOptimizationLevel, _GRAPH_LEVELS[self.graph_optimization]
        )
        options.enable_cpu_mem_arena = self.enable_cpu_mem_arena
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # Quiet ORT's warnings about initializers it constant-folds; errors still surface.
        options.log_severity_level = int(os.environ.get("ONNX_PIPELINES_ORT_LOG_LEVEL", "3"))
        disabled = list(self.disabled_optimizers)
        if (provider or resolve_provider(self.provider)) == CPU:
            disabled += [name for name in CPU_DISABLED_OPTIMIZERS if name not in disabled]
        if disabled:
            options.add_session_config_entry("optimization.disable_specified_optimizers", ";".join(disabled))
        return options


_GRAPH_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}
