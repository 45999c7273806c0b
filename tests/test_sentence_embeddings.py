import numpy as np
import pytest

from onnx_pipelines import load_pipeline
from onnx_pipelines.errors import InvalidInputError
from onnx_pipelines.pipelines.sentence_embeddings import PoolingConfig

SENTENCES = [
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground.",
    "Shares in the bank rose sharply after it reported record profits for the third quarter of the year.",
    "How do I export a transformer to ONNX?",
    "The film festival opened with a premiere attended by actors and critics. " * 20,  # past 256 tokens
]


@pytest.fixture(scope="module")
def reference(minilm_model):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_model), device="cpu").encode(SENTENCES)


def test_pooling_config_is_read_from_the_folder(minilm_model):
    config = PoolingConfig.from_folder(minilm_model)
    assert config == PoolingConfig(mode="mean", normalize=True, max_seq_length=256)


def test_matches_sentence_transformers(minilm_model, artifact_cache, reference):
    embed = load_pipeline("sentence-embeddings", minilm_model, cache_dir=artifact_cache)
    vectors = embed(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384) and vectors.dtype == np.float32
    cosine = np.sum(vectors * reference, axis=1) / (
        np.linalg.norm(vectors, axis=1) * np.linalg.norm(reference, axis=1)
    )
    assert cosine.min() >= 0.9999
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    batched = embed(SENTENCES, batch_size=4)
    np.testing.assert_allclose(batched, vectors, atol=1e-5)
    assert embed(SENTENCES[0]).shape == (384,)


def test_normalize_can_be_turned_off(minilm_model, artifact_cache):
    embed = load_pipeline("sentence-embeddings", minilm_model, cache_dir=artifact_cache)
    raw = embed(SENTENCES[:2], normalize=False)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)


def test_bad_inputs(minilm_model, artifact_cache):
    embed = load_pipeline("sentence-embeddings", minilm_model, cache_dir=artifact_cache)
    for bad in (None, "", [], ["ok", 5], [["a", "b"]]):
        with pytest.raises(InvalidInputError):
            embed(bad)


def test_the_pipeline_finds_its_pooling_in_its_own_folder(minilm_model, artifact_cache):
    """No caller passes ``pooling=``: the class reads it from the folder its ONNX model was loaded from."""
    import transformers
    from optimum.onnxruntime import ORTModelForFeatureExtraction
    from transformers import AutoTokenizer

    from onnx_pipelines.pipelines.sentence_embeddings import SentenceEmbeddingPipeline

    loaded = load_pipeline("sentence-embeddings", minilm_model, cache_dir=artifact_cache)
    folder = loaded.artifact.path
    assert PoolingConfig.from_folder(folder) == PoolingConfig(mode="mean", normalize=True, max_seq_length=256)
    model = ORTModelForFeatureExtraction.from_pretrained(folder, file_name=loaded.artifact.model_file)
    plain = transformers.pipeline("feature-extraction", model=model, tokenizer=AutoTokenizer.from_pretrained(folder),
                                  pipeline_class=SentenceEmbeddingPipeline)
    assert plain.pooling == PoolingConfig.from_folder(folder)
    np.testing.assert_allclose(plain(SENTENCES[:2]), loaded(SENTENCES[:2]), atol=1e-6)
