"""A content-addressed, crash-safe cache of exported / optimized / quantized artifacts.

Each artifact is a folder ``<root>/<model>-<model hash>/<step>-<settings hash>/`` holding the ONNX
model, the model's config and tokenizer, and a ``manifest.json`` saying what it is and how it was made.
Keys cover the model's content, every step's settings and the versions of optimum / onnxruntime / onnx,
so upgrading any of them rebuilds rather than reusing a stale graph.

Builds run in a temporary sibling folder and are renamed into place only when complete, under a file
lock: parallel processes end with one valid artifact, and an interrupted build leaves nothing behind
that a later load would mistake for a finished one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock

from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.versions import library_versions

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = 1
_LOCK_TIMEOUT_S = 3600


def default_cache_dir() -> Path:
    """``$ONNX_PIPELINES_CACHE``, else ``$XDG_CACHE_HOME/onnx-pipelines``, else ``~/.cache/onnx-pipelines``."""
    if env := os.environ.get("ONNX_PIPELINES_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "onnx-pipelines"


def settings_key(settings: dict[str, Any]) -> str:
    """A stable hex key for a JSON-serialisable settings dict."""
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class Artifact:
    """A finished, cached artifact."""

    path: Path
    model_file: str
    manifest: dict[str, Any]
    built: bool  # True when this call built it, False when it came from the cache

    @property
    def model_path(self) -> Path:
        return self.path / self.model_file


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a finished artifact folder, or ``None`` if it is absent or unreadable."""
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("schema") != MANIFEST_SCHEMA:
        return None
    if not (folder / str(data.get("model_file", ""))).is_file():
        return None
    return data


class ArtifactCache:
    """Get-or-build access to artifact folders under ``root``."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        _check_cache_root(self.root)

    def folder(self, group: str, name: str, key: str) -> Path:
        return self.root / group / f"{name}-{key}"

    def get_or_build(
        self,
        group: str,
        name: str,
        key_data: dict[str, Any],
        build: Callable[[Path], tuple[str, dict[str, Any]]],
    ) -> Artifact:
        """Return the artifact for ``key_data``, building it with ``build(tmp_folder)`` when missing.

        Args:
            group: Folder grouping artifacts of one model (``<model>-<hash>``).
            name: Step name (``export``, ``O2``, ``O2_qint8_avx512_vnni`` ...).
            key_data: Everything that identifies the artifact; hashed into the folder name.
            build: Writes the artifact into the given empty folder; returns the model file name and
                extra manifest fields.

        Raises:
            Whatever ``build`` raises; the temporary folder is removed first.
        """
        key_data = {**key_data, "versions": library_versions()}
        key = settings_key(key_data)
        final = self.folder(group, name, key)
        manifest = read_manifest(final)
        if manifest is not None:
            return Artifact(final, manifest["model_file"], manifest, built=False)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except (NotADirectoryError, FileExistsError) as e:  # a file stands where a folder must be
            _check_cache_root(self.root)
            raise InvalidConfigError(
                f"The artifact cache cannot create {str(final.parent)!r}: {e.strerror or e}. Pass a cache_dir "
                "(or ONNX_PIPELINES_CACHE) whose path holds folders only."
            ) from e
        lock = FileLock(str(final.parent / f".{name}-{key}.lock"), timeout=_LOCK_TIMEOUT_S)
        with lock:
            manifest = read_manifest(final)  # another process may have finished while we waited
            if manifest is not None:
                return Artifact(final, manifest["model_file"], manifest, built=False)
            if final.exists():  # a folder without a valid manifest is debris: replace it
                shutil.rmtree(final, ignore_errors=True)
            # We hold the lock, so any temp folder for this key is debris from a killed build.
            for debris in final.parent.glob(f".tmp-{name}-{key}-*"):
                shutil.rmtree(debris, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-{key}-", dir=final.parent))
            try:
                started = time.perf_counter()
                model_file, extra = build(tmp)
                manifest = {
                    "schema": MANIFEST_SCHEMA,
                    "name": name,
                    "key": key,
                    "model_file": model_file,
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "build_seconds": round(time.perf_counter() - started, 3),
                    **extra,
                    "settings": key_data,
                }
                (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
                os.replace(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        logger.info("Cached %s at %s", name, final)
        return Artifact(final, model_file, manifest, built=True)


def _check_cache_root(root: Path) -> None:
    """Refuse a cache root that is a file, or lies below one.

    Raises:
        InvalidConfigError: A file stands at ``root`` or at one of its parents.
    """
    for folder in (root, *root.parents):
        if folder.exists():
            if not folder.is_dir():
                raise InvalidConfigError(
                    f"cache_dir {str(root)!r} is not a folder: {str(folder)!r} is a file. Pass a folder for the "
                    "artifact cache (it is created when missing), e.g. cache_dir='~/.cache/onnx-pipelines', or "
                    "set ONNX_PIPELINES_CACHE to one."
                )
            return


__all__ = ["Artifact", "ArtifactCache", "default_cache_dir", "read_manifest"]
