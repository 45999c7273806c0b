"""Graph optimization (O1-O4) with Optimum's ``ORTOptimizer``."""

from __future__ import annotations

import logging
from pathlib import Path

from onnx_pipelines.config import OptimizeSettings
from onnx_pipelines.errors import ExportError

logger = logging.getLogger(__name__)


def optimize_model(model_dir: Path, model_file: str, output_dir: Path, settings: OptimizeSettings,
                   output_file: str) -> Path:
    """Optimize ``model_dir/model_file`` into ``output_dir/output_file``.

    ``model_dir`` must hold the model's ``config.json`` (Optimum reads the architecture from it to
    pick the fusions).

    Returns:
        The path of the optimized model.

    Raises:
        ExportError: If ORT's transformer optimizer fails.
    """
    from optimum.onnxruntime import ORTOptimizer

    logger.info("Optimizing %s with %s", model_file, settings.label)
    try:
        optimizer = ORTOptimizer.from_pretrained(model_dir, file_names=[model_file])
        optimizer.optimize(save_dir=output_dir, optimization_config=settings.config, file_suffix="optimized")
    except Exception as e:  # ORT's optimizer raises bare AssertionError/ValueError/KeyError
        raise ExportError(f"Optimizing {model_file} with {settings.label} failed: {type(e).__name__}: {e}") from e
    produced = output_dir / f"{Path(model_file).stem}_optimized.onnx"
    if not produced.is_file():
        raise ExportError(f"ORTOptimizer wrote no {produced.name} into {output_dir}.")
    target = output_dir / output_file
    produced.replace(target)
    return target
