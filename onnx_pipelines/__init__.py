"""onnx-pipelines: Hugging Face transformers on ONNX Runtime, with proof of parity.

Example:
    >>> from onnx_pipelines import load_pipeline
    >>> clf = load_pipeline("text-classification", "path/to/model", optimize="O2", quantize="dynamic")  # doctest: +SKIP
    >>> clf(["some text", "another"])  # doctest: +SKIP
"""

from onnx_pipelines.artifacts import build_artifact
from onnx_pipelines.build_request import BuildRequest, resolve_build_request
from onnx_pipelines.cache import Artifact, ArtifactCache, default_cache_dir
from onnx_pipelines.config import CalibrationMethod, Variant, detect_cpu_isa, parse_variants
from onnx_pipelines.errors import (
    CorruptModelError,
    DatasetError,
    ExportError,
    InvalidConfigError,
    InvalidInputError,
    InvalidModelError,
    ModelNotFoundError,
    OnnxPipelinesError,
    ParityError,
    ProviderUnavailableError,
    TaskMismatchError,
    UnsupportedArchitectureError,
    UnsupportedTaskError,
)
from onnx_pipelines.graph_info import OnnxReport, inspect_onnx
from onnx_pipelines.length_batches import length_sorted_batches, restore_order
from onnx_pipelines.pipeline import load_pipeline, open_pipeline
from onnx_pipelines.recipes import load_recipe, save_recipe
from onnx_pipelines.runtime import RuntimeSettings, resolve_provider
from onnx_pipelines.support_check import SupportReport, check_model
from onnx_pipelines.tasks import TaskSpec, get_task, supported_tasks
from onnx_pipelines.tuning import TuneResult, tune
from onnx_pipelines.versions import __version__

__all__ = [
    "Artifact",
    "ArtifactCache",
    "BuildRequest",
    "CalibrationMethod",
    "CorruptModelError",
    "DatasetError",
    "ExportError",
    "InvalidConfigError",
    "InvalidInputError",
    "InvalidModelError",
    "ModelNotFoundError",
    "OnnxPipelinesError",
    "OnnxReport",
    "ParityError",
    "ProviderUnavailableError",
    "RuntimeSettings",
    "SupportReport",
    "TaskMismatchError",
    "TaskSpec",
    "TuneResult",
    "UnsupportedArchitectureError",
    "UnsupportedTaskError",
    "Variant",
    "__version__",
    "build_artifact",
    "check_model",
    "default_cache_dir",
    "detect_cpu_isa",
    "get_task",
    "inspect_onnx",
    "length_sorted_batches",
    "load_pipeline",
    "load_recipe",
    "open_pipeline",
    "parse_variants",
    "resolve_build_request",
    "resolve_provider",
    "restore_order",
    "save_recipe",
    "supported_tasks",
    "tune",
]
