"""What every onnx-pipelines pipeline carries besides transformers' behaviour."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from onnx_pipelines.session_runner import ModelRunner, OrtRunner


class OnnxPipelineMixin:
    """Metadata about the ONNX artifact behind a pipeline, and a direct path to its ONNX Runtime session.

    Attributes:
        artifact: The :class:`~onnx_pipelines.cache.Artifact` the model was loaded from (``None`` until
            :func:`~onnx_pipelines.load_pipeline` sets it).
        variant: The variant name, e.g. ``"O2+int8-dynamic"``.
        provider: The ONNX Runtime execution provider in use.
    """

    artifact: Any = None
    variant: str = "fp32"
    provider: str = "CPUExecutionProvider"
    model: Any
    _runner: ModelRunner | None = None

    def predict_dataset(self, texts_or_dataset: Any, *, max_batch_size: int = 32, max_tokens: int = 8192,
                        column: str = "text", **call_kwargs: Any) -> Any:
        """Run over a whole dataset with length-aware batching, results in input order.

        See :func:`onnx_pipelines.pipelines.dataset_prediction.predict_dataset` for the arguments.
        """
        from onnx_pipelines.pipelines.dataset_prediction import predict_dataset

        return predict_dataset(self, texts_or_dataset, max_batch_size=max_batch_size, max_tokens=max_tokens,
                               column=column, **call_kwargs)

    def onnx_session(self) -> Any:
        """The model's ``onnxruntime.InferenceSession`` when numpy feeds can go to it directly, else ``None``.

        IO binding (GPU providers) keeps Optimum's own forward, which manages the device buffers.
        """
        if getattr(self.model, "use_io_binding", False):
            return None
        return getattr(self.model, "session", None)

    def runner(self) -> ModelRunner:
        """The :class:`~onnx_pipelines.session_runner.ModelRunner` over the model's session (made once)."""
        session = self.onnx_session()
        if self._runner is None or getattr(self._runner, "session", None) is not session:
            self._runner = OrtRunner(session)
        return self._runner

    def run_onnx(self, encoded: Mapping[str, Any], output_names: list[str] | None = None) -> list[np.ndarray]:
        """Run the model on tokenizer output, skipping the torch round trip of ``ORTModel.forward``.

        The runner feeds the inputs the graph declares in its integer types, and zero-fills
        ``token_type_ids`` when the graph wants it and the tokenizer gave none (what ``ORTModel`` does).
        """
        runner = self.runner()
        outputs = runner.run(encoded, output_names)
        return [outputs[name] for name in (output_names or runner.output_names)]


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
