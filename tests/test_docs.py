"""The code in docs/ runs, as written, against the real shared material."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: Pages whose ```python blocks are executed, in order, in one namespace per page.
TESTED_PAGES = ["quickstart.md", "api.md"]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


@pytest.fixture()
def docs_workdir(tmp_path, monkeypatch, bbc_model, shared_dir, artifact_cache):
    (tmp_path / "bbc-news-minilm").symlink_to(bbc_model)
    (tmp_path / "bbc-news-train.jsonl").symlink_to(shared_dir / "data" / "bbc-news" / "train.jsonl")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONNX_PIPELINES_CACHE", str(artifact_cache))
    return tmp_path


@pytest.mark.parametrize("page", TESTED_PAGES)
def test_doc_code_runs(page, docs_workdir):
    blocks = python_blocks(DOCS / page)
    assert blocks, f"{page} has no python examples"
    namespace: dict = {}
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"{page}#block{number}", "exec"), namespace)
        except Exception as error:  # name the block that failed
            raise AssertionError(f"{page} block {number} failed: {error!r}\n{block}") from error
