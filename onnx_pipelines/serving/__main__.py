"""``python -m onnx_pipelines.serving MODEL --task TASK``: the ``onnx-pipelines serve`` command."""

from onnx_pipelines.commands.serve import main

raise SystemExit(main())
