"""Parity hooks for feature extraction: every real token's hidden state, by absolute difference and cosine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from onnx_pipelines.parity.adapters.base import AdapterContext, OutputSpec, Predictions, TaskAdapter


class FeatureExtractionAdapter(TaskAdapter):
    """Token-level hidden states (``AutoModel``'s ``last_hidden_state``), as transformers' feature extraction.

    Compared: ``last_hidden_state`` of every real token (padding cut away), with per-text cosine
    similarity of the flattened states. There is no discrete prediction and no gold label: output
    differences alone judge the variants (pooled vectors and neighbour agreement are the
    ``sentence-embeddings`` task's).
    """

    task = "feature-extraction"
    input_roles = ("text",)
    label_role = None
    model_outputs = ("last_hidden_state",)
    compared = (OutputSpec("last_hidden_state", cosine=True),)

    def predict(self, outputs: Sequence[Mapping[str, np.ndarray]], ctx: AdapterContext) -> Predictions | None:
        return None

    def label_name(self, label: Any, ctx: AdapterContext) -> str:
        return str(label)
