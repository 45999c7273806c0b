"""``check_model`` / ``onnx-pipelines check``: the support check, run before any export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from onnx_pipelines.cli import main
from onnx_pipelines.errors import UnsupportedArchitectureError
from onnx_pipelines.pipeline import load_pipeline
from onnx_pipelines.support_check import check_model


def _tiny_folder(tmp_path_factory: pytest.TempPathFactory, name: str, config_class: str, model_class: str,
                 tokenizer_from: Path, **fields: object) -> Path:
    """A 2-layer model of another family, random weights, with a copied WordPiece tokenizer."""
    import torch
    import transformers

    folder = tmp_path_factory.mktemp(name)
    torch.manual_seed(0)
    config = getattr(transformers, config_class)(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        **fields)
    config.architectures = [model_class]
    getattr(transformers, model_class)(config).save_pretrained(folder)
    transformers.BertTokenizerFast.from_pretrained(tokenizer_from).save_pretrained(folder)
    return folder


def test_supported_plan_on_a_real_model(bbc_model: Path) -> None:
    report = check_model(bbc_model, "text-classification", optimize="O2", quantize="dynamic")
    assert report.supported, report.reasons
    assert report.exportable and report.model_type == "bert" and report.opset == 18
    assert report.requested == "O2+int8-dynamic"
    assert "Attention" in (report.level("O2").fusions or ())
    assert report.level("O1").fusions == ()
    assert not report.level("O4").applies  # fp16 on CPU
    assert report.int8_modes == ("dynamic", "static") and not report.custom_code
    # Counted from the config alone, and it is the checkpoint's real size: 4 bytes per fp32 parameter.
    weights = (bbc_model / "model.safetensors").stat().st_size
    assert report.parameters is not None
    assert abs(report.parameters * 4 - weights) / weights < 0.01
    assert report.expected_mb["int8"] < report.expected_mb["fp32"] / 3


def test_check_command_exit_codes(bbc_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(bbc_model), "--task", "text-classification", "--optimize", "O2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["supported"] and report["exportable"]
    # An optimize level that does not apply here: O4 is fp16, CPU has no fp16 kernels for it.
    assert main(["check", str(bbc_model), "--task", "text-classification", "--optimize", "O4"]) == 1
    out = capsys.readouterr().out
    assert "NOT SUPPORTED" in out and "GPU" in out
    assert main(["check", str(bbc_model), "--task", "text-classification", "--provider", "cuda",
                 "--optimize", "O4"]) == 0
    capsys.readouterr()
    # Bad usage: unknown task, unknown level, a folder that is no model.
    assert main(["check", str(bbc_model), "--task", "summarization"]) == 2
    with pytest.raises(SystemExit) as info:
        main(["check", str(bbc_model), "--task", "text-classification", "--optimize", "O9"])
    assert info.value.code == 2
    assert main(["check", str(bbc_model / "missing"), "--task", "text-classification"]) == 2


def test_head_that_does_not_fit_is_a_reason(conll_model: Path) -> None:
    report = check_model(conll_model, "text-classification")
    assert not report.supported
    assert any("BertForTokenClassification" in reason for reason in report.reasons)


def test_optimize_level_refused_for_a_family_the_optimizer_does_not_know(
        tmp_path_factory: pytest.TempPathFactory, bbc_model: Path, tmp_path: Path) -> None:
    # RoFormer exports, but ORTOptimizer has no fusion settings for it: O2 is refused before any export.
    folder = _tiny_folder(tmp_path_factory, "tiny-roformer", "RoFormerConfig", "RoFormerForSequenceClassification",
                          bbc_model, num_labels=2)
    report = check_model(folder, "text-classification", optimize="O2")
    assert report.exportable and not report.supported
    assert "ORTOptimizer" in report.reasons[0] and "roformer" in report.reasons[0]
    assert check_model(folder, "text-classification", quantize="dynamic").supported
    with pytest.raises(UnsupportedArchitectureError, match="roformer"):
        load_pipeline("text-classification", folder, optimize="O2", cache_dir=tmp_path)
    assert not any(tmp_path.rglob("*.onnx"))  # refused before the export


def test_unexportable_model_type(tmp_path_factory: pytest.TempPathFactory, bbc_model: Path) -> None:
    # transformers knows Funnel; the ONNX exporter has no config for it.
    folder = tmp_path_factory.mktemp("tiny-funnel")
    from transformers import FunnelConfig

    config = FunnelConfig(vocab_size=30522, block_sizes=[1, 1], d_model=32, n_head=2, d_head=16, d_inner=64)
    config.architectures = ["FunnelForSequenceClassification"]
    config.save_pretrained(folder)
    report = check_model(folder, "text-classification")
    assert not report.exportable and not report.supported
    assert "no ONNX config for model_type 'funnel'" in report.reasons[0]
    assert report.parameters is not None and report.parameters > 0  # counted without weights


def test_model_that_needs_custom_code(tmp_path: Path, tiny_classifier: Path) -> None:
    folder = tmp_path / "custom"
    shutil.copytree(tiny_classifier, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_mine.MineForSequenceClassification"}
    (folder / "config.json").write_text(json.dumps(config))
    report = check_model(folder, "text-classification")
    assert report.custom_code and not report.supported
    assert "trust_remote_code" in report.reasons[0] and "modeling_mine" in report.reasons[0]
    assert check_model(folder, "text-classification", trust_remote_code=True).supported
    with pytest.raises(UnsupportedArchitectureError, match="trust_remote_code"):
        load_pipeline("text-classification", folder, cache_dir=tmp_path / "cache")
    assert not any((tmp_path / "cache").rglob("*.onnx"))


def test_unfused_family_is_built_with_a_note(tmp_path_factory: pytest.TempPathFactory, bbc_model: Path) -> None:
    folder = _tiny_folder(tmp_path_factory, "tiny-mpnet", "MPNetConfig", "MPNetForSequenceClassification",
                          bbc_model, num_labels=2, max_position_embeddings=514)
    report = check_model(folder, "text-classification", optimize="O2")
    assert report.supported
    assert "no Attention" in report.notes[0] and "relative position bias" in report.notes[0]
    assert "Attention" not in (report.level("O2").fusions or ())
