import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from onnx_pipelines.cache import MANIFEST, ArtifactCache, read_manifest


def _write(tmp: Path, delay: float = 0.0, marker: Path | None = None) -> tuple[str, dict]:
    if marker is not None:
        with marker.open("a") as handle:
            handle.write(f"{os.getpid()}\n")
    time.sleep(delay)
    (tmp / "model.onnx").write_bytes(b"graph")
    return "model.onnx", {"note": "test"}


def test_builds_once_then_reuses(tmp_path):
    cache = ArtifactCache(tmp_path)
    calls = []

    def build(tmp):
        calls.append(tmp)
        return _write(tmp)

    first = cache.get_or_build("group", "export", {"a": 1}, build)
    second = cache.get_or_build("group", "export", {"a": 1}, build)
    assert first.built and not second.built
    assert first.path == second.path and len(calls) == 1
    manifest = read_manifest(first.path)
    assert manifest["model_file"] == "model.onnx" and manifest["note"] == "test"
    assert "onnxruntime" in manifest["settings"]["versions"]
    assert cache.get_or_build("group", "export", {"a": 2}, build).path != first.path


def test_failed_build_leaves_nothing(tmp_path):
    cache = ArtifactCache(tmp_path)

    def failing(tmp):
        (tmp / "model.onnx").write_bytes(b"half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cache.get_or_build("group", "export", {"a": 1}, failing)
    leftovers = [p for p in (tmp_path / "group").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def test_folder_without_manifest_is_rebuilt(tmp_path):
    cache = ArtifactCache(tmp_path)
    artifact = cache.get_or_build("group", "export", {"a": 1}, _write)
    (artifact.path / MANIFEST).unlink()
    again = cache.get_or_build("group", "export", {"a": 1}, _write)
    assert again.built and read_manifest(again.path) is not None


def _build_in_process(root: str, marker: str) -> str:
    cache = ArtifactCache(root)
    artifact = cache.get_or_build("group", "export", {"a": 1}, lambda tmp: _write(tmp, 1.0, Path(marker)))
    return str(artifact.path)


def test_parallel_processes_build_one_artifact(tmp_path):
    marker = tmp_path / "builds.txt"
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        paths = pool.starmap(_build_in_process, [(str(tmp_path / "cache"), str(marker))] * 3)
    assert len(set(paths)) == 1
    assert len(marker.read_text().splitlines()) == 1  # the lock let exactly one process build
    assert read_manifest(Path(paths[0])) is not None


def _build_forever(root: str) -> None:
    ArtifactCache(root).get_or_build("group", "export", {"a": 1}, lambda tmp: _write(tmp, 60.0))


def test_killed_build_leaves_no_artifact_and_next_build_succeeds(tmp_path):
    root = tmp_path / "cache"
    process = multiprocessing.get_context("spawn").Process(target=_build_forever, args=(str(root),))
    process.start()
    deadline = time.time() + 60
    while time.time() < deadline and not list(root.glob("group/.tmp-*")):
        time.sleep(0.2)
    assert list(root.glob("group/.tmp-*")), "the build never started"
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    cache = ArtifactCache(root)
    finished = [p for p in (root / "group").iterdir() if not p.name.startswith(".")]
    assert finished == []  # only the temp folder (and lock) remain, never a half-built artifact
    artifact = cache.get_or_build("group", "export", {"a": 1}, _write)
    assert artifact.built and list((root / "group").glob(".tmp-*")) == []


def test_cache_dir_that_is_a_file_is_named(tmp_path):
    from onnx_pipelines.errors import InvalidConfigError

    file = tmp_path / "cache.txt"
    file.write_text("not a folder")
    for root in (file, file / "sub"):
        with pytest.raises(InvalidConfigError, match=r"is not a folder: .*cache\.txt' is a file") as info:
            ArtifactCache(root)
        assert not isinstance(info.value, NotADirectoryError)
