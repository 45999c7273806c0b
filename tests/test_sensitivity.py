"""sensitivity: the probe's weight rounding is onnxruntime's own, per channel as per tensor."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnxruntime.quantization.quant_utils import quantize_data

from onnx_pipelines.sensitivity import _fake_quant_columns


@pytest.mark.parametrize("qtype", [onnx.TensorProto.INT8, onnx.TensorProto.UINT8])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("reduce_range", [True, False])
def test_per_channel_rounding_equals_quantize_data_column_by_column(qtype: int, symmetric: bool,
                                                                     reduce_range: bool) -> None:
    rng = np.random.default_rng(0)
    weights = (rng.standard_normal((64, 48)) * rng.uniform(0.01, 3.0, 48)).astype(np.float32)
    weights[:, 3] = 0.0  # a dead channel (scale 1, zero point 0 in onnxruntime)
    weights[:, 5] = np.abs(weights[:, 5])  # one-signed channel
    columns = []
    for column in range(weights.shape[1]):
        zero_point, scale, quantized = quantize_data(weights[:, column], qtype, symmetric, reduce_range)
        columns.append((quantized.astype(np.float32) - np.float32(zero_point)) * np.float32(scale))
    expected = np.stack(columns, axis=1).astype(np.float32)
    np.testing.assert_array_equal(_fake_quant_columns(weights, qtype, symmetric, reduce_range), expected)
