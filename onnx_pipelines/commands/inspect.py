"""``inspect``: validate and describe an ONNX graph."""

from __future__ import annotations

import argparse
import json

from onnx_pipelines.graph_info import inspect_onnx

EPILOG = """\
examples:
  onnx-pipelines inspect ./bbc-onnx                   # the model.onnx in a folder
  onnx-pipelines inspect ./bbc-onnx/model_O2.onnx --json

Exit code 0 when onnx.checker accepts the graph, 1 when it does not, 2 when the file is missing or
cannot be parsed at all.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect", help="check an ONNX graph and list its opset, inputs/outputs, operators and size",
        description="Run onnx.checker on a graph and describe it: opsets, inputs and outputs with their "
        "dynamic axes, operator counts, file size, and whether it is int8-quantized.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", help="an .onnx file, or a folder holding model.onnx")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = inspect_onnx(args.path)
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.to_text())
    return 0 if report.valid else 1
