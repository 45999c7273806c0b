"""What every onnx-pipelines pipeline carries besides transformers' behaviour."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class OnnxPipelineMixin:
    """Metadata about the ONNX artifact behind a pipeline.

    Attributes:
        artifact: The :class:`~onnx_pipelines.cache.Artifact` the model was loaded from (``None`` until
            :func:`~onnx_pipelines.load_pipeline` sets it).
        variant: The variant name, e.g. ``"O2+int8-dynamic"``.
        provider: The ONNX Runtime execution provider in use.
    """

    artifact: Any = None
    variant: str = "fp32"
    provider: str = "CPUExecutionProvider"


def raw_outputs(pipe: Any, inputs: Any, output_names: tuple[str, ...],
                **preprocess_params: Any) -> list[dict[str, Any]]:
    """Run a pipeline's own preprocessing and model on one input and return the named raw outputs.

    Works for PyTorch and ONNX Runtime pipelines alike, so parity checks compare logits on exactly the
    features each pipeline builds: for chunked inputs there is one entry per chunk (long contexts split
    with ``doc_stride``, long texts split with ``stride``).

    Args:
        pipe: A ``transformers.Pipeline``.
        inputs: One input as the pipeline's ``preprocess`` takes it (a string, a ``SquadExample``, ...).
        output_names: Model outputs to keep, e.g. ``("start_logits", "end_logits")``.
        **preprocess_params: Passed to ``preprocess`` (``doc_stride=...``, ``is_split_into_words=...``).

    Returns:
        One dict per chunk: each output name mapped to a float32 array without the batch axis, plus the
        chunk's ``attention_mask``.

    Example:
        >>> rows = raw_outputs(qa, SquadExample(None, "Who?", "Ann.", None, None, None),  # doctest: +SKIP
        ...                    ("start_logits", "end_logits"))
    """
    import torch

    features = pipe.preprocess(inputs, **preprocess_params)
    if isinstance(features, Mapping):  # non-chunk pipelines return one encoding rather than a generator
        features = [features]
    rows = []
    for feature in features:
        model_inputs = {k: feature[k] for k in pipe.tokenizer.model_input_names if k in feature}
        with torch.inference_mode():
            outputs = pipe.model(**model_inputs)
        row = {name: _numpy(outputs[name][0]) for name in output_names}
        row["attention_mask"] = _numpy(model_inputs["attention_mask"][0]).astype(bool)
        rows.append(row)
    return rows


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().float().cpu().numpy()
    return np.asarray(value, dtype=np.float32)
