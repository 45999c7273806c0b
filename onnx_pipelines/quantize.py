"""Int8 quantization (dynamic, or static with calibration) with Optimum's ``ORTQuantizer``.

onnxruntime's quantizer needs a value type for every tensor it quantizes. After ORT's transformer
optimizer (O2/O3) the graph holds fused ``com.microsoft`` operators (``Attention``,
``SkipLayerNormalization``, ``FastGelu``) that ONNX's own shape inference cannot type, and quantizing
fails with "Unable to find data type for weight_name ...". ORT's symbolic shape inference knows those
operators, so every graph goes through onnxruntime's ``quant_pre_process`` (symbolic shape inference) before
it reaches the quantizer: every optimize level then quantizes, through the same Optimum path.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from onnx_pipelines.config import CalibrationMethod, QuantizeSettings
from onnx_pipelines.errors import ExportError, InvalidConfigError

logger = logging.getLogger(__name__)


def annotate_types(model_path: Path, output_path: Path) -> Path:
    """Write a copy of the model whose intermediate tensors carry types, for the quantizer.

    This is onnxruntime's documented pre-processing step, ``quant_pre_process``, limited to ORT's
    symbolic shape inference (which types the fused ``com.microsoft`` operators of O2/O3 graphs): its
    graph optimization is skipped, since the graph was optimized (or deliberately left alone) already.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(
            str(model_path), str(output_path), skip_optimization=True, skip_onnx_shape=True, auto_merge=True
        )
    except Exception as e:  # the inference raises bare Exceptions on unknown ops
        raise ExportError(f"Could not infer tensor types of {model_path.name} before quantizing: {e}") from e
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
        config = settings.config
        if settings.is_static:
            if not calibration_batches:
                raise InvalidConfigError(
                    "Static quantization needs calibration data: pass calibration_dataset=... "
                    "(a datasets.Dataset or a list of texts), or use quantize='dynamic'."
                )
            config = static_config(settings.config, work / "model.onnx")
            ranges = _calibrate(quantizer, work, settings, config, calibration_batches)
        quantizer.quantize(
            save_dir=work, quantization_config=config, file_suffix="quantized",
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


#: Entropy (KL) calibration searches clipping thresholds between ``ENTROPY_QUANTIZED_BINS`` and ``ENTROPY_BINS``
#: histogram bins. Optimum's default (128 and 128) leaves one candidate, the full range, so "entropy" gave
#: exactly the minmax ranges; 512 bins lets it clip to as little as a quarter of the range (2048, as
#: TensorRT uses, was 4x slower on MiniLM for nearly the same thresholds).
ENTROPY_BINS = 512
ENTROPY_QUANTIZED_BINS = 128
#: Graph inputs that carry the padding mask rather than text; what is computed from them alone is no activation.
MASK_INPUTS: frozenset[str] = frozenset({"attention_mask"})
#: Operators whose outputs describe a tensor's shape, not its values: dependence stops there.
_SHAPE_OPS: frozenset[str] = frozenset({"Shape", "Size"})


def mask_only_op_types(model: Any, op_types: Iterable[str]) -> set[str]:
    """The op types (among ``op_types``) of float nodes computed from the attention mask, not from the text.

    A node is on the *data path* when it depends, through anything but ``Shape``/``Size``, on a graph
    input other than :data:`MASK_INPUTS` (``input_ids``, ``token_type_ids``, ...); it is on the *mask
    path* when it depends on the mask but not on the data. Float nodes on the mask path build the mask
    bias, whose ``finfo.min`` sentinel cannot be calibrated or held in int8.

    Args:
        model: An ``onnx.ModelProto`` with inferred tensor types (:func:`annotate_types`), nodes in
            topological order as exporters write them.
        op_types: The operator types the quantization config would quantize.

    Returns:
        The op types to leave in float; empty for fused graphs.
    """
    import onnx

    wanted = set(op_types)
    floats = {
        info.name for info in (*model.graph.value_info, *model.graph.output)
        if info.type.tensor_type.elem_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    }
    data = {i.name for i in model.graph.input if i.name not in MASK_INPUTS}
    mask = {i.name for i in model.graph.input if i.name in MASK_INPUTS}
    found: set[str] = set()
    for node in model.graph.node:
        if node.op_type in _SHAPE_OPS:
            continue
        if any(name in data for name in node.input):
            data.update(node.output)
        elif any(name in mask for name in node.input):
            mask.update(node.output)
            if node.op_type in wanted and any(name in floats for name in node.output):
                found.add(node.op_type)
    return found


def static_config(config: Any, model_path: Path) -> Any:
    """The static ``QuantizationConfig`` with mask-only op types removed (see :func:`mask_only_op_types`)."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    skipped = mask_only_op_types(model, config.operators_to_quantize)
    if not skipped:
        return config
    logger.info("Leaving %s in float: in this graph they only build the attention-mask bias", sorted(skipped))
    operators = [op for op in config.operators_to_quantize if op not in skipped]
    return dataclasses.replace(config, operators_to_quantize=operators)


def _calibrate(quantizer: Any, work: Path, settings: QuantizeSettings, config: Any,
               batches: Sequence[dict[str, Any]]) -> Any:
    import numpy as np
    import onnx
    from datasets import Dataset
    from optimum.onnxruntime.configuration import AutoCalibrationConfig

    # Feed the inputs the graph declares: DeBERTa-v2 graphs have no token_type_ids though its tokenizer
    # gives them, and a graph may want token_type_ids a tokenizer does not give (zeros, as ORTModel does).
    graph_inputs = [i.name for i in onnx.load(str(work / "model.onnx"), load_external_data=False).graph.input]
    rows: dict[str, list[Any]] = {}
    for batch in batches:
        for key in graph_inputs:
            value = batch.get(key)
            if value is None and key == "token_type_ids":
                value = np.zeros_like(np.asarray(batch["input_ids"]))
            elif value is None:
                raise InvalidConfigError(f"Calibration data has no {key!r}, which the graph takes as input.")
            rows.setdefault(key, []).extend(list(value))
    dataset = Dataset.from_dict(rows)
    method = settings.calibration_method or CalibrationMethod.MINMAX
    if method is CalibrationMethod.MINMAX:
        calibration = AutoCalibrationConfig.minmax(dataset)
    elif method is CalibrationMethod.ENTROPY:
        calibration = AutoCalibrationConfig.entropy(dataset, num_bins=ENTROPY_BINS,
                                                    num_quantized_bins=ENTROPY_QUANTIZED_BINS)
    else:
        calibration = AutoCalibrationConfig.percentiles(dataset, percentile=settings.percentile)
    logger.info("Calibrating %s on %d rows", method.value, len(dataset))
    return quantizer.fit(
        dataset=dataset,
        calibration_config=calibration,
        onnx_augmented_model_name=work / "augmented_model.onnx",
        operators_to_quantize=config.operators_to_quantize,
        batch_size=8,
    )
