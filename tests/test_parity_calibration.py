"""Choosing static-int8 calibration rows, and the quantizer fix that lets every method calibrate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import Dataset

from onnx_pipelines.errors import DatasetError, InvalidConfigError
from onnx_pipelines.eval_data import ColumnMapping
from onnx_pipelines.parity.calibration import CalibrationSettings, choose_calibration_texts
from tests.session_cache import session_cache

POOL = Dataset.from_dict({"text": [f"article number {i}" for i in range(20)]})


def test_held_out_rows_are_preferred_and_disjoint() -> None:
    evaluated = POOL["text"][:8]
    texts, record = choose_calibration_texts(CalibrationSettings(samples=6), pool=POOL, columns=ColumnMapping(),
                                             evaluated_texts=evaluated, seed=1)
    assert len(texts) == 6 and not set(texts) & set(evaluated)
    assert (record.source, record.overlap, record.samples, record.seed) == ("held-out-rows", 0, 6, 1)
    again, _ = choose_calibration_texts(CalibrationSettings(samples=6), pool=POOL, columns=ColumnMapping(),
                                        evaluated_texts=evaluated, seed=1)
    assert again == texts  # seeded


def test_overlap_is_reported_when_no_rows_are_left() -> None:
    texts, record = choose_calibration_texts(CalibrationSettings(samples=10), pool=POOL, columns=ColumnMapping(),
                                             evaluated_texts=POOL["text"][:15], seed=0)
    assert record.source == "evaluated-rows" and len(texts) == 10
    assert record.overlap == sum(t in set(POOL["text"][:15]) for t in texts) > 0
    assert "--calibration-data" in record.description and "flatter" in record.description


def test_separate_calibration_file(tmp_path: Path) -> None:
    path = tmp_path / "calib.jsonl"
    path.write_text("".join(json.dumps({"body": f"other text {i}"}) + "\n" for i in range(5)))
    texts, record = choose_calibration_texts(
        CalibrationSettings(samples=50, data=path), pool=POOL, columns=ColumnMapping(text="body"),
        evaluated_texts=["other text 0"], seed=0)
    assert len(texts) == 5 and record.source == "calibration-data" and record.overlap == 1
    assert "also appear among the evaluated rows" in record.description
    with pytest.raises(DatasetError, match="'text' is missing"):
        choose_calibration_texts(CalibrationSettings(data=path), pool=POOL, columns=ColumnMapping(),
                                 evaluated_texts=[], seed=0)


def test_settings_are_validated() -> None:
    with pytest.raises(InvalidConfigError, match="kl-divergence"):
        CalibrationSettings(method="kl-divergence")
    with pytest.raises(InvalidConfigError, match="samples=0"):
        CalibrationSettings(samples=0)


def test_mask_bias_ops_stay_float_only_in_unfused_graphs(shared_dir: Path,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    import onnx
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    from onnx_pipelines.pipeline import load_pipeline
    from onnx_pipelines.quantize import annotate_types, mask_only_op_types

    operators = AutoQuantizationConfig.avx512_vnni(is_static=True).operators_to_quantize
    cache = session_cache(tmp_path_factory)
    work = tmp_path_factory.mktemp("annotated")
    found = {}
    for level in (None, "O2"):
        artifact = load_pipeline("text-classification", shared_dir / "models" / "bbc-news-minilm",
                                 optimize=level, cache_dir=cache).artifact
        annotated = annotate_types(artifact.model_path, work / f"{level}.onnx")
        found[level] = mask_only_op_types(onnx.load(str(annotated)), operators)
    # The unfused graph builds Where(mask, finfo.min, 0); O2's fused Attention takes the mask directly.
    assert found == {None: {"Where"}, "O2": set()}
