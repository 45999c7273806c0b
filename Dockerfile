# CPU image serving one model with `onnx-pipelines serve` (see docs/serving.md, "Docker").
#
#   docker build -t onnx-pipelines-serve .
#   docker run --rm -p 8080:8080 -v "$PWD/bbc-news-minilm:/model:ro" \
#       -e ONNX_PIPELINES_TASK=text-classification -e ONNX_PIPELINES_OPTIMIZE=O2 onnx-pipelines-serve
FROM python:3.11-slim

# HF_HUB_OFFLINE: the server never fetches models, it serves the folder at /model.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1

WORKDIR /opt/onnx-pipelines
COPY pyproject.toml constraints.txt README.md ./
COPY onnx_pipelines ./onnx_pipelines
# The pinned stack, with PyTorch's CPU wheel (PyPI's Linux torch is the multi-GB CUDA build).
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -c constraints.txt ".[serve]"

COPY docker/entrypoint.sh /usr/local/bin/onnx-pipelines-entrypoint
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app \
 && mkdir -p /model /cache && chown app:app /cache
USER app

# The model: mount it at /model (read-only is fine), or bake it in a derived image (docs/serving.md).
# Exported ONNX artifacts go to /cache: mount a volume there to keep them across restarts.
ENV ONNX_PIPELINES_MODEL=/model \
    ONNX_PIPELINES_CACHE_DIR=/cache \
    ONNX_PIPELINES_HOST=0.0.0.0 \
    ONNX_PIPELINES_PORT=8080
VOLUME ["/cache"]
EXPOSE 8080

# The first start exports the model (tens of seconds); later starts reuse /cache.
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('ONNX_PIPELINES_PORT', '8080') + '/health', timeout=4)"]

# SIGTERM: stop accepting, finish in-flight requests (--graceful-timeout, 30 s), exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["onnx-pipelines-entrypoint"]
