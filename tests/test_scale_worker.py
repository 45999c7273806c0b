"""Pipeline outputs become typed Arrow columns: embeddings as fixed-size lists, dicts as structs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from onnx_pipelines.scale.worker import to_arrow


def test_embeddings_are_fixed_size_float_lists() -> None:
    column = to_arrow(np.arange(12, dtype=np.float64).reshape(3, 4))
    assert column.type == pa.list_(pa.float32(), 4)
    assert column.to_pylist()[2] == [8.0, 9.0, 10.0, 11.0]


def test_dicts_and_lists_of_dicts_are_structs_with_numpy_scalars_unwrapped() -> None:
    single = to_arrow([{"label": "tech", "score": np.float32(0.5)}, {"label": "sport", "score": 0.25}])
    assert single.type == pa.struct([("label", pa.string()), ("score", pa.float64())])
    entities = to_arrow([[{"word": "Paris", "start": np.int64(0), "score": np.float32(0.9)}], []])
    assert entities.type.value_type == pa.struct([("word", pa.string()), ("start", pa.int64()),
                                                  ("score", pa.float64())])
    assert entities.to_pylist()[0][0]["word"] == "Paris" and entities.to_pylist()[1] == []
