"""The int8 guard for OpenVINO: an NNCF int8 IR is compared with its fp32 ONNX parent before it is cached.

The same :class:`~onnx_pipelines.int8_guard.GuardSession` as ONNX Runtime's int8 (same fixed batches of the
library texts, same task measure, same bound) measures the IR, opened by the OpenVINO runner with f32
inference precision (its int8 comes from its own ``FakeQuantize`` ops, never from a silent bf16).

When the plain NNCF build misses, nodes are kept in fp32 through NNCF's ``ignored_scope``. Which ones: the
ONNX Runtime sensitivity ranking (:mod:`onnx_pipelines.sensitivity`) of the same fp32 ONNX parent. OpenVINO's
ONNX frontend keeps ONNX node names as op friendly names (a ``Gemm`` becomes ``<name>/WithoutBiases``
(``MatMul``) plus an ``Add``), so each ranked node maps to the OpenVINO op NNCF quantized for it; only nodes
NNCF really quantized in the plain IR are candidates. The probe simulates ONNX Runtime's dynamic int8, not
NNCF's calibrated ranges, so the ranking only orders the candidates: each repaired IR is quantized by NNCF
for real and measured again, and a real miss widens the set (at most
:data:`~onnx_pipelines.int8_guard.MAX_REPAIR_BUILDS` NNCF runs, at most
:data:`~onnx_pipelines.int8_guard.MAX_FP32_MAC_FRACTION` of the MACs in fp32). When none passes the build
raises :class:`~onnx_pipelines.errors.QuantizationAccuracyError` with the numbers and the ways out.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from onnx_pipelines.errors import QuantizationAccuracyError
from onnx_pipelines.guard_bounds import GuardBound
from onnx_pipelines.guard_measures import Measurement
from onnx_pipelines.int8_guard import MAX_FP32_MAC_FRACTION, GuardReport, GuardSession, repair
from onnx_pipelines.mixed_precision import fp32_mac_fraction
from onnx_pipelines.sensitivity import NodeSensitivity
from onnx_pipelines.tasks import TaskSpec

logger = logging.getLogger(__name__)

#: ONNX operators the ranking probe simulates for NNCF (a Gemm becomes an OpenVINO MatMul).
PROBE_OPERATORS: tuple[str, ...] = ("MatMul", "Gemm", "Gather")
#: OpenVINO ops whose inputs NNCF quantizes in a transformer (weights and activations).
QUANTIZED_OP_TYPES: tuple[str, ...] = ("MatMul", "Gather", "Convolution")
#: Ops between a compressed int8 weight constant and its consumer (``Convert`` → ``Subtract`` → ``Multiply``).
_WEIGHT_CHAIN: tuple[str, ...] = ("Convert", "Subtract", "Multiply", "Reshape", "Transpose")

#: Re-quantize with the given OpenVINO op names kept in fp32; returns the new IR's path.
Requantize = Callable[[Sequence[str]], Path]


def quantized_ops(ir_path: Path) -> dict[str, str]:
    """The ops of an NNCF int8 IR that read int8 values: ``{friendly name: op type}``.

    An op counts when one of its inputs comes from a ``FakeQuantize`` (quantized activations) or from an
    int8/uint8 constant through its dequantizing ``Convert``/``Subtract``/``Multiply`` chain (compressed
    weights, as ``save_model`` stores them).
    """
    from onnx_pipelines.openvino_runner import import_openvino

    model = import_openvino().Core().read_model(str(ir_path))
    found = {}
    for op in model.get_ops():
        if op.get_type_name() not in QUANTIZED_OP_TYPES:
            continue
        if any(_reads_int8(port.get_source_output().get_node()) for port in op.inputs()):
            found[op.get_friendly_name()] = op.get_type_name()
    return found


def _reads_int8(node: Any) -> bool:
    chain = 0
    while True:
        kind = node.get_type_name()
        if kind == "FakeQuantize":
            return True
        if kind == "Constant":
            return chain > 0 and node.get_element_type().get_type_name() in ("i8", "u8")
        if kind not in _WEIGHT_CHAIN or node.get_input_size() == 0:
            return False
        node = node.input(0).get_source_output().get_node()
        chain += 1


def map_to_openvino(onnx_names: Sequence[str], openvino_ops: Mapping[str, str]) -> dict[str, str]:
    """Map ONNX node names to the OpenVINO ops NNCF quantized for them (``{onnx name: openvino name}``).

    An ONNX node keeps its name when OpenVINO reads the graph, or becomes several ops named below it
    (``/classifier/Gemm`` → ``/classifier/Gemm/WithoutBiases``); the quantized one of those is taken.
    Nodes with no quantized op (NNCF left them in fp32 anyway) are left out.
    """
    mapped = {}
    for name in onnx_names:
        if name in openvino_ops:
            mapped[name] = name
            continue
        below = sorted(op for op in openvino_ops if op.startswith(f"{name}/"))
        if len(below) == 1:
            mapped[name] = below[0]
    return mapped


def openvino_ranking(session: GuardSession, ir_path: Path
                     ) -> tuple[list[NodeSensitivity], Callable[[set[str]], Measurement]]:
    """Rank the nodes NNCF quantized in ``ir_path`` with the ONNX Runtime probe of the session's fp32 parent.

    Returns:
        The ranking under OpenVINO op names (worst first), and the probe's evaluate function, which takes a
        set of OpenVINO op names to quantize.
    """
    from onnx_pipelines.config import resolve_quantize
    from onnx_pipelines.guard_measures import GuardInputs, measure, run_graph
    from onnx_pipelines.int8_guard import RANK_BATCHES, spread
    from onnx_pipelines.sensitivity import Probe

    # ORT's dynamic recipe simulates the rounding (per-channel symmetric int8 weights, per-batch activation
    # ranges), on every operator NNCF quantizes in a transformer (Gemm too: a classifier or pooler head).
    recipe = resolve_quantize("dynamic")
    assert recipe is not None  # a mode name always resolves
    probe = Probe(session.parent_model, PROBE_OPERATORS, recipe.config)

    # As ONNX Runtime's guard: rank on RANK_BATCHES of the guard batches, judge every set on all of them.
    chosen = spread(len(session.inputs.batches), RANK_BATCHES)
    rank_inputs, rank_reference = session.inputs.subset(chosen), [session.reference[i] for i in chosen]

    def evaluate_on(inputs: GuardInputs, reference: Sequence[dict[str, Any]], quantized: set[str]) -> Measurement:
        outputs = run_graph(probe.runner, inputs, session.task.output_names, extra_feed=probe.feed(quantized))
        return measure(session.task, session.bound, reference, outputs, inputs, folder=session.folder)

    def evaluate(quantized: set[str]) -> Measurement:
        return evaluate_on(session.inputs, session.reference, quantized)

    names = map_to_openvino([n.name for n in probe.nodes], quantized_ops(ir_path))
    ranked = []
    for node in probe.nodes:  # the others' gates stay shut: NNCF leaves them in fp32 too
        if node.name in names:
            result = evaluate_on(rank_inputs, rank_reference, {node.name})
            ranked.append(NodeSensitivity(node, result.error, dict(result.values)))
    ranked.sort(key=lambda s: (-s.error, -s.node.macs_per_token))
    back = {ov: onnx for onnx, ov in names.items()}
    renamed = [dataclasses.replace(r, node=dataclasses.replace(r.node, name=names[r.node.name]))
               for r in ranked if r.node.name in names]

    def evaluate_openvino(quantized: set[str]) -> Measurement:
        # Nodes NNCF does not quantize stay shut in the probe too: it simulates the NNCF graph's choice.
        return evaluate({back[name] for name in quantized})

    return renamed, evaluate_openvino


def guard_openvino_build(task: TaskSpec, parent_model: Path, ir_path: Path, folder: Path,
                         requantize: Requantize, *, already_ignored: Sequence[str] = (),
                         progress: Callable[[str], None] | None = None,
                         bound: GuardBound | None = None) -> tuple[Path, GuardReport]:
    """Check an NNCF int8 IR against its fp32 ONNX parent; repair it through ``ignored_scope`` or refuse it.

    Args:
        task: The task (picks the measure and the bound).
        parent_model: The fp32 ONNX graph NNCF quantized.
        ir_path: The plain NNCF IR (``.xml``).
        folder: Tokenizer/config folder.
        requantize: Runs NNCF again with the given OpenVINO op names in its ignored scope (same settings).
        already_ignored: Names the user's settings keep in fp32 already (never candidates; kept on repair).
        progress: Called with a message before the repair (the long part).
        bound: Override of the task's bound.

    Returns:
        The IR to keep (``ir_path`` or a repaired one) and the guard's report.

    Raises:
        QuantizationAccuracyError: When no repair within the limits meets the bound.
    """
    started = time.perf_counter()
    session = GuardSession(task, parent_model, folder, bound=bound)
    plain = session.measure_graph(ir_path)
    common: dict[str, Any] = {"task": task.name, "bound": session.bound, "rows": session.inputs.rows,
                              "source": session.inputs.source, "batching": session.inputs.batching, "plain": plain}
    if plain.passed:
        return ir_path, GuardReport(final=plain, seconds=time.perf_counter() - started, **common)
    if progress is not None:
        progress(f"OpenVINO int8 misses its bound ({'; '.join(plain.failures)}): ranking nodes for fp32 fallback")
    ranked, evaluate = openvino_ranking(session, ir_path)
    ranked = [r for r in ranked if r.node.name not in set(already_ignored)]
    all_names = {r.node.name for r in ranked}
    simulated = evaluate(all_names)

    def passes(kept: set[str]) -> bool:
        return evaluate(all_names - kept).passed

    # NNCF's ranges differ from the probe's: widen faster than the ORT guard after a real miss, and when the
    # simulation has no larger passing set, fall back to the ranking alone, as far as the budget goes.
    path, report, tried = repair(session, ranked, passes, lambda kept: requantize([*already_ignored, *kept]),
                                 started=started, simulated=simulated, common=common, widen=lambda size: 2 * size,
                                 label="OpenVINO int8 guard", fallback=lambda size: _largest_prefix(ranked, size))
    if report is not None:
        assert path is not None
        return path, report
    raise QuantizationAccuracyError(_refusal(task, session.bound, plain, ranked, tried))


def _largest_prefix(ranked: Sequence[NodeSensitivity], size: int) -> list[str] | None:
    names = [r.node.name for r in ranked][:size]
    while names and fp32_mac_fraction(ranked, names) > MAX_FP32_MAC_FRACTION:
        names.pop()
    return names or None


def _refusal(task: TaskSpec, bound: GuardBound, plain: Measurement, ranked: Sequence[NodeSensitivity],
             tried: Sequence[tuple[tuple[str, ...], Measurement]]) -> str:
    attempts = "; ".join(f"{len(k)} node(s) fp32 ({fp32_mac_fraction(ranked, k):.0%} MACs): {m.summary()}"
                         for k, m in tried) or "no fallback set within the limit passed in simulation"
    worst = ", ".join(f"{r.node.name} ({r.error:.4f})" for r in ranked[:5])
    return (
        f"OpenVINO int8 (NNCF) misses the {task.name} bound {bound.to_dict()} against its fp32 parent: "
        f"plain recipe {plain.summary()} ({'; '.join(plain.failures)}). Repairs tried: {attempts}. "
        f"Most sensitive nodes: {worst}. Keeping more than {MAX_FP32_MAC_FRACTION:.0%} of the MACs in fp32 "
        "would not pay. Fix: use precision='bf16' (runtime='openvino', CPUs with AVX512-BF16/AMX) or "
        "precision='fp32'; keep nodes in fp32 yourself with NncfSettings(ignored=(...)) (the names above are "
        "OpenVINO op names); or accept the plain NNCF recipe explicitly with precision='int8-plain' "
        "(variant openvino:int8-plain; then check it with onnx-pipelines parity)."
    )


__all__ = ["guard_openvino_build", "map_to_openvino", "openvino_ranking", "quantized_ops"]
