"""Side-by-side speed of the PyTorch pipeline, the plain Optimum recipe, and our ONNX variants.

Each candidate is measured in its own process (:mod:`~onnx_pipelines.benchmark.worker`), candidates take
turns over rounds (:mod:`~onnx_pipelines.benchmark.runner`), and the results become JSON, Markdown and a PNG
(:mod:`~onnx_pipelines.benchmark.report`). ``onnx-pipelines bench`` is the command line.
"""

from onnx_pipelines.benchmark.candidates import (
    DEFAULT_VARIANTS,
    Candidate,
    CandidateKind,
    PreparedCandidate,
    default_candidates,
)
from onnx_pipelines.benchmark.report import BenchmarkResult, summarize, to_markdown, write_reports
from onnx_pipelines.benchmark.runner import BenchData, BenchSettings, run_benchmark

__all__ = [
    "DEFAULT_VARIANTS",
    "BenchData",
    "BenchSettings",
    "BenchmarkResult",
    "Candidate",
    "CandidateKind",
    "PreparedCandidate",
    "default_candidates",
    "run_benchmark",
    "summarize",
    "to_markdown",
    "write_reports",
]
