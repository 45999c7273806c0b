"""Load a model folder's Hugging Face pieces (tokenizer, PyTorch model) with errors that say what to fix.

``transformers`` answers a broken folder with messages that hide the cause: a truncated ``tokenizer.json``
escapes as a bare ``Exception: EOF while parsing``, and a ``pytorch_model.bin`` that
``torch.load(weights_only=True)`` refuses ends, through Optimum's TensorFlow fallback, as "No module named
'tensorflow'". Everything that loads a tokenizer or a PyTorch model goes through this module instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from onnx_pipelines.errors import InvalidModelError

_PICKLED_WEIGHTS = "pytorch_model.bin"
_TOKENIZER_JSON = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def load_tokenizer(path: str | Path, **kwargs: Any) -> Any:
    """``AutoTokenizer.from_pretrained(path)``, with a corrupt tokenizer file reported as such.

    Args:
        path: A model folder (or an artifact folder) holding the tokenizer files.
        **kwargs: Passed on to ``AutoTokenizer.from_pretrained``.

    Raises:
        InvalidModelError: A tokenizer file is not valid JSON, or the tokenizer cannot be loaded.
    """
    from transformers import AutoTokenizer

    folder = Path(path)
    try:
        return AutoTokenizer.from_pretrained(folder, **kwargs)
    except Exception as e:  # the tokenizers Rust core raises a bare Exception
        try:
            check_tokenizer_files(folder)
        except InvalidModelError as corrupt:
            raise corrupt from e  # chain what transformers said
        reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise InvalidModelError(
            f"The tokenizer in {str(folder)!r} cannot be loaded ({type(e).__name__}: {reason[:200]}). "
            "Save it there again with tokenizer.save_pretrained(...)."
        ) from e


def check_tokenizer_files(path: str | Path) -> None:
    """Refuse a folder whose tokenizer JSON files do not parse (a truncated download or copy).

    Raises:
        InvalidModelError: ``tokenizer.json``, ``tokenizer_config.json`` or ``special_tokens_map.json`` is
            not valid JSON.
    """
    for name in _TOKENIZER_JSON:
        file = Path(path) / name
        if not file.is_file():
            continue
        try:
            json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InvalidModelError(
                f"{str(file)!r} is not valid JSON ({e}): the file is truncated or corrupt. Save the tokenizer "
                "there again with tokenizer.save_pretrained(...), or copy the model folder again."
            ) from e


def check_torch_weights(path: str | Path) -> None:
    """Refuse a folder whose only PyTorch weights are a pickle that ``torch.load(weights_only=True)`` refuses.

    transformers loads ``pytorch_model.bin`` with ``weights_only=True``; when that fails it raises an
    ``OSError``, which Optimum's ``TasksManager.get_model_from_task`` takes for a TensorFlow checkpoint and
    retries with ``from_tf=True`` -- hence "No module named 'tensorflow'". Folders with safetensors weights
    (or none) pass without loading anything.

    Raises:
        InvalidModelError: ``pytorch_model.bin`` holds Python objects beyond tensors, or is no checkpoint.
    """
    folder = Path(path)
    pickled = folder / _PICKLED_WEIGHTS
    if not pickled.is_file() or (folder / "model.safetensors").is_file() or any(folder.glob("model-*.safetensors")):
        return
    import torch

    try:
        try:
            torch.load(pickled, map_location="meta", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):  # an old (non-zip) checkpoint cannot be memory-mapped: load it plainly
                raise
            torch.load(pickled, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle.UnpicklingError, RuntimeError for a file that is no checkpoint, ...
        raise InvalidModelError(
            f"{str(pickled)!r} cannot be loaded safely: torch.load(weights_only=True) refuses it "
            f"({_torch_load_reason(e)}). "
            "It pickles Python objects besides tensors, or is not a PyTorch checkpoint. If you trust its source, "
            "convert it once: load the state dict with torch.load(path, weights_only=False) into the model and "
            "save it with model.save_pretrained(folder), which writes model.safetensors; or pass a folder that "
            "holds model.safetensors."
        ) from e


def _torch_load_reason(error: Exception) -> str:
    """The line of a ``torch.load`` error that names the cause (torch wraps it in a page of advice)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if "WeightsUnpickler error:" in line:
            cause = line.split("WeightsUnpickler error:", 1)[1].split(". Please use", 1)[0].strip()
            return cause or type(error).__name__
    if not lines or lines[0].startswith("Weights only load failed"):
        return type(error).__name__
    return lines[0][:200]


def load_torch_model(torch_class: Any, path: str | Path, **kwargs: Any) -> Any:
    """``torch_class.from_pretrained(path)`` in eval mode, with unloadable weights reported as such.

    transformers already prefers ``model.safetensors`` over ``pytorch_model.bin``, so no flag is passed.

    Args:
        torch_class: An ``AutoModelFor...`` class (``TaskSpec.load_torch_class()``).
        path: The model folder.
        **kwargs: Passed on to ``from_pretrained``.

    Raises:
        InvalidModelError: The weights cannot be loaded safely (see :func:`check_torch_weights`).
    """
    check_torch_weights(path)
    return torch_class.from_pretrained(Path(path), **kwargs).eval()


__all__ = ["check_torch_weights", "load_tokenizer", "load_torch_model"]


def cap_max_length(tokenizer: Any, config: Any) -> None:
    """Some tokenizers report a huge ``model_max_length``; truncation must stop at the position limit."""
    limit = getattr(config, "max_position_embeddings", None)
    if limit and (tokenizer.model_max_length is None or tokenizer.model_max_length > limit):
        tokenizer.model_max_length = int(limit)
