"""The console script: help that teaches, one-line errors with exit code 2, real runs."""

import json
import re
import subprocess
import sys

import pytest

from onnx_pipelines.cli import main

COMMANDS = ["demo", "check", "export", "optimize", "quantize", "inspect", "predict"]


#: A progress line of ours on stderr: "[mm:ss.s] message ...".
OUR_STDERR_LINE = re.compile(r"^\[\d{2}:\d{2}\.\d\] .+ \.\.\.$")


def assert_only_our_lines(stderr: str) -> None:
    """No third-party noise (TracerWarning, deprecation notices, "Device set to use cpu", leaked semaphores)."""
    foreign = [line for line in stderr.splitlines() if line.strip() and not OUR_STDERR_LINE.match(line)]
    assert not foreign, "stderr holds lines that are not ours:\n" + "\n".join(foreign[:20])


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "onnx_pipelines.cli", *args], capture_output=True, text=True,
                          timeout=600)


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out
    assert "examples:" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "examples:" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["export"], ["export", "m", "--optimize", "O9", "--task", "x"], ["frobnicate"],
                                  ["predict", "m"]])
def test_bad_usage_exits_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 2 and "error:" in err[-1]


def test_library_errors_exit_2_with_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing"), "--task", "text-classification"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
    assert main(["export", str(tmp_path), "--task", "summarization"]) == 2
    assert "Supported tasks" in capsys.readouterr().err


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().out


def test_export_optimize_quantize_inspect_predict(tiny_classifier, tmp_path):
    cache = str(tmp_path / "cache")
    exported = tmp_path / "exported"
    result = run_cli("export", str(tiny_classifier), "--task", "text-classification", "--output", str(exported),
                     "--cache-dir", cache)
    assert result.returncode == 0, result.stderr
    assert "Exporting" in result.stderr and "validation: max |diff|" in result.stdout
    assert_only_our_lines(result.stderr)
    assert (exported / "model.onnx").is_file() and (exported / "manifest.json").is_file()

    optimized = tmp_path / "optimized"
    result = run_cli("optimize", str(exported), "--level", "O2", "--output", str(optimized), "--cache-dir", cache)
    assert result.returncode == 0, result.stderr
    assert_only_our_lines(result.stderr)
    quantized = tmp_path / "quantized"
    result = run_cli("quantize", str(optimized), "--mode", "dynamic", "--output", str(quantized), "--cache-dir", cache)
    assert result.returncode == 0, result.stderr
    assert_only_our_lines(result.stderr)
    graph = next(quantized.glob("*.onnx"))
    assert graph.name.startswith("model_O2_qint8_")

    result = run_cli("inspect", str(graph), "--json")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["valid"] and report["quantized"]

    result = run_cli("predict", str(quantized), "--task", "text-classification", "--text", "Shares rose",
                     "--text", "The striker scored", "--top-k", "2")
    assert result.returncode == 0, result.stderr
    assert_only_our_lines(result.stderr)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["text"] for line in lines] == ["Shares rose", "The striker scored"]
    assert all(len(line["output"]) == 2 for line in lines)


def test_export_refuses_a_non_empty_output_folder(tiny_classifier, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    result = run_cli("export", str(tiny_classifier), "--task", "text-classification", "--output",
                     str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 2 and "not empty" in result.stderr
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_inspect_truncated_file(tiny_classifier, tmp_path):
    data = (tiny_classifier / "model.safetensors").read_bytes()[:4096]  # not ONNX at all
    (tmp_path / "model.onnx").write_bytes(data)
    result = run_cli("inspect", str(tmp_path / "model.onnx"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "truncated or not an ONNX file" in result.stderr


def test_predict_reads_stdin(tiny_classifier, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "onnx_pipelines.cli", "predict", str(tiny_classifier), "--task",
         "text-classification", "--cache-dir", str(tmp_path)],
        input="first text\n\nsecond text\n", capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2


def test_demo_runs_offline_and_reports_parity_and_speed(artifact_cache):
    import os

    env = {**os.environ, "ONNX_PIPELINES_CACHE": str(artifact_cache), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "onnx_pipelines.cli", "demo", "--repeats", "2"],
                            capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr
    rows = {line[:34].strip(): line[34:].split() for line in result.stdout.splitlines()
            if line.startswith(("pytorch", "onnx ")) and len(line[34:].split()) == 5}
    assert set(rows) >= {"pytorch (sentence-transformers)", "onnx fp32", "onnx O2", "onnx O2+int8-dynamic"}
    assert float(rows["onnx fp32"][0]) >= 0.9999 and float(rows["onnx O2"][0]) >= 0.9999
    assert float(rows["onnx O2+int8-dynamic"][0]) >= 0.98
    assert all(float(values[3]) > 0 for values in rows.values())  # every candidate was timed
    assert_only_our_lines(result.stderr)


def test_help_does_not_import_torch_or_transformers():
    """`onnx-pipelines --help` builds every parser without the heavy libraries, so it answers at once."""
    code = ("import sys; from onnx_pipelines.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'transformers', 'optimum', 'onnxruntime') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("task", "option", "message"),
    [
        ("token-classification", ["--top-k", "2"], "--top-k is for text-classification / question-answering, "
                                                   "not for --task token-classification."),
        ("text-classification", ["--question", "Who?"], "--question is for question-answering, "
                                                       "not for --task text-classification."),
        ("sentence-embeddings", ["--multi-label"], "--multi-label is for zero-shot-classification, "
                                                  "not for --task sentence-embeddings."),
    ],
)
def test_predict_refuses_an_option_of_another_task_before_loading(tmp_path, capsys, task, option, message):
    """Which task takes which option is read from the task registry (``TaskSpec.cli_options``)."""
    code = main(["predict", str(tmp_path / "never-loaded"), "--task", task, "--text", "Shares rose.", *option])
    assert code == 2
    assert message in capsys.readouterr().err


def test_predict_rejects_an_unknown_aggregation_strategy_before_loading(tmp_path, capsys):
    code = main(["predict", str(tmp_path / "never-loaded"), "--task", "token-classification",
                 "--aggregation-strategy", "loudest", "--text", "Angela Merkel visited Paris."])
    assert code == 2
    err = capsys.readouterr().err
    assert "'loudest' is not one of none, simple, first, average, max" in err
    assert err.count("\n") == 1
