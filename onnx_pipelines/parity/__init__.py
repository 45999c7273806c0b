"""Accuracy parity: prove, on your own data, how far each ONNX variant is from the PyTorch original.

Example:
    >>> from onnx_pipelines.parity import evaluate_parity
    >>> report = evaluate_parity("models/bbc", "text-classification", "data/test.jsonl",
    ...                          variants="fp32,O2,O2+int8-dynamic", max_length=128)  # doctest: +SKIP
    >>> report.passed  # doctest: +SKIP
    True
"""

from onnx_pipelines.parity.adapters import (
    ADAPTERS,
    AdapterContext,
    MetricSpec,
    OutputSpec,
    Predictions,
    TaskAdapter,
    get_adapter,
    parity_tasks,
    register_adapter,
)
from onnx_pipelines.parity.calibration import CalibrationSettings
from onnx_pipelines.parity.compare import OutputComparison
from onnx_pipelines.parity.evaluator import ParityEvaluator, evaluate_parity
from onnx_pipelines.parity.mergeable import compare_outputs
from onnx_pipelines.parity.prepare import ParityOptions
from onnx_pipelines.parity.report import SCHEMA_VERSION, ParityReport, VariantResult
from onnx_pipelines.parity.thresholds import DEFAULT_THRESHOLDS, Thresholds

__all__ = [
    "ADAPTERS",
    "DEFAULT_THRESHOLDS",
    "SCHEMA_VERSION",
    "AdapterContext",
    "CalibrationSettings",
    "MetricSpec",
    "OutputComparison",
    "OutputSpec",
    "ParityEvaluator",
    "ParityOptions",
    "ParityReport",
    "Predictions",
    "TaskAdapter",
    "Thresholds",
    "VariantResult",
    "compare_outputs",
    "evaluate_parity",
    "get_adapter",
    "parity_tasks",
    "register_adapter",
]
