"""The search space of ``tune``: which build recipes it tries, and how each becomes a build request.

A :class:`TuneCandidate` is one point of the space: a variant (``O2+int8-dynamic``, ``openvino:int8`` ...) plus
the int8 knobs a variant name does not say (per-channel weights, the static calibration method). Its name
spells all of them (``O2+int8-static-percentile``, ``O2+int8-dynamic-per-tensor``) and is parsed back by
:func:`parse_candidate`, so ``--space`` takes either a named space or a list of such names.

Named spaces (:data:`SPACES`):

* ``small`` (default): ``O2`` (fp32, the safe fallback), ``O1/O2/O3+int8-dynamic``, ``O2+int8-dynamic-per-tensor``,
  ``O2+int8-static-minmax``, ``O2+int8-static-percentile``; plus ``openvino:fp32`` and ``openvino:int8`` when the
  ``[openvino]`` extra is installed, and ``openvino:bf16`` where the CPU has bf16 instructions.
* ``wide``: ``O1``-``O3`` fp32, and ``O1``-``O3`` x {dynamic, static x {minmax, entropy, percentile}} x
  {per-channel, per-tensor}; the same OpenVINO candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onnx_pipelines.config import CalibrationMethod, Variant
from onnx_pipelines.errors import InvalidConfigError

PER_TENSOR_SUFFIX = "-per-tensor"
_LEVELS = ("O1", "O2", "O3")


@dataclass(frozen=True)
class TuneCandidate:
    """One recipe ``tune`` builds, judges and times.

    Attributes:
        variant: The variant (optimize level, int8 mode, runtime, precision).
        per_channel: int8 weights quantized per output channel (ONNX Runtime int8 only).
        calibration_method: Static int8's calibration method (``None`` otherwise).
    """

    variant: Variant
    per_channel: bool = True
    calibration_method: CalibrationMethod | None = None

    def __post_init__(self) -> None:
        static = str(self.variant.quantize).startswith("static")
        if static and self.calibration_method is None:
            object.__setattr__(self, "calibration_method", CalibrationMethod.MINMAX)
        if not static and self.calibration_method is not None:
            raise InvalidConfigError(f"{self.variant.name} is not static int8: it takes no calibration method.")
        if self.variant.quantize is None and not self.per_channel:
            raise InvalidConfigError(f"{self.variant.name} is not ONNX Runtime int8: per-tensor does not apply.")

    @property
    def name(self) -> str:
        """E.g. ``O2+int8-dynamic``, ``O2+int8-static-entropy``, ``O3+int8-dynamic-per-tensor``, ``openvino:int8``."""
        name = self.variant.name
        if self.calibration_method is not None:
            name += f"-{self.calibration_method.value}"
        return name + ("" if self.per_channel else PER_TENSOR_SUFFIX)

    @property
    def file_stem(self) -> str:
        """The name as a file name (``openvino:int8`` -> ``openvino-int8``)."""
        return self.name.replace(":", "-")

    @property
    def calibrates(self) -> bool:
        """Whether building it needs calibration texts."""
        return self.variant.calibrates

    def request_kwargs(self, calibration_texts: Sequence[str] | None) -> dict[str, Any]:
        """Keyword arguments of :func:`~onnx_pipelines.build_request.resolve_build_request` for this candidate."""
        variant = self.variant
        kwargs: dict[str, Any] = {"optimize": variant.optimize, "quantize": variant.quantize,
                                  "runtime": variant.runtime, "precision": variant.precision,
                                  "per_channel": self.per_channel}
        if self.calibrates:
            kwargs.update(calibration_dataset=list(calibration_texts or ()),
                          calibration_samples=max(len(calibration_texts or ()), 1))
        if self.calibration_method is not None:
            kwargs["calibration_method"] = self.calibration_method
        return kwargs


def parse_candidate(text: str) -> TuneCandidate:
    """Parse a candidate name (:attr:`TuneCandidate.name`).

    Raises:
        InvalidConfigError: Not a variant name with the optional ``-METHOD`` / ``-per-tensor`` suffixes.
    """
    name = text.strip()
    per_channel = not name.endswith(PER_TENSOR_SUFFIX)
    name = name.removesuffix(PER_TENSOR_SUFFIX)
    method = None
    for candidate in CalibrationMethod:
        if name.endswith(f"-static-{candidate.value}") or name.endswith(f"-static-plain-{candidate.value}"):
            method, name = candidate, name.removesuffix(f"-{candidate.value}")
    return TuneCandidate(Variant.parse(name), per_channel=per_channel, calibration_method=method)


def openvino_candidates() -> list[TuneCandidate]:
    """``openvino:fp32`` and ``openvino:int8`` when OpenVINO is installed, ``openvino:bf16`` where the CPU has bf16."""
    import importlib.util

    if importlib.util.find_spec("openvino") is None:
        return []
    out = [TuneCandidate(Variant(runtime="openvino", precision=p)) for p in ("fp32", "int8")]
    if cpu_has_bf16():
        out.insert(1, TuneCandidate(Variant(runtime="openvino", precision="bf16")))
    return out


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 compute (AVX512-BF16 or AMX-BF16), read from ``/proc/cpuinfo``."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _small() -> list[TuneCandidate]:
    out = [TuneCandidate(Variant(optimize="O2"))]
    out += [TuneCandidate(Variant(optimize=level, quantize="dynamic")) for level in _LEVELS]
    out.append(TuneCandidate(Variant(optimize="O2", quantize="dynamic"), per_channel=False))
    out += [TuneCandidate(Variant(optimize="O2", quantize="static"), calibration_method=method)
            for method in (CalibrationMethod.MINMAX, CalibrationMethod.PERCENTILE)]
    return out


def _wide() -> list[TuneCandidate]:
    out = [TuneCandidate(Variant(optimize=level)) for level in _LEVELS]
    for level in _LEVELS:
        for per_channel in (True, False):
            out.append(TuneCandidate(Variant(optimize=level, quantize="dynamic"), per_channel=per_channel))
            out += [TuneCandidate(Variant(optimize=level, quantize="static"), per_channel=per_channel,
                                  calibration_method=method) for method in CalibrationMethod]
    return out


#: The named search spaces (ONNX Runtime part; OpenVINO candidates are added where installed).
SPACES = {"small": _small, "wide": _wide}


def search_space(space: str | Sequence[str] = "small", *, openvino: bool | None = None) -> list[TuneCandidate]:
    """The candidates of a named space, or of a comma-separated list / sequence of candidate names.

    Args:
        space: ``"small"``, ``"wide"``, or candidate names (``"O2+int8-dynamic,O2+int8-static-entropy"``).
        openvino: Add the OpenVINO candidates to a named space (``None``: when OpenVINO is installed).

    Raises:
        InvalidConfigError: An unknown space or candidate name, or an empty list.
    """
    if isinstance(space, str) and space.strip().lower() in SPACES:
        out = SPACES[space.strip().lower()]()
        if openvino is not False:
            out += openvino_candidates()
        return out
    items = space.split(",") if isinstance(space, str) else list(space)
    parsed: dict[str, TuneCandidate] = {}
    for item in items:
        if item.strip():
            try:
                candidate = parse_candidate(item)
            except InvalidConfigError as e:
                raise InvalidConfigError(f"--space {item.strip()!r}: {e} Named spaces: {', '.join(SPACES)}.") from e
            parsed.setdefault(candidate.name, candidate)
    if not parsed:
        raise InvalidConfigError(f"Empty search space; use one of {', '.join(SPACES)} or a list of candidate names "
                                 "such as O2+int8-dynamic,O2+int8-static-minmax.")
    return list(parsed.values())
