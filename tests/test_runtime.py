import onnxruntime
import pytest

from onnx_pipelines.errors import InvalidConfigError, ProviderUnavailableError
from onnx_pipelines.runtime import CPU, RuntimeSettings, resolve_provider


def test_auto_and_cpu_resolve_to_an_available_provider():
    assert resolve_provider("auto") in onnxruntime.get_available_providers()
    assert resolve_provider("cpu") == CPU
    assert resolve_provider("CPUExecutionProvider") == CPU


@pytest.mark.skipif("CUDAExecutionProvider" in onnxruntime.get_available_providers(), reason="GPU build installed")
def test_unavailable_provider_lists_the_available_ones():
    with pytest.raises(ProviderUnavailableError) as info:
        resolve_provider("cuda")
    message = str(info.value)
    assert "CPUExecutionProvider" in message and "onnxruntime-gpu" in message
    assert isinstance(info.value, RuntimeError)


def test_unknown_provider_name():
    with pytest.raises(ProviderUnavailableError, match="Available"):
        resolve_provider("QuantumExecutionProvider")
    with pytest.raises(InvalidConfigError):
        resolve_provider("")


def test_session_options_carry_thread_counts():
    options = RuntimeSettings(intra_op_threads=1, inter_op_threads=1).session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1


@pytest.mark.parametrize("kwargs", [{"intra_op_threads": -1}, {"intra_op_threads": "2"}, {"graph_optimization": "max"}])
def test_runtime_settings_validate(kwargs):
    with pytest.raises(InvalidConfigError):
        RuntimeSettings(**kwargs)


def test_cpu_and_gpu_builds_side_by_side_are_refused(monkeypatch):
    import importlib.metadata

    real_version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "1.32.0" if name == "onnxruntime-gpu" else real_version(name))
    with pytest.raises(ProviderUnavailableError, match="Both onnxruntime .* and onnxruntime-gpu"):
        resolve_provider("auto")
