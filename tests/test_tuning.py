"""``tune``: the search space, the winner rules, the renderings, and one real (tiny) search that resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onnx_pipelines.config import CalibrationMethod
from onnx_pipelines.errors import DatasetError, InvalidConfigError, UnsupportedTaskError
from onnx_pipelines.tuning import (
    CandidateOutcome,
    SplitScore,
    TimingSettings,
    TuneResult,
    parse_candidate,
    search_space,
    tune,
)
from onnx_pipelines.tuning.search import closest, no_winner_message

BOUNDS = {"max_metric_drop": 0.5, "min_agreement": 0.99}


def test_space_names_parse_back() -> None:
    for candidate in search_space("wide", openvino=False):
        assert parse_candidate(candidate.name) == candidate
    static = parse_candidate("O3+int8-static-entropy-per-tensor")
    assert static.calibration_method is CalibrationMethod.ENTROPY and not static.per_channel
    assert static.request_kwargs(["a", "b"])["calibration_samples"] == 2
    assert [c.name for c in search_space("O2, O2+int8-dynamic,O2")] == ["O2", "O2+int8-dynamic"]
    small = [c.name for c in search_space("small", openvino=False)]
    assert "O2" in small and "O2+int8-static-percentile" in small and len(small) == 7
    with pytest.raises(InvalidConfigError, match="Named spaces"):
        search_space("O9+int8-dynamic")
    with pytest.raises(InvalidConfigError, match="per-tensor does not apply"):
        parse_candidate("O2-per-tensor")


def _outcome(name: str, agreement: float, delta: float, speedup: float | None, passed: bool) -> CandidateOutcome:
    score = SplitScore(rows=100, agreement=agreement, metric="accuracy", value=0.9, delta_points=delta,
                       passed=passed, failed_checks=() if passed else ("agreement below the bound",))
    timing = None if speedup is None else {"speedup_b1": speedup, "candidate_b1_ms": 10.0, "pytorch_b1_ms": 10.0
                                           * speedup, "speedup_batch": speedup / 2, "throughput_per_s": 50.0}
    return CandidateOutcome(name, name, f"/r/{name}.recipe.json", score, timing=timing)


def _result(candidates: list[CandidateOutcome], winner: str | None) -> TuneResult:
    return TuneResult(task="text-classification", model="/m", dataset="/d.jsonl",
                      splits={"calibration": 0, "tuning": 100, "holdout": 100}, bounds=BOUNDS,
                      primary_metric="accuracy", reference={}, candidates=candidates, winner=winner,
                      recipe="/out/recipe.json" if winner else None)


def test_pareto_front_closest_and_the_no_winner_message() -> None:
    outcomes = [_outcome("O2", 1.0, 0.0, 2.0, True), _outcome("int8", 0.995, -0.2, 3.5, True),
                _outcome("slow-int8", 0.99, -0.4, 1.5, True), _outcome("bad", 0.90, -3.0, 4.0, False)]
    result = _result(outcomes, "int8")
    assert result.pareto_front() == ["O2", "int8", "bad"]  # slow-int8 loses to O2 on both axes
    frame = result.to_pandas()
    assert frame.loc["int8", "winner"] and frame.loc["int8", "speedup_b1"] == 3.5
    assert not frame.loc["slow-int8", "pareto"]
    assert TuneResult.from_dict(json.loads(result.to_json())) == result
    html = result._repr_html_()
    assert "<table" in html and "int8" in html and "winner" in html
    assert "| int8 | 0.9950 | -0.20 |" in result.to_markdown()
    failing = [_outcome("a", 0.95, -1.0, 2.0, False), _outcome("b", 0.985, -0.6, 3.0, False)]
    assert closest(failing, BOUNDS) is failing[1]
    message = no_winner_message(_result(failing, None))
    assert "Closest: b" in message and "--min-agreement 0.985" in message and "--max-metric-drop 0.60" in message


def test_bad_input_fails_before_anything_slow(bbc_model: Path, bbc_test_file: Path, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedTaskError):
        tune("text-clasification", bbc_model, bbc_test_file, output=tmp_path / "a")
    (tmp_path / "empty.jsonl").touch()
    with pytest.raises(DatasetError, match="empty"):
        tune("text-classification", bbc_model, tmp_path / "empty.jsonl", output=tmp_path / "b", space="O2")
    with pytest.raises(DatasetError, match="too few"):
        tune("text-classification", bbc_model, bbc_test_file, output=tmp_path / "c", space="O2", tuning_rows=400,
             holdout_rows=100)
    with pytest.raises(InvalidConfigError, match="min_agreement"):
        tune("text-classification", bbc_model, bbc_test_file, output=tmp_path / "d", min_agreement=99)


@pytest.fixture(scope="module")
def tuned(bbc_model: Path, bbc_test_file: Path, artifact_cache: Path,
          tmp_path_factory: pytest.TempPathFactory) -> tuple[TuneResult, dict]:
    """A two-candidate search on the real classifier (builds other tests cache), few rows, short timing."""
    kwargs = dict(output=tmp_path_factory.mktemp("tune") / "out", space="O2,O2+int8-dynamic", tuning_rows=24,
                  holdout_rows=24, max_length=64, cache_dir=artifact_cache, progress=False,
                  timing=TimingSettings(seq_len=32, batch_size=4, rounds=1, repeats=2, warmup=1))
    return tune("text-classification", bbc_model, bbc_test_file, **kwargs), kwargs


def test_tune_finds_a_winner_that_meets_both_bounds(tuned: tuple[TuneResult, dict]) -> None:
    result, kwargs = tuned
    out = Path(kwargs["output"])
    assert {p.name for p in out.iterdir()} >= {"tune.json", "tune.md", "tune.html", "tune.png", "recipe.json"}
    assert result.splits == {"calibration": 0, "tuning": 24, "holdout": 24}
    winner = result.candidate(result.winner or "")
    assert winner.tuning is not None and winner.tuning.passed and winner.holdout is not None and winner.holdout.passed
    for outcome in result.candidates:  # both judged on the real rows and timed beside PyTorch
        assert outcome.tuning is not None and outcome.tuning.rows == 24 and outcome.error is None
        assert outcome.timing is not None and outcome.timing["speedup_b1"] > 0
        assert outcome.timing["calls"] == {"pytorch_b1": 2, "candidate_b1": 2, "pytorch_b4": 2, "candidate_b4": 2}
    timed = [c for c in result.candidates if c.meets_tuning]
    assert winner.speedup == max(c.speedup or 0 for c in timed)  # the fastest of those meeting the bounds
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["notes"]["candidate"] == winner.name and recipe["notes"]["holdout"]["passed"]
    assert TuneResult.read_json(out / "tune.json") == result


def test_resume_recomputes_only_the_missing_candidate(tuned: tuple[TuneResult, dict], bbc_model: Path,
                                                      bbc_test_file: Path) -> None:
    result, kwargs = tuned
    folder = Path(kwargs["output"]) / "candidates"
    kept, removed = folder / "O2+int8-dynamic.json", folder / "O2.json"
    kept_text, kept_mtime = kept.read_text(), kept.stat().st_mtime_ns
    removed.unlink()
    with pytest.raises(InvalidConfigError, match="resume"):
        tune("text-classification", bbc_model, bbc_test_file, **kwargs)
    with pytest.raises(InvalidConfigError, match="other settings.*bounds"):
        tune("text-classification", bbc_model, bbc_test_file, **kwargs, resume=True, min_agreement=0.9)
    again = tune("text-classification", bbc_model, bbc_test_file, **kwargs, resume=True)
    assert kept.read_text() == kept_text and kept.stat().st_mtime_ns == kept_mtime  # not recomputed
    assert removed.is_file()
    recomputed = again.candidate("O2")
    assert recomputed.tuning == result.candidate("O2").tuning  # same rows, same answers
    assert recomputed.seconds != result.candidate("O2").seconds  # measured again
    assert again.candidate("O2+int8-dynamic").timing == result.candidate("O2+int8-dynamic").timing  # not re-timed
