"""The parity results as data: what was measured, per variant, and whether it passed; JSON in and out.

``ParityResults.to_dict()`` is the versioned JSON document described in ``docs/parity-schema.md``
(:data:`SCHEMA_VERSION`). This module renders nothing: the Markdown, HTML and JUnit renderers read these
classes, and :class:`~onnx_pipelines.parity.report.ParityReport` adds the rendering methods on top.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from onnx_pipelines.errors import InvalidInputError
from onnx_pipelines.parity.compare import OutputComparison
from onnx_pipelines.parity.thresholds import Check, Thresholds

_Results = TypeVar("_Results", bound="ParityResults")

#: Bumped in the minor place for added fields, in the major place for renamed or removed ones.
SCHEMA_VERSION = "1.1"


@dataclass(frozen=True)
class Timing:
    """Throughput of one model on the evaluated rows (in-process, so indicative only).

    Attributes:
        examples_per_second: Evaluated rows divided by the time spent inside the model calls.
        seconds: Time spent inside the model calls (tokenization excluded; it is shared).
        batches: Number of model calls.
        threads: Intra-op threads the runtime used (``None``: the runtime's default).
    """

    examples_per_second: float
    seconds: float
    batches: int
    threads: int | None


@dataclass(frozen=True)
class MetricResult:
    """A task metric of a variant next to the reference's.

    Attributes:
        name: The metric (``accuracy``, ``macro_f1`` ...).
        value: The variant's value, 0-1.
        reference: The PyTorch reference's value, 0-1.
        delta_points: ``(value - reference) * 100``; negative is a drop.
    """

    name: str
    value: float
    reference: float
    delta_points: float


@dataclass(frozen=True)
class Disagreement:
    """An example where a variant's prediction differs from the reference's.

    Attributes:
        index: Position among the evaluated rows.
        text: The input, cut to 300 characters.
        reference: The reference's prediction.
        reference_score: The reference's score for it.
        reference_margin: How far the reference was from changing its answer (disagreements are
            listed by this, largest first).
        variant: The variant's prediction.
        variant_score: The variant's score for its prediction (``None`` when its output was NaN/inf).
        gold: The gold label, if the data has labels.
    """

    index: int
    text: str
    reference: str
    reference_score: float | None
    reference_margin: float | None
    variant: str
    variant_score: float | None
    gold: str | None = None


@dataclass(frozen=True)
class Calibration:
    """Where a static-int8 variant's activation ranges came from.

    Attributes:
        method: ``minmax``, ``entropy`` or ``percentile``.
        samples: Rows used to calibrate.
        source: ``calibration-data`` (a separate file), ``held-out-rows`` (rows of the dataset that were
            not evaluated) or ``evaluated-rows`` (a seeded sample of the evaluated rows: overlap!).
        overlap: Calibration rows that are also evaluated rows.
        seed: Seed of the sample.
        description: One sentence for readers.
    """

    method: str
    samples: int
    source: str
    overlap: int
    seed: int
    description: str


@dataclass(frozen=True)
class ReferenceResult:
    """The PyTorch reference run.

    Attributes:
        framework: Always ``"pytorch"``.
        model_class: The ``transformers`` class that ran it.
        torch_version: ``torch.__version__``.
        metrics: Metric name to value (0-1); empty without labels.
        timing: Its throughput.
    """

    framework: str
    model_class: str
    torch_version: str
    metrics: dict[str, float]
    timing: Timing


@dataclass(frozen=True)
class VariantResult:
    """Everything measured on one ONNX variant.

    Attributes:
        name: The variant (``fp32``, ``O2+int8-dynamic``, ``openvino:bf16``, or the path of a pre-exported graph):
            OpenVINO variants name their runtime.
        precision: Its precision class (``fp32``, ``fp32-approx``, ``fp16``, ``bf16``, ``int8``).
        artifact: Folder of the ONNX model that ran (``None`` if it could not be built).
        model_file: File name of the graph in that folder.
        outputs: One comparison per compared output.
        agreement: Fraction of examples whose prediction matches the reference's (``None`` when the
            task has none).
        disagreement_count: Number of such examples.
        metrics: Task metrics next to the reference's (empty without labels).
        timing: Throughput (``None`` if it did not run).
        calibration: Calibration details (static int8 only).
        thresholds: The limits it was held to.
        checks: The verdicts; the variant passes when all pass.
        disagreements: The worst disagreements (by reference margin), at most the run's limit.
        error: Why the variant could not be built or run, if so.
    """

    name: str
    precision: str
    artifact: str | None
    model_file: str | None
    outputs: list[OutputComparison]
    agreement: float | None
    disagreement_count: int
    metrics: list[MetricResult]
    timing: Timing | None
    calibration: Calibration | None
    thresholds: Thresholds
    checks: list[Check]
    disagreements: list[Disagreement] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        """Whether every check passed (a variant without checks, e.g. unbuilt, fails)."""
        return bool(self.checks) and all(check.passed for check in self.checks)

    def metric(self, name: str) -> MetricResult | None:
        """The metric called ``name``, if measured."""
        return next((m for m in self.metrics if m.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VariantResult:
        return cls(
            name=data["name"],
            precision=data["precision"],
            artifact=data.get("artifact"),
            model_file=data.get("model_file"),
            outputs=[OutputComparison.from_dict(o) for o in data.get("outputs", [])],
            agreement=data.get("agreement"),
            disagreement_count=int(data.get("disagreement_count", 0)),
            metrics=[MetricResult(**m) for m in data.get("metrics", [])],
            timing=Timing(**data["timing"]) if data.get("timing") else None,
            calibration=Calibration(**data["calibration"]) if data.get("calibration") else None,
            thresholds=Thresholds(**data["thresholds"]),
            checks=[Check(**c) for c in data.get("checks", [])],
            disagreements=[Disagreement(**d) for d in data.get("disagreements", [])],
            error=data.get("error"),
        )


@dataclass(frozen=True)
class ParityResults:
    """The data of one parity run (what :class:`~onnx_pipelines.parity.report.ParityReport` renders).

    Attributes:
        task: The task evaluated.
        model: ``path`` and ``name`` of the PyTorch model.
        dataset: Source, split, rows, selection and column mapping of the evaluated data.
        settings: ``max_length``, ``batch_size``, ``max_tokens``, ``provider``, ``seed``.
        reference: The PyTorch reference run.
        variants: One result per variant, in the order asked.
        primary_metric: The metric ``max_metric_drop`` gates (``None`` without labels).
        notes: Sentences every reader should see (calibration overlap, missing labels, timing caveat).
        created: ISO-8601 time the report was made.
        tool_version: onnx-pipelines version.
        schema_version: :data:`SCHEMA_VERSION`.
    """

    task: str
    model: dict[str, Any]
    dataset: dict[str, Any]
    settings: dict[str, Any]
    reference: ReferenceResult
    variants: list[VariantResult]
    primary_metric: str | None
    notes: list[str]
    created: str
    tool_version: str
    schema_version: str = SCHEMA_VERSION

    @property
    def passed(self) -> bool:
        """Whether every variant passed."""
        return bool(self.variants) and all(v.passed for v in self.variants)

    def failed_variants(self) -> list[VariantResult]:
        """The variants that failed a check."""
        return [v for v in self.variants if not v.passed]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (see ``docs/parity-schema.md``)."""
        return {
            "schema_version": self.schema_version,
            "tool_version": self.tool_version,
            "created": self.created,
            "passed": self.passed,
            "task": self.task,
            "model": dict(self.model),
            "dataset": dict(self.dataset),
            "settings": dict(self.settings),
            "primary_metric": self.primary_metric,
            "reference": asdict(self.reference),
            "variants": [v.to_dict() for v in self.variants],
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON (strict JSON: no NaN or Infinity)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def to_pandas(self) -> Any:
        """The variants as a ``pandas.DataFrame``: one row each (the PyTorch reference first), indexed by name.

        Columns: ``precision``, ``passed``, ``agreement``, ``disagreements``, each metric's value and
        ``<metric>_delta_points``, ``max_abs_diff`` / ``min_cosine`` over the compared outputs,
        ``examples_per_second`` and ``error``.
        """
        import pandas as pd

        reference = {"variant": "pytorch", "precision": "fp32", "passed": None, "agreement": None,
                     "disagreements": None, **self.reference.metrics,
                     "examples_per_second": self.reference.timing.examples_per_second}
        rows = [reference]
        for v in self.variants:
            row: dict[str, Any] = {"variant": v.name, "precision": v.precision, "passed": v.passed,
                                   "agreement": v.agreement, "disagreements": v.disagreement_count}
            for metric in v.metrics:
                row[metric.name] = metric.value
                if metric.name in self.reference.metrics:
                    row[f"{metric.name}_delta_points"] = metric.delta_points
            diffs = [o.max_abs_diff for o in v.outputs if o.max_abs_diff is not None]
            row["max_abs_diff"] = max(diffs) if diffs else None
            cosines = [o.cosine_min for o in v.outputs if o.cosine_min is not None]
            row["min_cosine"] = min(cosines) if cosines else None
            row["examples_per_second"] = v.timing.examples_per_second if v.timing else None
            row["error"] = v.error
            rows.append(row)
        return pd.DataFrame(rows).set_index("variant")

    @classmethod
    def from_dict(cls: type[_Results], data: Mapping[str, Any]) -> _Results:
        """Rebuild a report from :meth:`to_dict` output.

        Raises:
            InvalidInputError: The document's major schema version is not this library's.
        """
        version = str(data.get("schema_version", ""))
        if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise InvalidInputError(
                f"Parity report schema {version!r} is not readable by this version (schema {SCHEMA_VERSION}); "
                "re-run the evaluation or use a matching onnx-pipelines version."
            )
        reference = dict(data["reference"])
        reference["timing"] = Timing(**reference["timing"])
        return cls(
            task=data["task"],
            model=dict(data["model"]),
            dataset=dict(data["dataset"]),
            settings=dict(data["settings"]),
            reference=ReferenceResult(**reference),
            variants=[VariantResult.from_dict(v) for v in data["variants"]],
            primary_metric=data.get("primary_metric"),
            notes=list(data.get("notes", [])),
            created=data["created"],
            tool_version=data["tool_version"],
            schema_version=version,
        )

    @classmethod
    def read_json(cls: type[_Results], path: str | Path) -> _Results:
        """Load a ``parity.json`` file."""
        return cls.from_dict(json.loads(Path(path).read_text()))
