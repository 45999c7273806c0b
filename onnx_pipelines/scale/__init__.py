"""Scale-out batch inference: a model over a whole dataset, as Parquet shards, locally or on Ray Data.

See :func:`batch_predict` and ``docs/scale.md``.
"""

from onnx_pipelines.scale.job import ENGINES, BatchResult, batch_predict
from onnx_pipelines.scale.job_spec import DataSpec, PredictJob
from onnx_pipelines.scale.shards import Shard, plan_shards, read_output

__all__ = ["ENGINES", "BatchResult", "DataSpec", "PredictJob", "Shard", "batch_predict", "plan_shards", "read_output"]
