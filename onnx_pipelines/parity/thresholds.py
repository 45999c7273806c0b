"""Pass/fail limits per precision, and the checks a variant must pass.

Defaults (all overridable per run; ``atol`` never applies to int8):

==============  =========  =============  ================  ==========================================
precision       atol       min agreement  max metric drop   why
==============  =========  =============  ================  ==========================================
``fp32``        1e-4       1.0            0.0 points        fp32 fusions only reorder float sums (~1e-6)
``fp32-approx`` 5e-3       0.99           0.5 points        O3 swaps GELU for its tanh approximation
                                                            (measured 1.3e-3 on MiniLM logits)
``fp16``        1e-2       0.99           0.5 points        O4 / fp16 graphs (GPU) keep 11 mantissa bits
``bf16``        5e-2       0.99           0.5 points        OpenVINO bf16 (AVX512-BF16/AMX CPUs): 8 mantissa
                                                            bits, fp32 accumulation
``int8``        --         0.97           1.0 point         int8 changes logits by design; judge it by
                                                            the answers it gives, not by tensors
==============  =========  =============  ================  ==========================================

NaN or inf in any compared output fails a variant whatever the limits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from onnx_pipelines.config import Variant
from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.graph_info import QUANTIZED_OPS
from onnx_pipelines.guard_bounds import INT8_GUARD_BOUNDS, GuardBound  # noqa: F401  (the int8 guard's table)
from onnx_pipelines.tolerances import ATOL_BY_PRECISION, OPTIMIZATION_PRECISION

PRECISIONS: tuple[str, ...] = ("fp32", "fp32-approx", "fp16", "bf16", "int8")

_APPROX_OPS = frozenset({"FastGelu"})


@dataclass(frozen=True)
class Thresholds:
    """Limits a variant must meet; ``None`` disables a check.

    Attributes:
        atol: Largest absolute difference allowed in any compared output.
        min_agreement: Smallest fraction of examples whose prediction matches the reference's.
        max_metric_drop: Largest drop of the primary metric below the reference, in points (0-100).

    Raises:
        InvalidConfigError: A limit is negative, or ``min_agreement`` is above 1.
    """

    atol: float | None = None
    min_agreement: float | None = None
    max_metric_drop: float | None = None

    def __post_init__(self) -> None:
        for name in ("atol", "min_agreement", "max_metric_drop"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                raise InvalidConfigError(f"{name}={value!r} is not valid: pass a number >= 0, or None.")
        if self.min_agreement is not None and self.min_agreement > 1:
            raise InvalidConfigError(
                f"min_agreement={self.min_agreement!r} is a fraction: pass a number between 0 and 1 (e.g. 0.99)."
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_THRESHOLDS: dict[str, Thresholds] = {
    "fp32": Thresholds(atol=ATOL_BY_PRECISION["fp32"], min_agreement=1.0, max_metric_drop=0.0),
    "fp32-approx": Thresholds(atol=ATOL_BY_PRECISION["fp32-approx"], min_agreement=0.99, max_metric_drop=0.5),
    "fp16": Thresholds(atol=ATOL_BY_PRECISION["fp16"], min_agreement=0.99, max_metric_drop=0.5),
    "bf16": Thresholds(atol=ATOL_BY_PRECISION["bf16"], min_agreement=0.99, max_metric_drop=0.5),
    "int8": Thresholds(atol=None, min_agreement=0.97, max_metric_drop=1.0),
}


# INT8_GUARD_BOUNDS (imported above): the int8 guard's bounds per task (build time, int8 graph vs its fp32
# parent). The table lives in onnx_pipelines/guard_bounds.py so the build chain never imports the parity package.


def variant_precision(variant: Variant) -> str:
    """The precision class of a named variant (one of :data:`PRECISIONS`)."""
    if variant.runtime == "openvino":  # OpenVINO's f32 is exact fp32; bf16 and NNCF int8 are what they say
        return (variant.precision or "fp32").removesuffix("-plain")
    if variant.quantize is not None:
        return "int8"
    return OPTIMIZATION_PRECISION.get(variant.optimize or "", "fp32")


def graph_precision(model_path: Path) -> str:
    """The precision class of a pre-exported graph, read from its operators and weights."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    ops = {node.op_type for node in model.graph.node}
    if ops & QUANTIZED_OPS:
        return "int8"
    if any(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer):
        return "fp16"
    if ops & _APPROX_OPS:
        return "fp32-approx"
    return "fp32"


def resolve_thresholds(precision: str, overrides: Thresholds | None = None) -> Thresholds:
    """The limits for one variant: the precision's defaults, with the user's values where given.

    ``overrides.atol`` applies to every precision but int8 (int8 is judged by agreement and metric).
    """
    base = DEFAULT_THRESHOLDS[precision]
    if overrides is None:
        return base
    atol = base.atol if precision == "int8" or overrides.atol is None else overrides.atol
    return Thresholds(
        atol=atol,
        min_agreement=base.min_agreement if overrides.min_agreement is None else overrides.min_agreement,
        max_metric_drop=base.max_metric_drop if overrides.max_metric_drop is None else overrides.max_metric_drop,
    )


@dataclass(frozen=True)
class Check:
    """One pass/fail verdict on a variant.

    Attributes:
        name: ``build``, ``finite``, ``atol``, ``agreement`` or ``metric_drop``.
        passed: Whether the variant met the limit.
        value: The measured value (``None`` when there is none, e.g. a build that failed).
        limit: The limit it was held to.
        message: One line saying what was measured against what.
    """

    name: str
    passed: bool
    value: float | None
    limit: float | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
