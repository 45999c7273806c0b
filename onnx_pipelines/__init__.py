"""onnx-pipelines: Hugging Face transformers on ONNX Runtime, with proof of parity."""

from onnx_pipelines.errors import OnnxPipelinesError

__version__ = "0.1.0"

__all__ = ["OnnxPipelinesError", "__version__"]
