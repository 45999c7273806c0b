#!/bin/sh
# The command the Docker image runs: `onnx-pipelines serve`, configured by ONNX_PIPELINES_* variables.
# Arguments given to `docker run IMAGE ...` are appended (e.g. --max-queue 64 --no-batching) and win
# over the defaults below. tests/test_serving_clients.py starts a server with exactly this script.
set -eu

set -- "${ONNX_PIPELINES_MODEL:-/model}" \
    --task "${ONNX_PIPELINES_TASK:?set ONNX_PIPELINES_TASK, e.g. text-classification}" \
    --host "${ONNX_PIPELINES_HOST:-0.0.0.0}" \
    --port "${ONNX_PIPELINES_PORT:-8080}" \
    --cache-dir "${ONNX_PIPELINES_CACHE_DIR:-/cache}" \
    ${ONNX_PIPELINES_OPTIMIZE:+--optimize "$ONNX_PIPELINES_OPTIMIZE"} \
    ${ONNX_PIPELINES_QUANTIZE:+--quantize "$ONNX_PIPELINES_QUANTIZE"} \
    ${ONNX_PIPELINES_THREADS:+--threads "$ONNX_PIPELINES_THREADS"} \
    "$@"
exec onnx-pipelines serve "$@"
