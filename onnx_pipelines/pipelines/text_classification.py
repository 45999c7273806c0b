"""Text classification (single texts and text pairs) on an ONNX Runtime model."""

from __future__ import annotations

from typing import Any

from transformers import TextClassificationPipeline

from onnx_pipelines.pipelines.base import OnnxPipelineMixin
from onnx_pipelines.pipelines.inputs import is_stream, normalize_texts


class OnnxTextClassificationPipeline(OnnxPipelineMixin, TextClassificationPipeline):
    """transformers' ``TextClassificationPipeline`` with input checks and truncation on by default.

    Inputs longer than the model's maximum length are truncated (``truncation=False`` turns that off).
    Text pairs are ``{"text": ..., "text_pair": ...}`` dicts or ``[text, text_pair]`` lists.

    Example:
        >>> clf = load_pipeline("text-classification", "path/to/model")  # doctest: +SKIP
        >>> clf(["Shares rose 5%", "The striker scored"], top_k=2)  # doctest: +SKIP
    """

    def __call__(self, inputs: Any = None, *args: Any, **kwargs: Any) -> Any:
        if inputs is None and "text" in kwargs:  # transformers' older keyword
            inputs = kwargs.pop("text")
        kwargs.setdefault("truncation", True)
        if not is_stream(inputs):
            inputs = normalize_texts(inputs, allow_pairs=True)
        return super().__call__(inputs, *args, **kwargs)
