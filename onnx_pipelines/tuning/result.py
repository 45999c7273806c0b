"""What ``tune`` found, as data: one outcome per candidate, the Pareto front and the winner; JSON in and out.

Rendering (Markdown, HTML, the plot) lives in :mod:`onnx_pipelines.tuning.render` and
:mod:`onnx_pipelines.tuning.report`; this module only holds and
converts the numbers (``to_dict`` / ``from_dict``, ``to_pandas``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

#: Version of ``tune.json`` and of the files in ``DIR/candidates``.
TUNE_FORMAT = 1


@dataclass(frozen=True)
class SplitScore:
    """How a candidate did on one split, judged by the parity evaluator against the tune's bounds.

    Attributes:
        rows: Rows evaluated.
        agreement: Share of rows predicted as PyTorch predicts them (``None``: the task has no predictions).
        metric: The primary metric's name (``None`` without labels).
        value: The candidate's metric, 0-1.
        delta_points: Its difference to PyTorch's, in points (negative: a drop).
        passed: Whether every parity check passed under the tune's bounds.
        failed_checks: The messages of the checks that failed (or the build error).
    """

    rows: int
    agreement: float | None
    metric: str | None
    value: float | None
    delta_points: float | None
    passed: bool
    failed_checks: tuple[str, ...] = ()

    @property
    def metric_drop(self) -> float:
        """Points lost against PyTorch (0 when it gained or there is no metric)."""
        return max(0.0, -(self.delta_points or 0.0))


@dataclass(frozen=True)
class CandidateOutcome:
    """One candidate of a tune run.

    Attributes:
        name: The candidate (:attr:`~onnx_pipelines.tuning.space.TuneCandidate.name`).
        variant: The variant it builds as reports name it (``O2+int8-dynamic``).
        recipe: Its recipe file.
        tuning: Its score on the tuning split (``None`` if it could not be built or run).
        holdout: Its score on the held-out split (``None``: not needed, see :attr:`TuneResult.winner`).
        timing: Medians and speed-ups beside PyTorch (:func:`~onnx_pipelines.tuning.timing.summarize_times`).
        fp32_nodes: Nodes the int8 guard kept in fp32.
        artifact: Folder of the built graph.
        error: Why it could not be built, run or timed.
        seconds: Wall time spent on it (build, parity, timing).
    """

    name: str
    variant: str
    recipe: str
    tuning: SplitScore | None
    holdout: SplitScore | None = None
    timing: dict[str, Any] | None = None
    fp32_nodes: int = 0
    artifact: str | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def speedup(self) -> float | None:
        """Speed-up over the PyTorch pipeline at batch 1 (``None`` when not timed)."""
        return None if self.timing is None else float(self.timing["speedup_b1"])

    @property
    def meets_tuning(self) -> bool:
        """Meets both bounds on the tuning split (and was timed)."""
        return self.tuning is not None and self.tuning.passed and self.timing is not None

    def to_dict(self) -> dict[str, Any]:
        return {"format": TUNE_FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CandidateOutcome:
        def score(value: Any) -> SplitScore | None:
            return None if value is None else SplitScore(**{**value, "failed_checks": tuple(value["failed_checks"])})

        fields = {k: v for k, v in data.items() if k != "format"}
        return cls(**{**fields, "tuning": score(data.get("tuning")), "holdout": score(data.get("holdout"))})


@dataclass(frozen=True)
class TuneResults:
    """What :func:`~onnx_pipelines.tuning.tune` found (data and JSON; :class:`~onnx_pipelines.tuning.report.TuneResult`
    adds the renderings).

    Attributes:
        task: The task tuned.
        model: The model folder.
        dataset: The data source.
        splits: Rows in the ``calibration``, ``tuning`` and ``holdout`` splits.
        bounds: ``max_metric_drop`` (points) and ``min_agreement`` (share).
        primary_metric: The metric the drop is measured on (``None`` without labels).
        reference: PyTorch's metric on each split.
        candidates: Every candidate's outcome, in search order.
        winner: The fastest candidate meeting both bounds on the held-out split (``None``: none did).
        recipe: The winner's recipe file (``DIR/recipe.json``).
        skipped: Candidates not tried because the time budget ran out.
        notes: Sentences every reader should see.
        machine: CPU, cores and load averages around the run.
        seconds: Wall time of the run (this session; a resumed run counts from the resume).
        created: ISO-8601 time.
    """

    task: str
    model: str
    dataset: str
    splits: dict[str, int]
    bounds: dict[str, float]
    primary_metric: str | None
    reference: dict[str, Any]
    candidates: list[CandidateOutcome]
    winner: str | None
    recipe: str | None
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    created: str = ""

    def candidate(self, name: str) -> CandidateOutcome:
        """The outcome called ``name``.

        Raises:
            KeyError: No such candidate.
        """
        for outcome in self.candidates:
            if outcome.name == name:
                return outcome
        raise KeyError(name)

    def pareto_front(self) -> list[str]:
        """Timed candidates no other beats on both speed (batch 1) and tuning metric drop (or disagreement)."""
        timed = [c for c in self.candidates if c.speedup is not None and c.tuning is not None]
        front = []
        for c in timed:
            loss = _loss(c)
            dominated = any((_loss(o) <= loss and (o.speedup or 0) >= (c.speedup or 0))
                            and (_loss(o) < loss or (o.speedup or 0) > (c.speedup or 0)) for o in timed)
            if not dominated:
                front.append(c.name)
        return front

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["candidates"] = [c.to_dict() for c in self.candidates]
        return {"format": TUNE_FORMAT, **data, "pareto_front": self.pareto_front()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TuneResults:
        fields = {k: v for k, v in data.items() if k not in ("format", "pareto_front")}
        return cls(**{**fields, "candidates": [CandidateOutcome.from_dict(c) for c in data["candidates"]]})

    @classmethod
    def read_json(cls, path: str | Path) -> TuneResults:
        """Load a ``tune.json``."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def with_outcome(self, outcome: CandidateOutcome) -> TuneResults:
        """A copy with ``outcome`` replacing the candidate of the same name."""
        return replace(self, candidates=[outcome if c.name == outcome.name else c for c in self.candidates])

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per candidate: the table every rendering shows."""
        front = set(self.pareto_front())
        out = []
        for c in self.candidates:
            t, h, timing = c.tuning, c.holdout, c.timing or {}
            out.append({
                "candidate": c.name, "variant": c.variant,
                "tuning_agreement": t.agreement if t else None,
                "tuning_delta_points": t.delta_points if t else None,
                "tuning_passed": t.passed if t else False,
                "holdout_agreement": h.agreement if h else None,
                "holdout_delta_points": h.delta_points if h else None,
                "holdout_passed": h.passed if h else None,
                "b1_ms": timing.get("candidate_b1_ms"), "pytorch_b1_ms": timing.get("pytorch_b1_ms"),
                "speedup_b1": timing.get("speedup_b1"), "speedup_batch": timing.get("speedup_batch"),
                "throughput_per_s": timing.get("throughput_per_s"),
                "fp32_nodes": c.fp32_nodes, "pareto": c.name in front, "winner": c.name == self.winner,
                "error": c.error,
            })
        return out

    def to_pandas(self) -> Any:
        """The candidates as a ``pandas.DataFrame`` (one row each, indexed by candidate name)."""
        import pandas as pd

        return pd.DataFrame(self.rows()).set_index("candidate")


def _loss(outcome: CandidateOutcome) -> float:
    """What a candidate lost on the tuning split: metric points, else disagreeing share (in points)."""
    score = outcome.tuning
    if score is None:
        return float("inf")
    if score.metric is not None and score.delta_points is not None:
        return score.metric_drop
    return 100 * (1 - (score.agreement if score.agreement is not None else 0.0))
