"""The session's one artifact cache folder, for fixtures and for module helpers that name a cache."""

from __future__ import annotations

from pathlib import Path

import pytest


def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's one artifact cache folder (also for helpers outside fixtures, e.g. the parity modules)."""
    folder = tmp_path_factory.getbasetemp() / "artifact-cache"
    folder.mkdir(exist_ok=True)
    return folder
