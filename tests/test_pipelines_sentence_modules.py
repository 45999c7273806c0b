"""Sentence-transformers models beyond mean pooling: CLS, max, mean-sqrt-len, Dense, Normalize, or refused.

The real all-MiniLM-L6-v2 transformer is exported once (the session cache); each pooling stack is that
ONNX graph in a folder with the stack's own ``modules.json`` (a pre-exported folder: no second export),
compared with ``SentenceTransformer.encode`` of the same stack in PyTorch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from onnx_pipelines import load_pipeline
from onnx_pipelines.errors import InvalidModelError
from onnx_pipelines.pipelines.sentence_modules import read_modules

SENTENCES = [
    "A man is eating food.",
    "Shares in the bank rose sharply after it reported record profits for the third quarter of the year.",
    "The film festival opened with a premiere attended by actors and critics. " * 20,  # past 256 tokens
]
#: (pooling mode, Dense out features or None, Normalize)
STACKS = [
    ("cls", None, False),
    ("max", None, False),
    ("mean_sqrt_len_tokens", None, True),
    ("mean", 128, True),
    ("cls", 96, False),
]


@pytest.fixture(scope="module")
def minilm_onnx(minilm_model: Path, artifact_cache: Path) -> Path:
    """The exported all-MiniLM-L6-v2 graph folder (shared with the other sentence-embedding tests)."""
    embed = load_pipeline("sentence-embeddings", minilm_model, cache_dir=artifact_cache)
    return Path(embed.artifact.path)


def _stack(minilm_model: Path, mode: str, dense: int | None, normalize: bool) -> Any:
    import torch
    from sentence_transformers import SentenceTransformer, models

    transformer = models.Transformer(str(minilm_model), max_seq_length=256)
    modules: list[Any] = [transformer, models.Pooling(384, mode)]
    if dense:
        torch.manual_seed(0)
        modules.append(models.Dense(384, dense, activation_function=torch.nn.Tanh()))
    if normalize:
        modules.append(models.Normalize())
    return SentenceTransformer(modules=modules, device="cpu")


def _folder(tmp_path: Path, onnx_dir: Path, model: Any) -> Path:
    """The stack saved by sentence-transformers, with its transformer weights swapped for the ONNX graph."""
    folder = tmp_path / "stack"
    model.save(str(folder))
    for weights in ("model.safetensors", "pytorch_model.bin"):
        (folder / weights).unlink(missing_ok=True)
    shutil.copy2(onnx_dir / "model.onnx", folder / "model.onnx")
    return folder


@pytest.mark.parametrize(("mode", "dense", "normalize"), STACKS)
def test_pooling_stack_matches_sentence_transformers(mode: str, dense: int | None, normalize: bool,
                                                     minilm_model: Path, minilm_onnx: Path, tmp_path: Path) -> None:
    model = _stack(minilm_model, mode, dense, normalize)
    folder = _folder(tmp_path, minilm_onnx, model)
    expected = model.encode(SENTENCES, convert_to_numpy=True)
    embed = load_pipeline("sentence-embeddings", folder, cache_dir=tmp_path / "cache")
    got = embed(SENTENCES)
    assert got.shape == expected.shape == (len(SENTENCES), dense or 384)
    cosine = (got * expected).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))
    assert cosine.min() >= 0.9999, cosine
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), np.linalg.norm(expected, axis=1), rtol=1e-3)


def test_several_pooling_modes_are_refused(minilm_model: Path, tmp_path: Path) -> None:
    model = _stack(minilm_model, "mean", None, False)
    model.save(str(tmp_path / "st"))
    config_file = tmp_path / "st" / "1_Pooling" / "config.json"
    config = json.loads(config_file.read_text())
    config["pooling_mode"] = ["mean", "max"]  # sentence-transformers would concatenate mean and max
    config_file.write_text(json.dumps(config))
    with pytest.raises(InvalidModelError, match="exactly one"):
        read_modules(tmp_path / "st")
    # The sentence-transformers < 5 spelling (all-MiniLM-L6-v2's own files use it).
    config_file.write_text(json.dumps({"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True,
                                       "pooling_mode_max_tokens": True}))
    with pytest.raises(InvalidModelError, match="exactly one"):
        read_modules(tmp_path / "st")


def test_an_unknown_module_is_refused_not_skipped(minilm_model: Path, tmp_path: Path) -> None:
    model = _stack(minilm_model, "mean", None, True)
    model.save(str(tmp_path / "st"))
    modules = json.loads((tmp_path / "st" / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_LayerNorm", "type": "sentence_transformers.models.LayerNorm"})
    (tmp_path / "st" / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(InvalidModelError, match="LayerNorm"):
        read_modules(tmp_path / "st")
