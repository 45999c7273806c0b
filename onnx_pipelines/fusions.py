"""What graph optimization fused, per model family: counted in the result, and known before it is built.

ORTOptimizer runs ONNX Runtime's BERT fusions for every encoder family below (Optimum maps them all to
``bert``), but the patterns only match some of them: DeBERTa-v2 (disentangled attention), MPNet (relative
position bias) and ModernBERT (rotary embeddings, GeGLU) keep their attention unfused. The optimized graph
is still exact and still gets ONNX Runtime's generic optimizations, so those levels are *built, with a
warning that says what was not fused* rather than refused; the manifest records the counts.

:data:`KNOWN_FUSIONS` is what the support matrix (``benchmarks/architectures.py``, tested in
``tests/test_support_matrix.py``) measured on tiny models of each family: the test fails when a fresh run
fuses differently, so the table cannot drift from what ONNX Runtime does.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

#: The fused ``com.microsoft`` operators worth reporting, in report order.
FUSED_OPS: tuple[str, ...] = (
    "Attention",
    "QAttention",
    "MultiHeadAttention",
    "SkipLayerNormalization",
    "BiasGelu",
    "FastGelu",
    "EmbedLayerNormalization",
)

#: Model type -> level -> fused operators ORTOptimizer produces (CPU presets: SkipLayerNormalization is
#: left out by design, see ``onnx_pipelines.config.CPU_PRESET_OVERRIDES``; MPNet still gets one, which ORT
#: fuses through another pattern). O1 fuses no transformer operators; O3 adds the GELU approximation, which
#: turns BiasGelu / Gelu into FastGelu. Measured by the support matrix on the text-classification head.
_FUSED = ("Attention", "BiasGelu")
KNOWN_FUSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    **{family: {"O2": _FUSED, "O3": ("Attention", "FastGelu")}
       for family in ("bert", "distilbert", "roberta", "xlm-roberta", "camembert", "electra")},
    "albert": {"O2": ("Attention", "FastGelu"), "O3": ("Attention", "FastGelu")},
    "deberta-v2": {"O2": ("BiasGelu",), "O3": ("FastGelu",)},
    "mpnet": {"O2": ("SkipLayerNormalization", "BiasGelu"), "O3": ("SkipLayerNormalization", "FastGelu")},
    "modernbert": {"O2": (), "O3": ("FastGelu",)},
}

#: Why the attention of these families is not fused, for the warning and docs/architectures.md.
UNFUSED_ATTENTION: dict[str, str] = {
    "deberta-v2": "disentangled (content-to-position) attention matches no ONNX Runtime attention pattern",
    "mpnet": "the relative position bias added to the attention scores matches no ONNX Runtime attention pattern",
    "modernbert": "rotary embeddings and local/global attention match no ONNX Runtime encoder attention pattern",
}


def count_fused_ops(model_path: str | Path) -> dict[str, int]:
    """How many of each :data:`FUSED_OPS` operator the graph at ``model_path`` holds (zeros included)."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    counts = Counter(node.op_type for node in model.graph.node)
    return {op: counts.get(op, 0) for op in FUSED_OPS}


def expected_fusions(model_type: str, level: str) -> tuple[str, ...] | None:
    """The fused operators ``level`` (``O1``-``O4``) gives ``model_type``, or ``None`` when not measured."""
    key = model_type.replace("_", "-")
    if key not in KNOWN_FUSIONS:
        return None
    if level == "O1":
        return ()
    return KNOWN_FUSIONS[key]["O2" if level == "O2" else "O3"]  # O4 = O3 + fp16


def fusion_note(model_type: str, level: str) -> str | None:
    """A one-line warning when ``level`` leaves ``model_type``'s attention unfused, else ``None``."""
    key = model_type.replace("_", "-")
    if level == "O1" or key not in UNFUSED_ATTENTION:
        return None
    fused = expected_fusions(key, level) or ()
    got = ", ".join(fused) if fused else "no transformer operators"
    return (
        f"optimize={level} on model_type {key!r} fuses {got} but no Attention: "
        f"{UNFUSED_ATTENTION[key]}. The graph is exact and gets ONNX Runtime's generic optimizations; "
        "expect a smaller speed-up than for BERT-like models (see docs/architectures.md)."
    )


def summarize(counts: dict[str, Any]) -> str:
    """``"Attention 2, BiasGelu 2"`` (non-zero counts only), or ``"none"``."""
    parts = [f"{op} {n}" for op, n in counts.items() if n]
    return ", ".join(parts) if parts else "none"
