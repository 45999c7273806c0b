"""``transformers.Pipeline`` subclasses backed by ONNX Runtime models."""
