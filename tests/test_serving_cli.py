"""Tests of the ``serve`` command line, the settings (from code and environment) and the env factory."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.serving import cli
from onnx_pipelines.serving.settings import ServingSettings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BBC_MODEL = SHARED / "models" / "bbc-news-minilm"


def _serve_parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="onnx-pipelines")
    cli.register(main.add_subparsers(dest="command"))
    return main


def test_settings_validate_their_values() -> None:
    assert ServingSettings().batching is True
    for bad in ({"max_batch_size": 0}, {"max_queue": -1}, {"max_wait_ms": -1}, {"max_batch_tokens": True}):
        with pytest.raises(InvalidConfigError, match=next(iter(bad))):
            ServingSettings(**bad)


def test_settings_from_env() -> None:
    env = {
        "ONNX_PIPELINES_MAX_QUEUE": "64",
        "ONNX_PIPELINES_MAX_WAIT_MS": "2.5",
        "ONNX_PIPELINES_BATCHING": "off",
        "ONNX_PIPELINES_MAX_BATCH_SIZE": "",
        "UNRELATED": "x",
    }
    settings = ServingSettings.from_env(env)
    assert (settings.max_queue, settings.max_wait_ms, settings.batching) == (64, 2.5, False)
    assert settings.max_batch_size == ServingSettings().max_batch_size
    with pytest.raises(InvalidConfigError, match="ONNX_PIPELINES_MAX_QUEUE='many'"):
        ServingSettings.from_env({"ONNX_PIPELINES_MAX_QUEUE": "many"})
    with pytest.raises(InvalidConfigError, match="ONNX_PIPELINES_BATCHING"):
        ServingSettings.from_env({"ONNX_PIPELINES_BATCHING": "maybe"})


def test_serve_options_become_settings() -> None:
    args = _serve_parser().parse_args(
        ["serve", "model-dir", "--task", "text-classification", "--max-batch-size", "8", "--max-wait-ms", "1"]
        + ["--max-queue", "16", "--max-input-items", "4", "--max-payload-bytes", "1000", "--no-batching"]
    )
    assert args.func is cli.run and args.backend == "onnx" and args.port == 8080 and args.host == "127.0.0.1"
    settings = cli.settings_from_args(args)
    assert settings == ServingSettings(
        max_batch_size=8,
        max_wait_ms=1,
        max_queue=16,
        max_input_items=4,
        max_payload_bytes=1000,
        batching=False,
    )


def test_help_teaches_every_task_and_hides_the_dev_backend(capsys: pytest.CaptureFixture[str]) -> None:
    from onnx_pipelines.serving.tasks import TASKS

    with pytest.raises(SystemExit) as exited:
        _serve_parser().parse_args(["serve", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for spec in TASKS.values():
        assert spec.name in text and spec.path in text, f"--help does not mention {spec.name} at {spec.path}"
    assert "examples:" in text and "--no-batching" in text and "SIGTERM" in text
    assert "--backend" not in text


def test_run_reports_bad_configuration_with_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    parser = _serve_parser()
    args = parser.parse_args(["serve", str(BBC_MODEL), "--task", "summarization", "--backend", "pytorch"])
    assert cli.run(args) == 2
    assert "summarization" in capsys.readouterr().err
    args = parser.parse_args(["serve", str(BBC_MODEL), "--task", "text-classification", "--max-queue", "0"])
    assert cli.run(args) == 2
    assert "max_queue" in capsys.readouterr().err


def test_importing_the_cli_needs_no_web_stack() -> None:
    heavy = "{'fastapi', 'uvicorn', 'torch', 'transformers'}"
    code = f"import sys, onnx_pipelines.serving.cli; sys.exit(bool({heavy} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_env_factory_needs_model_and_task() -> None:
    pytest.importorskip("fastapi")
    from onnx_pipelines.serving import create_app_from_env

    with pytest.raises(InvalidConfigError, match="ONNX_PIPELINES_MODEL"):
        create_app_from_env({"ONNX_PIPELINES_TASK": "text-classification"})


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_env_factory_builds_the_app(anyio_backend: str) -> None:
    pytest.importorskip("fastapi")
    if not BBC_MODEL.exists():
        pytest.skip(f"shared test material not found at {BBC_MODEL}")
    import httpx

    from onnx_pipelines.serving import create_app_from_env

    env = {
        "ONNX_PIPELINES_MODEL": str(BBC_MODEL),
        "ONNX_PIPELINES_TASK": "text-classification",
        "ONNX_PIPELINES_BACKEND": "pytorch",
        "ONNX_PIPELINES_MAX_INPUT_ITEMS": "2",
    }
    app = create_app_from_env(env)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            info = (await client.get("/info")).json()
            answer = (await client.post("/predict", json={"inputs": "The striker scored twice."})).json()
            too_many = await client.post("/predict", json={"inputs": ["a", "b", "c"]})
    assert (info["variant"], info["limits"]["max_input_items"]) == ("pytorch", 2)
    assert answer[0]["label"] == "sports"
    assert too_many.status_code == 422
