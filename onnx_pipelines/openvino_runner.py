"""OpenVINO as a second runtime: the same exported ONNX artifact, compiled by ``openvino.Core``.

:class:`OpenVinoRunner` is a :class:`~onnx_pipelines.session_runner.ModelRunner` (``input_names``,
``output_names``, ``run(encoded, output_names=None)``), so export validation, parity and the pipelines feed it
exactly as they feed an ONNX Runtime session.

Every setting that changes answers or speed is set by us, never left to OpenVINO's defaults:

* ``INFERENCE_PRECISION_HINT`` is always set. OpenVINO's CPU plugin silently runs fp32 graphs in bf16 on
  CPUs with AVX512-BF16 or AMX; here ``precision="fp32"`` means ``f32`` and bf16 is only used when asked for,
  and refused on CPUs without it (OpenVINO itself accepts the hint there and quietly stays in f32).
* ``INFERENCE_NUM_THREADS`` (one per physical core unless given) and ``PERFORMANCE_HINT`` (``LATENCY``:
  one stream, every thread on one request, as our ONNX Runtime sessions run).

openvino and nncf come with the ``[openvino]`` extra and are imported only when used.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from onnx_pipelines.errors import InvalidConfigError, ProviderUnavailableError

#: Precisions a pipeline can ask for. ``int8`` on OpenVINO is an NNCF-quantized graph run with f32 elsewhere.
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8")
#: ``int8-plain``: the int8 recipe without the int8 guard (a build matter; it runs as ``int8``).
PLAIN_INT8 = "int8-plain"
RUNTIMES: tuple[str, ...] = ("onnxruntime", "openvino")
PERFORMANCE_HINTS: tuple[str, ...] = ("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT")

#: ``INFERENCE_PRECISION_HINT`` per precision: int8 graphs carry their own int8 ops, the rest stays f32.
_INFERENCE_PRECISION = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
_EXTRA_HINT = 'pip install "onnx-pipelines[openvino]"'


def import_openvino() -> Any:
    """Import and return the ``openvino`` module.

    Raises:
        ProviderUnavailableError: openvino is not installed; the message names the extra to install.
    """
    try:
        import openvino
    except ImportError as e:
        raise ProviderUnavailableError(
            f"runtime='openvino' needs the openvino package, which is not installed: {_EXTRA_HINT} "
            "(or use runtime='onnxruntime')."
        ) from e
    return openvino


def check_runtime(runtime: str) -> str:
    """Normalize a runtime name (``onnxruntime``/``ort``, ``openvino``/``ov``).

    Raises:
        InvalidConfigError: Any other name; the message lists the valid ones.
    """
    key = str(runtime).strip().lower()
    key = {"ort": "onnxruntime", "ov": "openvino"}.get(key, key)
    if key not in RUNTIMES:
        raise InvalidConfigError(f"runtime={runtime!r} is not one of {', '.join(RUNTIMES)}.")
    return key


def check_precision(precision: str) -> str:
    """Normalize a precision name (``fp32``/``f32``, ``bf16``, ``int8``, ``int8-plain``: int8 without the guard).

    Raises:
        InvalidConfigError: Any other name; the message lists the valid ones.
    """
    key = str(precision).strip().lower()
    key = {"f32": "fp32", "float32": "fp32", "bfloat16": "bf16"}.get(key, key)
    if key not in (*PRECISIONS, PLAIN_INT8):
        raise InvalidConfigError(f"precision={precision!r} is not one of {', '.join((*PRECISIONS, PLAIN_INT8))}.")
    return key


def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of this machine from ``/proc/cpuinfo`` (empty where it is absent)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


@lru_cache(maxsize=1)
def openvino_capabilities() -> frozenset[str]:
    """OpenVINO's ``OPTIMIZATION_CAPABILITIES`` of the CPU device (``FP32``, ``INT8``, ``BF16`` ...)."""
    openvino = import_openvino()
    return frozenset(str(c) for c in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def has_bf16() -> bool:
    """Whether this CPU runs bf16 natively: OpenVINO says ``BF16`` and the CPU has AVX512-BF16 or AMX-BF16."""
    flags = cpu_flags()
    native = bool(flags & {"avx512_bf16", "amx_bf16"}) or not flags  # no /proc/cpuinfo: trust OpenVINO alone
    return native and "BF16" in openvino_capabilities()


def check_bf16_available() -> None:
    """Raise unless :func:`has_bf16`.

    Raises:
        InvalidConfigError: This CPU has no native bf16; the message names what is missing and the way out.
    """
    if not has_bf16():
        flags = sorted(cpu_flags() & {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8"})
        raise InvalidConfigError(
            "precision='bf16' needs a CPU with native bf16 (AVX512-BF16 or AMX: Intel Cooper Lake / Sapphire "
            f"Rapids or newer, AMD Zen 4 or newer); this one has {', '.join(flags) or 'none of those flags'} and "
            f"OpenVINO reports {', '.join(sorted(openvino_capabilities()))}. Use precision='fp32', or "
            "precision='int8'."
        )


@dataclass(frozen=True)
class OpenVinoSettings:
    """How an OpenVINO model is compiled.

    Attributes:
        precision: ``fp32``, ``bf16`` or ``int8`` (the graph must then be NNCF-quantized; ``int8-plain``, a
            build without the int8 guard, compiles as ``int8``).
        threads: ``INFERENCE_NUM_THREADS``; ``None``: one per physical core.
        performance_hint: ``LATENCY`` (one stream; our default, like the ONNX Runtime sessions),
            ``THROUGHPUT`` or ``CUMULATIVE_THROUGHPUT``.

    Raises:
        InvalidConfigError: An unknown precision or hint, or a negative thread count.
    """

    precision: str = "fp32"
    threads: int | None = None
    performance_hint: str = "LATENCY"

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", check_precision(self.precision).removesuffix("-plain"))
        if self.performance_hint not in PERFORMANCE_HINTS:
            raise InvalidConfigError(
                f"performance_hint={self.performance_hint!r} is not one of {', '.join(PERFORMANCE_HINTS)}."
            )
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 0):
            raise InvalidConfigError(f"threads must be a non-negative integer or None, got {self.threads!r}.")

    def compile_config(self) -> dict[str, Any]:
        """The properties passed to ``compile_model``: every one set explicitly."""
        import psutil

        threads = self.threads or psutil.cpu_count(logical=False) or 1
        return {
            "INFERENCE_PRECISION_HINT": _INFERENCE_PRECISION[self.precision],
            "INFERENCE_NUM_THREADS": int(threads),
            "PERFORMANCE_HINT": self.performance_hint,
        }


class OpenVinoRunner:
    """A compiled OpenVINO model behind the :class:`~onnx_pipelines.session_runner.ModelRunner` interface.

    Feeds the inputs the graph declares with the dtypes it declares (``token_type_ids`` zero-filled when the
    graph wants it and the tokenizer gave none). Each thread gets its own infer request, so one compiled model
    can serve concurrent callers.

    Attributes:
        compiled: The ``openvino.CompiledModel``.
        settings: How it was compiled.
        input_names: Graph inputs, in declaration order.
        output_names: Graph outputs, in declaration order.

    Example:
        >>> runner = open_openvino_runner("export/model.onnx", OpenVinoSettings("fp32"))  # doctest: +SKIP
        >>> runner.run(tokenizer(["a text"], return_tensors="np"))["logits"].shape  # doctest: +SKIP
        (1, 5)
    """

    def __init__(self, compiled: Any, settings: OpenVinoSettings) -> None:
        self.compiled = compiled
        self.settings = settings
        self.input_names: tuple[str, ...] = tuple(port.get_any_name() for port in compiled.inputs)
        self.output_names: tuple[str, ...] = tuple(port.get_any_name() for port in compiled.outputs)
        self._dtypes = {port.get_any_name(): _numpy_dtype(port.get_element_type()) for port in compiled.inputs}
        self._local = threading.local()

    @property
    def runtime(self) -> str:
        return "openvino"

    @property
    def precision(self) -> str:
        return self.settings.precision

    def _request(self) -> Any:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return request

    def run(self, encoded: Mapping[str, Any], output_names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Run one batch of tokenizer output (numpy or torch) and return the named outputs (all when ``None``).

        Raises:
            KeyError: An input the graph needs is missing from ``encoded``.
            InvalidConfigError: An output name the graph does not have.
        """
        feed = {}
        for name in self.input_names:
            value: Any = encoded.get(name)
            if value is None and name == "token_type_ids":
                value = np.zeros_like(_array(encoded["input_ids"]))
            elif value is None:
                value = encoded[name]  # KeyError naming the missing input
            array = _array(value)
            dtype = self._dtypes[name]
            feed[name] = np.ascontiguousarray(array if array.dtype == dtype else array.astype(dtype))
        wanted = tuple(output_names) if output_names is not None else self.output_names
        unknown = [name for name in wanted if name not in self.output_names]
        if unknown:
            raise InvalidConfigError(f"The model has no output {unknown}; its outputs are {list(self.output_names)}.")
        request = self._request()
        request.infer(feed)
        # Copy: the request reuses its output buffers on the next call.
        return {name: np.array(request.get_tensor(name).data, copy=True) for name in wanted}


def open_openvino_runner(model_path: str | Path, settings: OpenVinoSettings | None = None) -> OpenVinoRunner:
    """Read an ONNX (or OpenVINO IR ``.xml``) model and compile it for the CPU with ``settings``.

    Raises:
        ProviderUnavailableError: openvino is not installed.
        InvalidConfigError: bf16 asked for on a CPU without it.
    """
    openvino = import_openvino()
    settings = settings or OpenVinoSettings()
    if settings.precision == "bf16":
        check_bf16_available()
    core = openvino.Core()
    model = core.read_model(str(model_path))
    compiled = core.compile_model(model, "CPU", settings.compile_config())
    return OpenVinoRunner(compiled, settings)


def _array(value: Any) -> np.ndarray:
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def _numpy_dtype(element_type: Any) -> Any:
    name = str(element_type.get_type_name()) if hasattr(element_type, "get_type_name") else str(element_type)
    return {"i32": np.int32, "i64": np.int64, "f32": np.float32, "boolean": np.bool_}.get(name, np.int64)


__all__ = [
    "PRECISIONS",
    "RUNTIMES",
    "OpenVinoRunner",
    "OpenVinoSettings",
    "check_bf16_available",
    "check_precision",
    "check_runtime",
    "has_bf16",
    "import_openvino",
    "open_openvino_runner",
]
