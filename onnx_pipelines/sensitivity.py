"""Which nodes int8 hurts: rank the quantizable nodes of a graph by the output error each one causes.

Re-quantizing the graph once per node would cost one quantizer run (seconds) per node. Instead one
*probe* graph is built from the fp32 graph: each quantizable node reads its inputs rounded to int8 as
onnxruntime's quantizer rounds them -- weights with ``quantize_data`` (the quantizer's own function: per
channel or per tensor, symmetric or not, reduced range or not, as the quantization config says),
activations through ``DynamicQuantizeLinear`` -> ``DequantizeLinear`` (per-batch uint8 ranges, as dynamic
int8 kernels compute them) -- or as they are, chosen by a ``Where`` on a boolean graph input, the node's
*gate* (embedding lookups get a twin on the rounded table instead, and the gate picks the output). With all
gates shut the probe computes the fp32 graph (up to float summation order: fewer ORT fusions fit around
the gates); opening one gate quantizes one node.
One session then answers every question the ranking and the fallback search ask, one run each.

The probe simulates int8 rounding; the integer kernels accumulate exactly in int32, so the simulation
matches the real graph up to float summation order. Static (calibrated) ranges are simulated with
per-batch ranges too. Either way the ranking only orders the candidates: every repaired graph is
quantized for real and measured again before it is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Operators whose quantization the probe simulates, and which of their inputs it quantizes.
PROBE_INPUTS: dict[str, tuple[int, ...]] = {
    "MatMul": (0, 1),
    "Gemm": (0, 1),
    "Attention": (0, 1),
    "Gather": (0,),
}
_GATE_PREFIX = "onnx_pipelines_gate__"


@dataclass(frozen=True)
class QuantizableNode:
    """One node the quantization config would quantize.

    Attributes:
        name: The node's name (what ``nodes_to_exclude`` takes).
        op_type: Its operator.
        weight: The initializer it multiplies (or looks up), ``None`` for activation-by-activation MatMuls.
        macs_per_token: Multiply-accumulates per token its weight costs (0 for lookups and when unknown).
    """

    name: str
    op_type: str
    weight: str | None
    macs_per_token: int


@dataclass(frozen=True)
class NodeSensitivity:
    """The damage quantizing one node alone does, in the guard's measure.

    Attributes:
        node: The node.
        error: The measure's error number (higher is worse) with only this node quantized.
        values: The measured numbers (e.g. ``min_cosine``) with only this node quantized.
    """

    node: QuantizableNode
    error: float
    values: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self.node), "error": self.error, "values": self.values}


def quantizable_nodes(model: Any, operators: Sequence[str]) -> list[QuantizableNode]:
    """The named nodes of ``model`` whose operator is in ``operators`` and that the probe can simulate.

    A ``Gather`` counts only when it looks up a float initializer (an embedding table); a ``MatMul`` /
    ``Gemm`` / ``Attention`` with a 2-D float initializer as second input counts that weight's MACs.
    """
    import onnx

    initializers = {i.name: i for i in model.graph.initializer}
    found = []
    for node in model.graph.node:
        if not node.name or node.op_type not in operators or node.op_type not in PROBE_INPUTS:
            continue
        if node.op_type == "Gather":
            table = initializers.get(node.input[0])
            if table is None or table.data_type != onnx.TensorProto.FLOAT:
                continue
            found.append(QuantizableNode(node.name, node.op_type, table.name, 0))
            continue
        weight = initializers.get(node.input[1]) if len(node.input) > 1 else None
        if weight is not None and (weight.data_type != onnx.TensorProto.FLOAT or len(weight.dims) != 2):
            continue
        macs = int(weight.dims[0] * weight.dims[1]) if weight is not None else 0
        found.append(QuantizableNode(node.name, node.op_type, weight.name if weight is not None else None, macs))
    return found


def _fake_quant_weight(values: np.ndarray, op_type: str, config: Any) -> np.ndarray:
    from onnxruntime.quantization.quant_utils import quantize_data

    qtype = _onnx_qtype(config.weights_dtype)
    symmetric = bool(config.weights_symmetric)
    reduce_range = bool(config.reduce_range)
    if op_type != "Gather" and config.per_channel and values.ndim == 2:
        return _fake_quant_columns(values, qtype, symmetric, reduce_range)
    zero_point, scale, quantized = quantize_data(values.ravel(), qtype, symmetric, reduce_range)
    restored = (quantized.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
    return restored.reshape(values.shape).astype(np.float32)


def _fake_quant_columns(values: np.ndarray, qtype: int, symmetric: bool, reduce_range: bool) -> np.ndarray:
    """Per-column (per output channel) rounding, vectorised: the arithmetic of onnxruntime's
    ``quantize_data`` / ``compute_scale_zp`` / ``quantize_nparray`` for each column, in one pass over the matrix
    instead of one call per column (equal to the column loop bit for bit; tested)."""
    from onnxruntime.quantization.quant_utils import get_qmin_qmax_for_qType

    qmin, qmax = get_qmin_qmax_for_qType(qtype, reduce_range, symmetric=symmetric)
    full_min, full_max = get_qmin_qmax_for_qType(qtype, reduce_range=False, symmetric=False)
    data = values.astype(np.float32)
    rmin = np.minimum(data.min(axis=0), np.float32(0))
    rmax = np.maximum(data.max(axis=0), np.float32(0))
    if symmetric:
        absmax = np.maximum(np.abs(rmin), np.abs(rmax))
        rmin, rmax = -absmax, absmax
    scale64 = (rmax.astype(np.float64) - rmin.astype(np.float64)) / (float(qmax) - float(qmin))
    degenerate = scale64 < np.finfo(np.float32).tiny
    if symmetric:
        zero_point = np.full(rmin.shape, np.round((float(qmin) + float(qmax)) / 2.0))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            zero_point = np.round(float(qmin) - rmin.astype(np.float64) / scale64)
    zero_point = np.where(degenerate, 0.0, zero_point).astype(np.asarray(qmin).dtype).astype(np.float32)
    scale = np.where(degenerate, 1.0, scale64).astype(np.float32)
    quantized = np.clip((data / scale).round() + zero_point, float(full_min), float(full_max))
    quantized = quantized.astype(np.asarray(qmin).dtype)
    return ((quantized.astype(np.float32) - zero_point) * scale).astype(np.float32)


def _onnx_qtype(quant_type: Any) -> int:
    import onnx

    name = getattr(quant_type, "name", str(quant_type))
    return onnx.TensorProto.INT8 if name.endswith("QInt8") or name == "QInt8" else onnx.TensorProto.UINT8


def build_probe(model: Any, nodes: Sequence[QuantizableNode], config: Any) -> Any:
    """A copy of ``model`` where each of ``nodes`` can be quantized by opening its gate (see module doc).

    A weighted node (MatMul, Gemm, Attention) reads ``Where(gate, rounded, original)`` for each input; an
    embedding lookup (Gather) gets a twin on the rounded table and a ``Where`` on the gate picks the twin's
    or the original's output (gating the 30k-row table itself would copy it on every run). With the gate
    shut the original values pass through unchanged.

    Returns:
        An ``onnx.ModelProto`` with one extra boolean scalar input per node, :func:`gate_name` of it.
    """
    import onnx
    from onnx import helper, numpy_helper

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    graph = probe.graph
    initializers = {i.name: i for i in graph.initializer}
    by_name = {n.name: n for n in nodes}
    new_nodes = []
    for node in graph.node:
        target = by_name.get(node.name)
        if target is None:
            new_nodes.append(node)
            continue
        gate = gate_name(target.name)
        graph.input.append(helper.make_tensor_value_info(gate, onnx.TensorProto.BOOL, []))
        if node.op_type != "Gather":
            new_nodes += _gate_inputs(node, gate, initializers, graph, config)
            new_nodes.append(node)
            continue
        twin = onnx.NodeProto()
        twin.CopyFrom(node)
        twin.name = f"{gate}_int8"
        for index in PROBE_INPUTS[node.op_type]:
            if index >= len(node.input) or not node.input[index]:
                continue
            source = node.input[index]
            if source in initializers:
                values = numpy_helper.to_array(initializers[source]).astype(np.float32)
                fake = numpy_helper.from_array(_fake_quant_weight(values, node.op_type, config), f"{gate}_w{index}")
                graph.initializer.append(fake)
                twin.input[index] = fake.name
            else:
                q, s, z, dq = (f"{gate}_q{index}", f"{gate}_s{index}", f"{gate}_z{index}", f"{gate}_dq{index}")
                new_nodes.append(helper.make_node("DynamicQuantizeLinear", [source], [q, s, z]))
                new_nodes.append(helper.make_node("DequantizeLinear", [q, s, z], [dq]))
                twin.input[index] = dq
        outputs = list(node.output)
        for position, name in enumerate(outputs):
            if name:
                node.output[position] = f"{gate}_fp32_{position}"
                twin.output[position] = f"{gate}_int8_{position}"
        new_nodes += [node, twin]
        for position, name in enumerate(outputs):
            if name:
                new_nodes.append(helper.make_node(
                    "Where", [gate, f"{gate}_int8_{position}", f"{gate}_fp32_{position}"], [name]))
    del graph.node[:]
    graph.node.extend(new_nodes)
    return probe


def _gate_inputs(node: Any, gate: str, initializers: dict[str, Any], graph: Any, config: Any) -> list[Any]:
    """Gate a weighted node's inputs: ``Where(gate, rounded, original)`` in front of each (measured faster
    than a twin node for MatMul/Attention: one matmul per run instead of two)."""
    from onnx import helper, numpy_helper

    added = []
    for index in PROBE_INPUTS[node.op_type]:
        if index >= len(node.input) or not node.input[index]:
            continue
        source = node.input[index]
        selected = f"{gate}_in{index}"
        if source in initializers:
            values = numpy_helper.to_array(initializers[source]).astype(np.float32)
            fake = numpy_helper.from_array(_fake_quant_weight(values, node.op_type, config), f"{gate}_w{index}")
            graph.initializer.append(fake)
            added.append(helper.make_node("Where", [gate, fake.name, source], [selected]))
        else:
            q, s, z, dq = (f"{gate}_q{index}", f"{gate}_s{index}", f"{gate}_z{index}", f"{gate}_dq{index}")
            added.append(helper.make_node("DynamicQuantizeLinear", [source], [q, s, z]))
            added.append(helper.make_node("DequantizeLinear", [q, s, z], [dq]))
            added.append(helper.make_node("Where", [gate, dq, source], [selected]))
        node.input[index] = selected
    return added


def gate_name(node_name: str) -> str:
    """The probe's gate input for a node."""
    safe = "".join(ch if ch.isalnum() else "_" for ch in node_name)
    return f"{_GATE_PREFIX}{safe}"


class Probe:
    """An onnxruntime session of a probe graph: run it with any set of nodes quantized.

    Args:
        model_path: The fp32 graph.
        operators: The quantization config's ``operators_to_quantize``.
        config: The Optimum ``QuantizationConfig`` (weight type, symmetry, per channel, reduced range).
        exclude: Nodes the config already leaves in fp32 (never candidates).
    """

    def __init__(self, model_path: Path, operators: Sequence[str], config: Any,
                 exclude: Sequence[str] = ()) -> None:
        import onnx
        import onnxruntime

        model = onnx.load(str(model_path))
        self.nodes = [n for n in quantizable_nodes(model, operators) if n.name not in set(exclude)]
        probe = build_probe(model, self.nodes, config)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
        from onnx_pipelines.session_runner import OrtRunner

        self.session = onnxruntime.InferenceSession(probe.SerializeToString(), options,
                                                    providers=["CPUExecutionProvider"])
        self.runner = OrtRunner(self.session)

    def feed(self, quantized: set[str]) -> dict[str, np.ndarray]:
        """Gate values with ``quantized`` nodes open."""
        return {gate_name(n.name): np.array(n.name in quantized) for n in self.nodes}


def rank_nodes(probe: Probe, evaluate: Callable[[set[str]], Any]) -> list[NodeSensitivity]:
    """Quantize each node alone, measure, and sort by error (worst first; ties: more MACs first).

    Args:
        probe: The probe session.
        evaluate: Runs the probe with a set of quantized nodes and returns a
            :class:`~onnx_pipelines.guard_measures.Measurement`.
    """
    ranked = []
    for node in probe.nodes:
        result = evaluate({node.name})
        ranked.append(NodeSensitivity(node, result.error, dict(result.values)))
    ranked.sort(key=lambda s: (-s.error, -s.node.macs_per_token))
    return ranked


def sensitivity_table(ranked: Sequence[NodeSensitivity], fp32_nodes: Sequence[str] = ()) -> str:
    """The ranked table as Markdown (the ``quantize --explain`` / ``inspect --sensitivity`` output)."""
    kept = set(fp32_nodes)
    if not ranked:
        return "(no quantizable nodes)"
    keys = list(ranked[0].values)
    lines = [
        "| rank | node | op | MACs/token | " + " | ".join(keys) + " | error | kept fp32 |",
        "|---:|---|---|---:|" + "---:|" * len(keys) + "---:|---|",
    ]
    for i, entry in enumerate(ranked, 1):
        values = " | ".join(f"{entry.values[k]:.5f}" for k in keys)
        lines.append(f"| {i} | {entry.node.name} | {entry.node.op_type} | {entry.node.macs_per_token:,} | {values} "
                     f"| {entry.error:.5f} | {'yes' if entry.node.name in kept else ''} |")
    return "\n".join(lines)
