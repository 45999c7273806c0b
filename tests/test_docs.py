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


def run_blocks(page: str, blocks: list[str]) -> None:
    """Execute ``blocks`` in order in one namespace, naming the block that fails."""
    namespace: dict = {}
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"{page}#block{number}", "exec"), namespace)
        except Exception as error:  # name the block that failed
            raise AssertionError(f"{page} block {number} failed: {error!r}\n{block}") from error


@pytest.mark.parametrize("page", TESTED_PAGES)
def test_doc_code_runs(page, docs_workdir):
    blocks = python_blocks(DOCS / page)
    assert blocks, f"{page} has no python examples"
    run_blocks(page, blocks)


def test_tasks_page_examples_run(tmp_path, monkeypatch, shared_dir, tasks_cache):
    """docs/tasks.md: one example per task, against the real models (and the seeded QA/NLI heads it builds)."""
    blocks = python_blocks(DOCS / "tasks.md")
    assert len(blocks) == 6
    for name in ("conll-ner-minilm", "bbc-news-minilm", "bbc-rerank-minilm"):
        (tmp_path / name).symlink_to(shared_dir / "models" / name)
    monkeypatch.chdir(tmp_path)
    # The cache of the tests/test_tasks_* modules: the examples and those tests share their exports.
    monkeypatch.setenv("ONNX_PIPELINES_CACHE", str(tasks_cache))
    run_blocks("tasks.md", blocks)
