"""Find a model (local folder or hub id), check it is one, and fingerprint its content for the cache."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from onnx_pipelines.errors import InvalidModelError, ModelNotFoundError

WEIGHT_FILES: tuple[str, ...] = ("model.safetensors", "pytorch_model.bin")
ONNX_FILE = "model.onnx"
TOKENIZER_FILES: tuple[str, ...] = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "special_tokens_map.json",
)
SENTENCE_TRANSFORMERS_FILES: tuple[str, ...] = (
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    # Dense modules where sentence-transformers saves them (after 1_Pooling), see pipelines/sentence_modules.py
    *(f"{n}_Dense/{f}" for n in (2, 3) for f in ("config.json", "model.safetensors", "pytorch_model.bin")),
)
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelSource:
    """A model located on disk.

    Attributes:
        path: The local folder holding config, weights (or ``model.onnx``) and tokenizer.
        hub_id: The hub id it came from, if any.
        revision: The hub revision (commit sha) it came from, if any.
    """

    path: Path
    hub_id: str | None = None
    revision: str | None = None

    @property
    def name(self) -> str:
        """A short, file-name safe model name."""
        generic = self.path.name.lower() in {"model", "models", "onnx", "export"}
        raw = self.hub_id or (self.path.parent.name if generic else self.path.name)
        return re.sub(r"[^\w.-]+", "--", raw).strip("-") or "model"

    @property
    def has_torch_weights(self) -> bool:
        """Whether PyTorch weights are present (needed to export and to run the reference)."""
        return any((self.path / f).is_file() for f in WEIGHT_FILES) or any(
            self.path.glob("model-*.safetensors")
        )

    @property
    def onnx_file(self) -> Path | None:
        """A pre-exported graph in the folder: ``model.onnx``, or the folder's only ``*.onnx`` file."""
        candidate = self.path / ONNX_FILE
        if candidate.is_file():
            return candidate
        graphs = sorted(self.path.glob("*.onnx"))
        return graphs[0] if len(graphs) == 1 else None

    def config(self) -> dict[str, Any]:
        """The parsed ``config.json``."""
        return json.loads((self.path / "config.json").read_text())

    def content_hash(self) -> str:
        """SHA-256 over the files that define the model: config, weights, tokenizer, pooling config."""
        # The stat triple keys the in-process memo, so an edited file is hashed again.
        stamps = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in self._defining_files())
        return _hash_files(stamps, self.path.as_posix())

    def _defining_files(self) -> list[Path]:
        names = ["config.json", *WEIGHT_FILES, *TOKENIZER_FILES, *SENTENCE_TRANSFORMERS_FILES]
        files = [self.path / n for n in names if (self.path / n).is_file()]
        if self.onnx_file is not None:
            files.append(self.onnx_file)
        files += sorted(self.path.glob("model-*.safetensors"))
        return files


def resolve_model(model: str | Path, *, revision: str | None = None, token: str | None = None) -> ModelSource:
    """Resolve a local folder or a hub id to a :class:`ModelSource`, checking it holds a model.

    Hub ids are downloaded with ``huggingface_hub.snapshot_download`` (safetensors preferred, ``.bin``
    only when a repo has no safetensors); that needs internet, or a warm hub cache with
    ``HF_HUB_OFFLINE=1``.

    Raises:
        ModelNotFoundError: If the path does not exist and is not a reachable hub id.
        InvalidModelError: If the folder is not a model.
    """
    if model is None or (isinstance(model, str) and not model.strip()):
        raise ModelNotFoundError("No model given: pass a local model folder or a Hugging Face hub id.")
    if not isinstance(model, (str, Path)):
        raise ModelNotFoundError(
            f"model must be a folder path or a hub id string, got {type(model).__name__}."
        )
    path = Path(model).expanduser()
    if path.exists():
        source = ModelSource(path=path.resolve())
    elif isinstance(model, str) and is_hub_id(model):
        source = _download(model, revision=revision, token=token)
    else:
        raise ModelNotFoundError(
            f"Model path {str(model)!r} does not exist. Pass an existing folder holding config.json, "
            "weights and a tokenizer, or a Hugging Face hub id such as 'org/model-name'."
        )
    check_model_folder(source.path)
    return source


def is_hub_id(name: str) -> bool:
    """Whether ``name`` is spelled like a Hugging Face hub repo id (``huggingface_hub``'s own rules).

    Example:
        >>> is_hub_id("sentence-transformers/all-MiniLM-L6-v2"), is_hub_id("./models/bbc"), is_hub_id("a/b/c")
        (True, False, False)
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def check_model_folder(path: Path) -> None:
    """Raise :class:`InvalidModelError` unless ``path`` is a folder with config, weights and tokenizer."""
    if not path.is_dir():
        raise InvalidModelError(
            f"{str(path)!r} is a file, not a model folder. Pass the folder that holds config.json, "
            "the weights (model.safetensors or model.onnx) and the tokenizer files."
        )
    if not (path / "config.json").is_file():
        raise InvalidModelError(
            f"{str(path)!r} is not a model folder: it has no config.json. Save a model there with "
            "model.save_pretrained(...) and tokenizer.save_pretrained(...), or pass the right folder."
        )
    try:
        json.loads((path / "config.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidModelError(f"{str(path / 'config.json')!r} is not valid JSON ({e}).") from e
    source = ModelSource(path=path)
    if not source.has_torch_weights and source.onnx_file is None:
        raise InvalidModelError(
            f"{str(path)!r} holds no weights: expected model.safetensors, pytorch_model.bin or model.onnx."
        )
    from onnx_pipelines.loaders import check_tokenizer_files, check_torch_weights

    if source.onnx_file is None:  # the PyTorch weights are what gets exported: refuse ones that cannot load
        check_torch_weights(path)
    if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt")):
        raise InvalidModelError(
            f"{str(path)!r} holds no tokenizer (tokenizer.json / tokenizer_config.json / vocab.txt). "
            "Save one next to the model with tokenizer.save_pretrained(...)."
        )
    check_tokenizer_files(path)


def _download(repo_id: str, *, revision: str | None, token: str | None) -> ModelSource:
    from huggingface_hub import HfApi, snapshot_download

    try:
        files = HfApi().list_repo_files(repo_id, revision=revision, token=token)
        has_safetensors = any(f.endswith(".safetensors") for f in files)
        patterns = ["*.json", "*.txt", "*.model", "1_Pooling/*"]
        patterns += ["*.safetensors"] if has_safetensors else ["pytorch_model.bin"]
        if not has_safetensors and "model.onnx" in files:
            patterns.append("model.onnx")
        local = snapshot_download(repo_id, revision=revision, token=token, allow_patterns=patterns)
    except Exception as e:  # huggingface_hub raises many kinds (offline, 404, auth, ...)
        raise ModelNotFoundError(
            f"{repo_id!r} is not a local folder and could not be fetched from the Hugging Face hub "
            f"({type(e).__name__}: {e}). Check the id and your network, or pass a local folder."
        ) from e
    local_path = Path(local)
    return ModelSource(path=local_path, hub_id=repo_id, revision=local_path.name)


@lru_cache(maxsize=64)
def _hash_files(stamps: tuple[tuple[str, int, int], ...], root: str) -> str:
    digest = hashlib.sha256()
    for name, size, _mtime in stamps:
        path = Path(name)
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(str(size).encode())
        with path.open("rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def copy_support_files(src: Path, dst: Path) -> None:
    """Copy config, tokenizer and sentence-transformers pooling files (never ONNX graphs or weights)."""
    for name in ("config.json", *TOKENIZER_FILES, *SENTENCE_TRANSFORMERS_FILES):
        source_file = src / name
        if source_file.is_file() and not (dst / name).exists():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source_file, dst / name)
