"""Evaluation metrics that load without the Hugging Face Hub.

``evaluate.load("accuracy")`` downloads the metric's script from the Hub, so it fails offline. The
metrics the library needs ship here as ordinary ``evaluate`` modules (``<name>/<name>.py``);
:func:`load_metric` loads those from their local script path, which ``evaluate`` copies into its
modules cache (``HF_MODULES_CACHE``) and imports without any network access.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import evaluate

from onnx_pipelines.errors import InvalidConfigError

BUNDLED_METRICS: tuple[str, ...] = ("accuracy", "f1", "precision", "ranking", "recall", "seqeval", "squad")
"""Metric names :func:`load_metric` serves from this package, offline."""

_METRICS_DIR = Path(__file__).resolve().parent


def load_metric(name_or_path: str, **kwargs: Any) -> evaluate.EvaluationModule:
    """Load an ``evaluate`` metric, from this package when it is bundled.

    Args:
        name_or_path: A name in :data:`BUNDLED_METRICS` (loaded offline from this package), or any
            name or local script path ``evaluate.load`` accepts (a Hub name needs internet access).
        **kwargs: Passed to ``evaluate.load`` (``config_name``, ``keep_in_memory``, ``cache_dir``, ...).

    Returns:
        The loaded metric.

    Raises:
        InvalidConfigError: The metric is not bundled and ``evaluate.load`` could not load it.

    Example:
        >>> f1 = load_metric("f1")
        >>> f1.compute(predictions=[0, 1, 1], references=[0, 1, 0], average="macro")
        {'f1': 0.6666666666666666}
    """
    if name_or_path in BUNDLED_METRICS:
        # The script's own path, not its folder: a bare folder name such as "f1" relative to the
        # working directory would otherwise be taken for a Hub metric.
        return evaluate.load(str(_METRICS_DIR / name_or_path / f"{name_or_path}.py"), **kwargs)
    try:
        return evaluate.load(name_or_path, **kwargs)
    except (OSError, ValueError, ImportError) as e:
        raise InvalidConfigError(
            f"Metric {name_or_path!r} could not be loaded: it is not bundled with onnx-pipelines, and "
            f"evaluate.load failed ({type(e).__name__}: {e}). Loading it needs internet access to the "
            f"Hugging Face Hub (are you offline?) or a path to a local metric script. Metrics that work "
            f"offline: {', '.join(BUNDLED_METRICS)}."
        ) from e


__all__ = ["BUNDLED_METRICS", "load_metric"]
