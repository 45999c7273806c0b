"""Numerical tolerances: the one table that export validation, graph optimization and parity read.

A precision class says how far a graph's outputs may move from PyTorch's by construction:

==============  =======  ==============================================================
precision       atol     why
==============  =======  ==============================================================
``fp32``        1e-4     fp32 fusions only reorder float sums (~1e-6 measured)
``fp32-approx`` 5e-3     O3 swaps GELU for its tanh approximation (1.3e-3 on MiniLM)
``fp16``        1e-2     O4 / fp16 graphs keep 11 mantissa bits
``bf16``        5e-2     OpenVINO bf16 (AVX512-BF16/AMX CPUs): 8 mantissa bits, fp32 accumulation
==============  =======  ==============================================================

int8 has no tensor tolerance: it is judged by the answers it gives (see ``parity/thresholds.py``; at build
time the int8 guard holds each int8 graph to its task's bound against its fp32 parent, ``guard_bounds.py``).
"""

from __future__ import annotations

#: Largest absolute output difference allowed, per precision class.
ATOL_BY_PRECISION: dict[str, float] = {"fp32": 1e-4, "fp32-approx": 5e-3, "fp16": 1e-2, "bf16": 5e-2}

#: The precision class each graph optimization level produces.
OPTIMIZATION_PRECISION: dict[str, str] = {
    "O1": "fp32", "O2": "fp32", "O3": "fp32-approx", "O4": "fp16", "custom": "fp32-approx",
}

#: Export validation: the fresh ONNX graph against the PyTorch model.
EXPORT_ATOL = ATOL_BY_PRECISION["fp32"]

#: Optimization validation on CPU, by level (O4 needs a GPU and is not validated against torch here).
OPTIMIZE_ATOL: dict[str, float] = {
    level: ATOL_BY_PRECISION[precision] for level, precision in OPTIMIZATION_PRECISION.items() if level != "O4"
}

__all__ = ["ATOL_BY_PRECISION", "EXPORT_ATOL", "OPTIMIZATION_PRECISION", "OPTIMIZE_ATOL"]
