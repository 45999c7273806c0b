"""Choose the fp32 fallback set: the fewest, cheapest nodes to keep in fp32 so int8 meets its bound.

Works on the sensitivity ranking (:mod:`onnx_pipelines.sensitivity`) and the probe graph: keeping the
``k`` worst-ranked nodes in fp32 is tried in simulation for growing ``k`` (bisection: the error shrinks as
``k`` grows), then each kept node is dropped again, most MACs first, wherever the bound still holds
without it. The real graph built from the chosen set is measured again by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from onnx_pipelines.sensitivity import NodeSensitivity


def plan_fallback(ranked: Sequence[NodeSensitivity], passes: Callable[[set[str]], bool],
                  *, start: int = 1, max_mac_fraction: float = 1.0) -> list[str] | None:
    """The smallest prefix of ``ranked`` (at least ``start`` nodes) to keep in fp32, then pruned.

    Args:
        ranked: Nodes, worst first.
        passes: Whether the probe meets the bound with the given set of nodes *kept in fp32* (all others
            quantized).
        start: Try at least this many nodes (the caller raises it when a real build missed).
        max_mac_fraction: Only prefixes keeping at most this share of the quantizable MACs in fp32.

    Returns:
        Node names to keep in fp32, or ``None`` when no prefix within the MAC budget passes.
    """
    names = [r.node.name for r in ranked]
    high = len(names)
    while high > 0 and fp32_mac_fraction(ranked, names[:high]) > max_mac_fraction:
        high -= 1
    low = max(1, start)
    if low > high or not passes(set(names[:high])):
        return None
    while low < high:  # smallest k in [low, high] that passes
        middle = (low + high) // 2
        if passes(set(names[:middle])):
            high = middle
        else:
            low = middle + 1
    kept = names[:high]
    macs = {r.node.name: r.node.macs_per_token for r in ranked}
    for name in sorted(kept, key=lambda n: -macs[n]):
        trial = [n for n in kept if n != name]
        if len(trial) >= 1 and passes(set(trial)):
            kept = trial
    return kept


def fp32_mac_fraction(ranked: Sequence[NodeSensitivity], kept: Sequence[str]) -> float:
    """Share of the quantizable MACs (per token) left in fp32 by keeping ``kept``."""
    total = sum(r.node.macs_per_token for r in ranked)
    left = sum(r.node.macs_per_token for r in ranked if r.node.name in set(kept))
    return left / total if total else 0.0


def with_excluded(settings: Any, nodes: Sequence[str]) -> Any:
    """``settings`` (a :class:`~onnx_pipelines.config.QuantizeSettings`) with ``nodes`` left in fp32."""
    import dataclasses

    config = settings.config
    excluded = list(dict.fromkeys([*(config.nodes_to_exclude or []), *nodes]))
    return dataclasses.replace(settings, config=dataclasses.replace(config, nodes_to_exclude=excluded))
