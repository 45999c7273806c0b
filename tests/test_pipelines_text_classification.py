"""The batched CPU path of the text-classification pipeline returns exactly what transformers' path returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from transformers import TextClassificationPipeline

from onnx_pipelines.pipeline import load_pipeline
from onnx_pipelines.runtime import CPU, RuntimeSettings


@pytest.fixture(scope="module")
def tiny_onnx(tiny_classifier: Path, artifact_cache: Path):
    return load_pipeline("text-classification", tiny_classifier, cache_dir=artifact_cache)


def _close(a, b) -> bool:
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a.keys() == b.keys() and a["label"] == b["label"] and abs(a["score"] - b["score"]) < 1e-5


TEXTS = ["Shares rose 5% after the results.", "The striker scored twice in the second half of the match.",
         "Ministers met.", "A new phone with a folding screen goes on sale next month, priced at 999 pounds."]


@pytest.mark.parametrize("inputs, kwargs", [
    (TEXTS[0], {}),
    (TEXTS[0], {"top_k": 2}),
    (TEXTS, {}),
    (TEXTS, {"top_k": None}),
    (TEXTS, {"batch_size": 3}),
    (TEXTS, {"max_length": 8, "function_to_apply": "sigmoid"}),
    ({"text": "Who scored?", "text_pair": "The striker scored twice."}, {}),
    ([["Who scored?", "The striker."], ["What rose?", "Shares rose."]], {"top_k": 1}),
])
def test_batched_path_matches_transformers(tiny_onnx, inputs, kwargs) -> None:
    assert tiny_onnx._can_batch(_normalized(inputs), {"truncation": True, **kwargs})
    fast = tiny_onnx(inputs, **kwargs)
    pairs = [{"text": a, "text_pair": b} for a, b in inputs] if isinstance(inputs, list) and \
        isinstance(inputs[0], list) else inputs
    reference = TextClassificationPipeline.__call__(tiny_onnx, pairs, truncation=True, **kwargs)
    assert _close(fast, reference)


def _normalized(inputs):
    from onnx_pipelines.pipelines.inputs import normalize_texts

    return normalize_texts(inputs, allow_pairs=True)


def test_unknown_options_take_transformers_path(tiny_onnx) -> None:
    assert not tiny_onnx._can_batch(TEXTS, {"truncation": True, "padding": "max_length"})
    out = tiny_onnx(TEXTS[:2], padding="max_length", max_length=32)
    assert [o["label"] for o in out] == [o["label"] for o in tiny_onnx(TEXTS[:2])]


def test_cpu_sessions_do_not_fuse_skip_layer_norm(tmp_path: Path) -> None:
    """ORT's CPU SkipLayerNormalization kernel is scalar; CPU sessions keep Add + LayerNormalization."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    hidden = 8
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "s"], ["a"]),
         helper.make_node("LayerNormalization", ["a", "g", "b"], ["y"], axis=-1, epsilon=1e-12)],
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4, hidden]) for n in ("x", "s")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.ones(hidden, np.float32), "g"),
         numpy_helper.from_array(np.zeros(hidden, np.float32), "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    def fused_ops(options) -> set[str]:
        options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
        onnxruntime.InferenceSession(model.SerializeToString(), options, providers=[CPU])
        return {n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node}

    assert "SkipLayerNormalization" in fused_ops(onnxruntime.SessionOptions())  # what ORT does by default
    assert fused_ops(RuntimeSettings(provider="cpu").session_options(CPU)) == {"Add", "LayerNormalization"}


def test_cpu_presets_leave_skip_layer_norm_unfused() -> None:
    from onnx_pipelines.config import resolve_optimize

    assert resolve_optimize("O2").config.disable_skip_layer_norm_fusion
    assert not resolve_optimize("O2", for_cpu=False).config.disable_skip_layer_norm_fusion


def test_long_texts_cut_before_tokenizing_give_the_same_results(tiny_onnx, bbc_test_rows) -> None:
    articles = [r["text"] for r in bbc_test_rows[:12]]
    for max_length in (16, 64):
        fast = tiny_onnx(articles, batch_size=4, max_length=max_length, top_k=None)
        reference = TextClassificationPipeline.__call__(tiny_onnx, articles, truncation=True, max_length=max_length,
                                                        top_k=None)
        assert _close(fast, reference)


def test_cut_text_keeps_whole_words_and_the_same_tokens(bbc_model: Path, bbc_test_rows) -> None:
    from transformers import AutoTokenizer

    from onnx_pipelines.pipelines.truncation import CHARS_PER_TOKEN, cut_text

    assert cut_text("short text", 128) == "short text"
    assert cut_text("x" * 5000, 16) == "x" * 5000  # no whitespace to cut at: unchanged
    assert CHARS_PER_TOKEN == 8
    assert cut_text("word " * 100, 4) == " ".join(["word"] * 6)  # 32 characters, cut before the partial 7th
    tokenizer = AutoTokenizer.from_pretrained(bbc_model)
    articles = [r["text"] for r in bbc_test_rows]
    for max_length in (32, 128):
        full = tokenizer(articles, truncation=True, max_length=max_length)["input_ids"]
        assert tokenizer([cut_text(a, max_length) for a in articles], truncation=True,
                         max_length=max_length)["input_ids"] == full
