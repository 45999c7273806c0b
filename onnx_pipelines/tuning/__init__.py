"""``tune``: search build recipes, judge them with the parity evaluator, time them, save the winner as a recipe.

:func:`tune` (:mod:`~onnx_pipelines.tuning.search`) searches a space of candidates
(:mod:`~onnx_pipelines.tuning.space`), step by step in a :class:`~onnx_pipelines.tuning.run.TuneRun`, timing
each beside PyTorch (:mod:`~onnx_pipelines.tuning.timing`); :class:`TuneResult`
(:mod:`~onnx_pipelines.tuning.result`) holds what it found and renders it (:mod:`~onnx_pipelines.tuning.render`).
``onnx-pipelines tune`` is the command line.
"""

from onnx_pipelines.tuning.report import TuneResult
from onnx_pipelines.tuning.result import CandidateOutcome, SplitScore
from onnx_pipelines.tuning.search import tune
from onnx_pipelines.tuning.space import SPACES, TuneCandidate, parse_candidate, search_space
from onnx_pipelines.tuning.timing import TimingSettings

__all__ = [
    "SPACES",
    "CandidateOutcome",
    "SplitScore",
    "TimingSettings",
    "TuneCandidate",
    "TuneResult",
    "parse_candidate",
    "search_space",
    "tune",
]
