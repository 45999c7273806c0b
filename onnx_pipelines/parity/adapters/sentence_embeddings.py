"""Parity hooks for sentence embeddings: compare pooled vectors (cosine), agree on nearest neighbours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from onnx_pipelines.parity.adapters.base import AdapterContext, OutputSpec, Predictions, TaskAdapter


class SentenceEmbeddingsAdapter(TaskAdapter):
    """Sentence vectors pooled from ``last_hidden_state`` as sentence-transformers pools them.

    Both models' token states are pooled by the same code (:func:`onnx_pipelines.pipelines.
    sentence_embeddings.pool`, reading ``modules.json`` / ``1_Pooling`` from the model folder), so the
    comparison isolates the graph. Compared: the pooled ``sentence_embedding`` (absolute differences
    and cosine similarity). Prediction: each text's nearest neighbour among the evaluated texts by
    cosine similarity, so agreement says how often retrieval over this very set would change. There
    is no gold label, hence no task metric.
    """

    task = "sentence-embeddings"
    input_roles = ("text",)
    label_role = None
    model_outputs = ("last_hidden_state",)
    compared = (OutputSpec("sentence_embedding", cosine=True),)

    def default_max_length(self, config: Mapping[str, Any], tokenizer: Any, model_path: Any) -> int:
        from onnx_pipelines.pipelines.sentence_embeddings import PoolingConfig

        limit = super().default_max_length(config, tokenizer, model_path)
        configured = PoolingConfig.from_folder(model_path).max_seq_length
        return int(min(configured, limit)) if configured else limit

    def split_outputs(self, raw: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray],
                      ctx: AdapterContext) -> list[dict[str, np.ndarray]]:
        import torch

        from onnx_pipelines.pipelines.sentence_embeddings import PoolingConfig, pool

        states = torch.from_numpy(np.asarray(raw["last_hidden_state"], dtype=np.float32))
        mask = torch.from_numpy(np.asarray(batch["attention_mask"]))
        vectors = pool(states, mask, PoolingConfig.from_folder(ctx.model_path)).numpy()
        return [{"sentence_embedding": vector} for vector in vectors]

    def predict(self, outputs: Sequence[Mapping[str, np.ndarray]], ctx: AdapterContext) -> Predictions | None:
        if len(outputs) < 2:
            return None  # a nearest neighbour needs at least two texts
        vectors = np.stack([np.asarray(o["sentence_embedding"], dtype=np.float64) for o in outputs])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = vectors / np.where(norms > 0, norms, 1.0)
        similarity = unit @ unit.T
        np.fill_diagonal(similarity, -np.inf)
        labels = np.argmax(similarity, axis=1)
        ranked = np.sort(similarity, axis=1)
        second = ranked[:, -2] if len(outputs) > 2 else np.full(len(outputs), -1.0)
        return Predictions(labels=[int(x) for x in labels], margins=ranked[:, -1] - second, scores=ranked[:, -1])

    def label_name(self, label: Any, ctx: AdapterContext) -> str:
        return f"neighbour #{int(label)}"
