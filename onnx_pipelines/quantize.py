"""Int8 quantization (dynamic, or static with calibration) with Optimum's ``ORTQuantizer``.

onnxruntime's quantizer needs a value type for every tensor it quantizes. After ORT's transformer
optimizer (O2/O3) the graph holds fused ``com.microsoft`` operators (``Attention``,
``SkipLayerNormalization``, ``FastGelu``) that ONNX's own shape inference cannot type, and quantizing
fails with "Unable to find data type for weight_name ...". ORT's symbolic shape inference knows those
operators, so every graph is annotated with it before it reaches the quantizer: every optimize level
then quantizes, through the same Optimum path.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from onnx_pipelines.config import CalibrationMethod, QuantizeSettings
from onnx_pipelines.errors import ExportError, InvalidConfigError

logger = logging.getLogger(__name__)


def annotate_types(model_path: Path, output_path: Path) -> Path:
    """Write a copy of the model whose intermediate tensors carry types (ORT symbolic shape inference)."""
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    model = onnx.load(str(model_path))
    try:
        inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    except Exception as e:  # the inference raises bare Exceptions on unknown ops
        raise ExportError(f"Could not infer tensor types of {model_path.name} before quantizing: {e}") from e
    onnx.save(inferred, str(output_path))
    return output_path


def quantize_model(
    model_dir: Path,
    model_file: str,
    output_dir: Path,
    settings: QuantizeSettings,
    output_file: str,
    *,
    calibration_batches: Sequence[dict[str, Any]] | None = None,
) -> Path:
    """Quantize ``model_dir/model_file`` into ``output_dir/output_file``.

    Args:
        model_dir: Folder holding the model and its ``config.json``.
        model_file: File name of the fp32 model.
        output_dir: Where to write the quantized model.
        settings: The resolved quantization settings.
        output_file: File name of the quantized model.
        calibration_batches: Tokenized rows (dicts of numpy arrays, all padded to one length) for static
            quantization.

    Returns:
        The path of the quantized model.

    Raises:
        InvalidConfigError: Static quantization without calibration data.
        ExportError: If onnxruntime's quantizer fails.
    """
    from optimum.onnxruntime import ORTQuantizer

    work = output_dir / "_quantize_work"
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy2(model_dir / "config.json", work / "config.json")
    annotate_types(model_dir / model_file, work / "model.onnx")
    try:
        quantizer = ORTQuantizer.from_pretrained(work, file_name="model.onnx")
        ranges = None
        if settings.is_static:
            if not calibration_batches:
                raise InvalidConfigError(
                    "Static quantization needs calibration data: pass calibration_dataset=... "
                    "(a datasets.Dataset or a list of texts), or use quantize='dynamic'."
                )
            ranges = _calibrate(quantizer, work, settings, calibration_batches)
        quantizer.quantize(
            save_dir=work, quantization_config=settings.config, file_suffix="quantized",
            calibration_tensors_range=ranges,
        )
    except InvalidConfigError:
        raise
    except Exception as e:
        raise ExportError(f"Quantizing {model_file} ({settings.label}) failed: {type(e).__name__}: {e}") from e
    target = output_dir / output_file
    (work / "model_quantized.onnx").replace(target)
    shutil.rmtree(work, ignore_errors=True)
    return target


def _calibrate(quantizer: Any, work: Path, settings: QuantizeSettings,
               batches: Sequence[dict[str, Any]]) -> Any:
    from datasets import Dataset
    from optimum.onnxruntime.configuration import AutoCalibrationConfig

    rows: dict[str, list[Any]] = {}
    for batch in batches:
        for key, value in batch.items():
            rows.setdefault(key, []).extend(list(value))
    dataset = Dataset.from_dict(rows)
    method = settings.calibration_method or CalibrationMethod.MINMAX
    if method is CalibrationMethod.MINMAX:
        calibration = AutoCalibrationConfig.minmax(dataset)
    elif method is CalibrationMethod.ENTROPY:
        calibration = AutoCalibrationConfig.entropy(dataset)
    else:
        calibration = AutoCalibrationConfig.percentiles(dataset, percentile=settings.percentile)
    logger.info("Calibrating %s on %d rows", method.value, len(dataset))
    return quantizer.fit(
        dataset=dataset,
        calibration_config=calibration,
        onnx_augmented_model_name=work / "augmented_model.onnx",
        operators_to_quantize=settings.config.operators_to_quantize,
        batch_size=8,
    )
