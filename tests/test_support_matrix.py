"""The support matrix on tiny models of ten encoder families (the CI cells), and docs/architectures.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from onnx_pipelines.fusions import count_fused_ops, expected_fusions
from onnx_pipelines.support_matrix import (
    CI_CELLS,
    Cell,
    ModelFolders,
    format_cell,
    parse_cell,
    parse_matrix,
    render_matrix,
    run_matrix,
)
from onnx_pipelines.tiny_models import FAMILIES

DOC = Path(__file__).resolve().parents[1] / "docs" / "architectures.md"
#: The CI cells the support check refuses: optimum-onnx 0.1.0 has no question-answering export for ModernBERT,
#: and DeBERTa-v2's graph holds If subgraphs, which onnxruntime's static quantizer does not take.
REFUSED = {("modernbert", "question-answering", "fp32"), ("deberta-v2", "text-classification", "O2+int8-static")}


@pytest.fixture(scope="session")
def ci_matrix(matrix_folders: ModelFolders, matrix_cache: Path) -> dict[tuple[str, str, str], Cell]:
    cells = run_matrix(CI_CELLS, matrix_folders, matrix_cache, calibration_texts=matrix_folders.texts)
    return {cell.key: cell for cell in cells}


def test_every_ci_cell_builds_runs_and_matches_pytorch(ci_matrix: dict[tuple[str, str, str], Cell]) -> None:
    problems = []
    for key, cell in ci_matrix.items():
        if key in REFUSED:
            if cell.status != "refused":
                problems.append(f"{key}: expected the support check to refuse it, got {format_cell(cell)}")
            continue
        if cell.status != "works":
            problems.append(f"{key}: {format_cell(cell)}")
        elif cell.exact and not (cell.max_diff is not None and cell.max_diff <= (cell.tolerance or 0)):
            problems.append(f"{key}: max diff {cell.max_diff} over {cell.tolerance}")
    assert not problems, "\n".join(problems)


def test_modernbert_qa_is_refused_before_export(ci_matrix: dict[tuple[str, str, str], Cell]) -> None:
    cell = ci_matrix[("modernbert", "question-answering", "fp32")]
    assert "question-answering" in cell.detail and "modernbert" in cell.detail


def test_fusions_match_the_known_table(ci_matrix: dict[tuple[str, str, str], Cell]) -> None:
    # KNOWN_FUSIONS drives `onnx-pipelines check`: it must say what the optimizer really does per family.
    for (family, task, variant), cell in ci_matrix.items():
        level = variant.split("+")[0]
        if task != "text-classification" or level not in ("O1", "O2", "O3") or "int8" in variant:
            continue
        fused = {op for op, n in cell.fused.items() if n}
        assert fused == set(expected_fusions(family, level) or ()), (family, variant, cell.fused)


def test_attention_is_fused_in_every_layer_where_it_is_fused(ci_matrix: dict[tuple[str, str, str], Cell]) -> None:
    for family in FAMILIES:
        counts = ci_matrix[(family, "text-classification", "O2")].fused
        if counts["Attention"]:
            # albert: ONNX Runtime fuses one of its two (weight-sharing) layers, as measured; the others all.
            assert counts["Attention"] == (1 if family == "albert" else 2), (family, counts)


def test_the_manifest_records_the_fusions(matrix_folders: ModelFolders, matrix_cache: Path,
                                          ci_matrix: dict[tuple[str, str, str], Cell]) -> None:
    from onnx_pipelines.pipeline import load_pipeline

    pipe = load_pipeline("text-classification", matrix_folders("mpnet", "text-classification"), optimize="O2",
                         cache_dir=matrix_cache)  # cached by the matrix run
    assert pipe.variant == "O2"
    assert pipe.artifact.manifest["fusions"] == count_fused_ops(pipe.artifact.model_path)
    assert pipe.artifact.manifest["fusions"]["Attention"] == 0


def test_committed_table_matches_a_fresh_run(ci_matrix: dict[tuple[str, str, str], Cell]) -> None:
    committed, committed_fused = parse_matrix(DOC.read_text())
    fresh, fresh_fused = parse_matrix(render_matrix(list(ci_matrix.values())))
    assert set(fresh) <= set(committed), "docs/architectures.md lacks cells CI runs: rerun benchmarks/architectures.py"
    stale = []
    for key, text in fresh.items():
        status, diff, _ = parse_cell(text)
        old_status, old_diff, _ = parse_cell(committed[key])
        cell = ci_matrix[key]
        if status != old_status or (diff is None) != (old_diff is None):
            stale.append(f"{key}: committed {committed[key]!r}, fresh {text!r}")
        elif diff is not None and old_diff is not None and not old_diff <= (cell.tolerance or 0):
            stale.append(f"{key}: committed diff {old_diff} is over the tolerance")
    for key, text in fresh_fused.items():
        if committed_fused.get(key) != text:
            stale.append(f"fusions {key}: committed {committed_fused.get(key)!r}, fresh {text!r}")
    assert not stale, "docs/architectures.md is stale (rerun benchmarks/architectures.py):\n" + "\n".join(stale)
