"""Tests of the ``serve`` command line, the settings (from code and environment) and the env factory."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from onnx_pipelines import cli as main_cli
from onnx_pipelines.commands import serve as cli
from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.serving.loading import model_options_from_env
from onnx_pipelines.serving.settings import ServingSettings

REPO = Path(__file__).resolve().parents[1]


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


def test_model_options_from_env() -> None:
    env = {"ONNX_PIPELINES_OPTIMIZE": "O2", "ONNX_PIPELINES_QUANTIZE": " dynamic ", "ONNX_PIPELINES_THREADS": "2"}
    assert model_options_from_env(env) == {
        "optimize": "O2",
        "quantize": "dynamic",
        "provider": "auto",
        "cache_dir": None,
        "intra_op_threads": 2,
        "backend": "onnx",
    }
    with pytest.raises(InvalidConfigError, match="ONNX_PIPELINES_THREADS='0'"):
        model_options_from_env({"ONNX_PIPELINES_THREADS": "0"})


def test_serve_options_become_settings() -> None:
    args = main_cli.build_parser().parse_args(
        ["serve", "model-dir", "--task", "text-classification", "--max-batch-size", "8", "--max-wait-ms", "1"]
        + ["--max-queue", "16", "--max-input-items", "4", "--max-payload-bytes", "1000", "--no-batching"]
        + ["--optimize", "O2", "--quantize", "dynamic", "--threads", "2"]
    )
    assert args.func is cli.run and args.backend == "onnx" and args.port == 8080 and args.host == "127.0.0.1"
    assert (args.optimize, args.quantize, args.threads, args.provider) == ("O2", "dynamic", 2, "auto")
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
    from onnx_pipelines.serving.tasks import endpoints

    with pytest.raises(SystemExit) as exited:
        _serve_parser().parse_args(["serve", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for name, spec in endpoints().items():
        assert name in text and spec.path in text, f"--help does not mention {name} at {spec.path}"
    assert "examples:" in text and "--no-batching" in text and "SIGTERM" in text
    assert "--backend" not in text


def test_bad_configuration_exits_with_code_2(
    capsys: pytest.CaptureFixture[str], bbc_model: Path, tmp_path: Path
) -> None:
    """``onnx-pipelines serve`` reports bad configuration in one line, before exporting anything."""
    assert main_cli.main(["serve", str(bbc_model), "--task", "summarization"]) == 2
    assert "summarization" in capsys.readouterr().err
    assert main_cli.main(["serve", str(bbc_model), "--task", "text-classification", "--max-queue", "0"]) == 2
    assert "max_queue" in capsys.readouterr().err
    assert main_cli.main(["serve", str(tmp_path / "missing"), "--task", "text-classification"]) == 2
    assert "missing" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:  # argparse: a level that does not exist
        main_cli.main(["serve", str(bbc_model), "--task", "text-classification", "--optimize", "O9"])
    assert exited.value.code == 2
    assert list(tmp_path.iterdir()) == []


def test_importing_the_serve_command_is_cheap() -> None:
    heavy = "{'fastapi', 'uvicorn', 'starlette', 'pydantic', 'torch', 'transformers'}"
    code = f"import sys, onnx_pipelines.commands.serve; sys.exit(bool({heavy} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_serve_help_needs_no_web_stack() -> None:
    """``onnx-pipelines serve --help`` builds every parser without importing the serve extra."""
    web = "{'fastapi', 'uvicorn', 'starlette', 'pydantic', 'prometheus_client'}"
    code = (
        "import contextlib, io, sys\n"
        "from onnx_pipelines.cli import build_parser\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "    build_parser().parse_args(['serve', '--help'])\n"
        "assert 'POST /predict' in out.getvalue(), out.getvalue()\n"
        f"sys.exit(bool({web} & set(sys.modules)))"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_env_factory_needs_model_and_task() -> None:
    pytest.importorskip("fastapi")
    from onnx_pipelines.serving import create_app_from_env

    with pytest.raises(InvalidConfigError, match="ONNX_PIPELINES_MODEL"):
        create_app_from_env({"ONNX_PIPELINES_TASK": "text-classification"})


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_env_factory_builds_the_app(anyio_backend: str, bbc_model: Path, artifact_cache: Path) -> None:
    pytest.importorskip("fastapi")
    import httpx

    from onnx_pipelines.serving import create_app_from_env

    env = {
        "ONNX_PIPELINES_MODEL": str(bbc_model),
        "ONNX_PIPELINES_TASK": "text-classification",
        "ONNX_PIPELINES_OPTIMIZE": "O2",
        "ONNX_PIPELINES_QUANTIZE": "dynamic",
        "ONNX_PIPELINES_CACHE_DIR": str(artifact_cache),
        "ONNX_PIPELINES_MAX_INPUT_ITEMS": "2",
    }
    app = create_app_from_env(env)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            info = (await client.get("/info")).json()
            answer = (await client.post("/predict", json={"inputs": "The striker scored twice."})).json()
            too_many = await client.post("/predict", json={"inputs": ["a", "b", "c"]})
    assert (info["variant"], info["limits"]["max_input_items"]) == ("O2+int8-dynamic", 2)
    assert answer[0]["label"] == "sports"
    assert too_many.status_code == 422
