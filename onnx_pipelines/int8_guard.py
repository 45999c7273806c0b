"""The int8 guard: an int8 build is compared with its fp32 parent on real text before it is cached.

The quantize step of the build chain (:mod:`onnx_pipelines.artifacts`) calls :func:`guard_int8_build` on
the graph it just quantized. The guard runs the fp32 parent and the int8 graph on the same fixed batches
(:mod:`onnx_pipelines.guard_measures`) and compares their answers in the task's own measure against the
task's bound (:data:`~onnx_pipelines.parity.thresholds.INT8_GUARD_BOUNDS`). When the plain recipe misses,
the quantizable nodes are ranked by the damage each does alone (:mod:`onnx_pipelines.sensitivity`), the
fewest/cheapest are kept in fp32 (:mod:`onnx_pipelines.mixed_precision`), the graph is quantized again
for real and measured again. When no fallback set within :data:`MAX_FP32_MAC_FRACTION` passes, the build
raises :class:`~onnx_pipelines.errors.QuantizationAccuracyError` with the numbers and the ways out.

What the guard measured (and which nodes stayed fp32) goes into the step's ``manifest.json`` under
``"int8_guard"``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onnx_pipelines.errors import QuantizationAccuracyError
from onnx_pipelines.guard_bounds import GuardBound, bound_for
from onnx_pipelines.guard_measures import GuardInputs, Measurement, guard_inputs, measure, run_graph
from onnx_pipelines.guard_texts import GUARD_TEXTS_VERSION
from onnx_pipelines.mixed_precision import fp32_mac_fraction, plan_fallback
from onnx_pipelines.sensitivity import NodeSensitivity, Probe, rank_nodes, sensitivity_table
from onnx_pipelines.tasks import TaskSpec

logger = logging.getLogger(__name__)

#: Version of the guard's procedure (texts, batching, measures, search); part of the quantize step's cache key.
GUARD_VERSION = 2
#: A repair may keep at most this share of the quantizable MACs in fp32; past it int8 no longer pays.
MAX_FP32_MAC_FRACTION = 0.75
#: Real quantizer runs a repair may spend after the plain build.
MAX_REPAIR_BUILDS = 3
#: The one-node-at-a-time ranking runs on this many of the guard batches, spread evenly over them (the
#: ranking only orders the candidates; every fallback set is judged on all batches). Ranking is the guard's
#: longest part: one probe run per quantizable node and batch.
RANK_BATCHES = 3

#: Re-quantize with the given nodes left in fp32; returns the new int8 graph's path.
Requantize = Callable[[Sequence[str]], Path]


def guard_key(settings: Any, task: TaskSpec) -> dict[str, Any] | bool:
    """What the guard adds to the quantize step's cache key (``False`` for the plain recipe): a changed
    procedure, text set, bound or fallback limit builds (and guards) the int8 graph again."""
    if not getattr(settings, "guard", True):
        return False
    return {"version": GUARD_VERSION, "texts": GUARD_TEXTS_VERSION, "max_fp32_macs": MAX_FP32_MAC_FRACTION,
            "rank_batches": RANK_BATCHES, "bound": bound_for(task).to_dict()}


@dataclass(frozen=True)
class GuardReport:
    """What the guard measured on one int8 build.

    Attributes:
        task: The task name.
        bound: The bound the build was held to.
        rows: Rows compared; ``source`` says whose texts, ``batching`` how they were batched.
        plain: The plain recipe's measurement.
        final: The measurement of the graph that was kept (``plain`` when it passed).
        fp32_nodes: Nodes kept in fp32 (empty when the plain recipe passed).
        fp32_mac_fraction: Their share of the quantizable MACs per token.
        seconds: Wall time the guard added to the build (measuring, ranking, re-quantizing).
        repair_builds: Real quantizer runs the repair took.
        sensitivity: The ranked nodes (only when a repair ran).
        simulated_plain: The probe's measurement with every node quantized (how well it simulates).
    """

    task: str
    bound: GuardBound
    rows: int
    source: str
    batching: str
    plain: Measurement
    final: Measurement
    fp32_nodes: tuple[str, ...] = ()
    fp32_mac_fraction: float = 0.0
    seconds: float = 0.0
    repair_builds: int = 0
    sensitivity: tuple[NodeSensitivity, ...] = field(default_factory=tuple)
    simulated_plain: Measurement | None = None

    @property
    def repaired(self) -> bool:
        return bool(self.fp32_nodes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": GUARD_VERSION,
            "task": self.task,
            "bound": self.bound.to_dict(),
            "rows": self.rows,
            "source": self.source,
            "batching": self.batching,
            "plain": self.plain.to_dict(),
            "final": self.final.to_dict(),
            "passed": self.final.passed,
            "fp32_nodes": list(self.fp32_nodes),
            "fp32_mac_fraction": self.fp32_mac_fraction,
            "seconds": round(self.seconds, 3),
            "repair_builds": self.repair_builds,
            "sensitivity": [s.to_dict() for s in self.sensitivity],
            "simulated_plain": self.simulated_plain.to_dict() if self.simulated_plain else None,
        }

    def summary(self) -> str:
        """One line for logs and ``inspect``."""
        head = f"int8 guard ({self.bound.measure}, {self.rows} {self.source}): plain {self.plain.summary()}"
        if not self.repaired:
            return f"{head} -> passed as built ({self.seconds:.1f} s)"
        return (f"{head} -> repaired with {len(self.fp32_nodes)} node(s) in fp32 "
                f"({self.fp32_mac_fraction:.0%} of the quantizable MACs): {self.final.summary()} "
                f"({self.seconds:.1f} s)")


class GuardSession:
    """The fp32 parent's outputs on the guard batches, and how to measure any graph against them.

    Args:
        task: The task.
        parent_model: The fp32 parent graph.
        folder: A folder with the tokenizer and config (and sentence-transformers pooling files).
        calibration_batches: The user's tokenized calibration rows, when given.
        bound: Override of the task's bound.
    """

    def __init__(self, task: TaskSpec, parent_model: Path, folder: Path,
                 calibration_batches: Sequence[dict[str, Any]] | None = None,
                 bound: GuardBound | None = None) -> None:
        from transformers import AutoTokenizer

        self.task = task
        self.folder = folder
        self.parent_model = parent_model
        self.bound = bound or bound_for(task)
        self.inputs: GuardInputs = guard_inputs(AutoTokenizer.from_pretrained(folder), task, calibration_batches)
        self.reference = run_graph(_session(parent_model), self.inputs, task.output_names)

    def measure_outputs(self, outputs: Sequence[dict[str, Any]]) -> Measurement:
        return measure(self.task, self.bound, self.reference, outputs, self.inputs, folder=self.folder)

    def measure_graph(self, model_path: Path) -> Measurement:
        return self.measure_outputs(run_graph(_session(model_path), self.inputs, self.task.output_names))

    def rank(self, settings: Any) -> tuple[Probe, list[NodeSensitivity], Callable[[set[str]], Measurement]]:
        """Build the probe for ``settings`` and rank its nodes on :data:`RANK_BATCHES` of the guard batches;
        also return the probe's evaluate function (on every batch)."""
        config = settings.config
        probe = Probe(self.parent_model, config.operators_to_quantize, config,
                      exclude=list(config.nodes_to_exclude or []))
        chosen = spread(len(self.inputs.batches), RANK_BATCHES)
        rank_inputs = self.inputs.subset(chosen)
        rank_reference = [self.reference[i] for i in chosen]

        def evaluate_on(inputs: GuardInputs, reference: Sequence[dict[str, Any]], quantized: set[str]) -> Measurement:
            outputs = run_graph(probe.runner, inputs, self.task.output_names, extra_feed=probe.feed(quantized))
            return measure(self.task, self.bound, reference, outputs, inputs, folder=self.folder)

        ranked = rank_nodes(probe, lambda quantized: evaluate_on(rank_inputs, rank_reference, quantized))
        return probe, ranked, lambda quantized: evaluate_on(self.inputs, self.reference, quantized)


def spread(count: int, chosen: int) -> list[int]:
    """``chosen`` indices spread evenly over ``range(count)`` (all of them when ``count <= chosen``)."""
    if count <= chosen:
        return list(range(count))
    return sorted({round(i * (count - 1) / (chosen - 1)) for i in range(chosen)}) if chosen > 1 else [0]


def _session(model_path: Path) -> Any:
    """A runner for a guard graph: ONNX Runtime on the CPU for ``.onnx``, OpenVINO for an NNCF IR (``.xml``,
    f32 inference precision: its int8 is in its own ops, never a silent bf16)."""
    from onnx_pipelines.runtime import RuntimeSettings
    from onnx_pipelines.session_runner import open_runner

    if Path(model_path).suffix == ".xml":
        return open_runner(model_path, RuntimeSettings(provider="cpu", engine="openvino", precision="int8"))
    return open_runner(model_path, RuntimeSettings(provider="cpu"))


def guard_int8_build(task: TaskSpec, parent_model: Path, int8_model: Path, folder: Path, settings: Any,
                     requantize: Requantize, *, calibration_batches: Sequence[dict[str, Any]] | None = None,
                     progress: Callable[[str], None] | None = None) -> tuple[Path, GuardReport]:
    """Check a freshly quantized graph against its fp32 parent; repair it or refuse it.

    Args:
        task: The task (picks the measure and the bound).
        parent_model: The fp32 graph that was quantized.
        int8_model: The plain int8 graph.
        folder: Tokenizer/config folder.
        settings: The :class:`~onnx_pipelines.config.QuantizeSettings` used.
        requantize: Builds the int8 graph again with some nodes in fp32 (same recipe otherwise).
        calibration_batches: The user's calibration rows (used instead of the library texts).
        progress: Called with a message before the repair (the long part).

    Returns:
        The graph to keep (``int8_model`` or a repaired one) and the guard's report.

    Raises:
        QuantizationAccuracyError: When no fallback set within :data:`MAX_FP32_MAC_FRACTION` meets the bound.
    """
    started = time.perf_counter()
    session = GuardSession(task, parent_model, folder, calibration_batches)
    plain = session.measure_graph(int8_model)
    common: dict[str, Any] = {"task": task.name, "bound": session.bound, "rows": session.inputs.rows,
              "source": session.inputs.source, "batching": session.inputs.batching, "plain": plain}
    if plain.passed:
        return int8_model, GuardReport(final=plain, seconds=time.perf_counter() - started, **common)
    if progress is not None:
        progress(f"int8 misses its bound ({'; '.join(plain.failures)}): ranking nodes for fp32 fallback")
    _, ranked, evaluate = session.rank(settings)
    simulated = evaluate({r.node.name for r in ranked})
    all_names = {r.node.name for r in ranked}

    def passes(kept: set[str]) -> bool:
        return evaluate(all_names - kept).passed

    path, report, tried = repair(session, ranked, passes, requantize, started=started, simulated=simulated,
                                 common=common, widen=lambda size: size + max(1, size // 2), label="int8 guard")
    if report is not None:
        assert path is not None
        return path, report
    raise QuantizationAccuracyError(_refusal(task, session.bound, plain, ranked, tried, settings))


def repair(session: GuardSession, ranked: Sequence[NodeSensitivity], passes: Callable[[set[str]], bool],
           requantize: Requantize, *, started: float, simulated: Measurement, common: dict[str, Any],
           widen: Callable[[int], int], label: str,
           fallback: Callable[[int], list[str] | None] | None = None,
           ) -> tuple[Path | None, GuardReport | None, list[tuple[tuple[str, ...], Measurement]]]:
    """The repair loop both guards share: plan a fallback set in simulation, re-quantize for real, measure;
    after a real miss try a larger set (``widen(size)`` nodes at least), at most :data:`MAX_REPAIR_BUILDS` times.

    Args:
        session: The guard session (measures the real graphs).
        ranked: The ranked nodes, worst first.
        passes: Whether the probe meets the bound with the given nodes kept in fp32.
        requantize: Builds the int8 graph with the given nodes kept in fp32.
        started: When the guard started (for the report's seconds).
        simulated: The probe's measurement with every node quantized.
        common: The report fields both outcomes share.
        widen: The least size of the next set after a real miss of one of ``size`` nodes.
        label: How log lines name the guard.
        fallback: When the simulation finds no larger passing set, a set to try anyway (given the least size);
            a set no larger than the last one tried ends the loop.

    Returns:
        ``(path, report, tried)``: the kept graph and its report, or ``(None, None, tried)`` with every real
        attempt when none passed.
    """
    start, builds = 1, 0
    tried: list[tuple[tuple[str, ...], Measurement]] = []
    while builds < MAX_REPAIR_BUILDS:
        kept = plan_fallback(ranked, passes, start=start, max_mac_fraction=MAX_FP32_MAC_FRACTION)
        if fallback is not None:
            if kept is None and start > 1 and start - 1 < len(ranked):
                kept = fallback(start)
            if kept is not None and tried and set(kept) <= set(tried[-1][0]):
                break
        if kept is None:
            break
        path = requantize(kept)
        builds += 1
        last = session.measure_graph(path)
        tried.append((tuple(kept), last))
        logger.info("%s: %d node(s) in fp32 -> %s", label, len(kept), last.summary())
        if last.passed:
            return path, GuardReport(final=last, fp32_nodes=tuple(kept),
                                     fp32_mac_fraction=fp32_mac_fraction(ranked, kept),
                                     seconds=time.perf_counter() - started, repair_builds=builds,
                                     sensitivity=tuple(ranked), simulated_plain=simulated, **common), tried
        start = widen(len(kept))
    return None, None, tried


def _refusal(task: TaskSpec, bound: GuardBound, plain: Measurement, ranked: Sequence[NodeSensitivity],
             tried: Sequence[tuple[tuple[str, ...], Measurement]], settings: Any) -> str:
    attempts = "; ".join(f"{len(k)} node(s) fp32 ({fp32_mac_fraction(ranked, k):.0%} MACs): {m.summary()}"
                         for k, m in tried) or "no fallback set within the limit passed in simulation"
    worst = ", ".join(f"{r.node.name} ({r.error:.4f})" for r in ranked[:5])
    mode = "static" if settings.is_static else "dynamic"
    return (
        f"int8 ({settings.label}) misses the {task.name} bound {bound.to_dict()} against its fp32 parent: "
        f"plain recipe {plain.summary()} ({'; '.join(plain.failures)}). Repairs tried: {attempts}. "
        f"Most sensitive nodes: {worst}. Keeping more than {MAX_FP32_MAC_FRACTION:.0%} of the MACs in fp32 "
        f"would not pay. Fix: use the fp32 graph (optimize='O2' without quantize), try "
        f"{'static' if mode == 'dynamic' else 'another calibration_method'} int8, or accept the plain recipe "
        f"explicitly with quantize='{mode}-plain' (then check it with onnx-pipelines parity)."
    )


def explain(report: GuardReport) -> str:
    """The guard's report as text: the summary line and, after a repair, the ranked sensitivity table."""
    lines = [report.summary()]
    if report.sensitivity:
        lines += ["", sensitivity_table(report.sensitivity, report.fp32_nodes)]
    return "\n".join(lines)
