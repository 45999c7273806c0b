"""``inspect``: validate and describe an ONNX graph."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from onnx_pipelines.graph_info import inspect_onnx

EPILOG = """\
examples:
  onnx-pipelines inspect ./bbc-onnx                   # the model.onnx in a folder
  onnx-pipelines inspect ./bbc-onnx/model_O2.onnx --json
  onnx-pipelines inspect ./bbc-onnx-int8 --sensitivity   # what the int8 guard measured, nodes ranked

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
    parser.add_argument("--sensitivity", action="store_true",
                        help="for an int8 artifact folder: the int8 guard's measurements and the quantizable "
                        "nodes ranked by the error each causes (computed when the build did not need them)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = inspect_onnx(args.path)
    folder = Path(args.path) if Path(args.path).is_dir() else Path(args.path).parent
    guard = _guard_manifest(folder)
    if args.json:
        print(json.dumps({**report.as_dict(), "int8_guard": guard}, indent=2))
    else:
        print(report.to_text())
        if guard and not args.sensitivity:  # --sensitivity prints the same line above its table
            from onnx_pipelines.guard_report import manifest_summary

            print(manifest_summary(guard))
    if args.sensitivity:
        from onnx_pipelines.guard_report import artifact_sensitivity

        print(artifact_sensitivity(folder))
    return 0 if report.valid else 1


def _guard_manifest(folder: Path) -> dict[str, Any] | None:
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return None
    guard = json.loads(manifest.read_text()).get("int8_guard")
    return guard if isinstance(guard, dict) else None
