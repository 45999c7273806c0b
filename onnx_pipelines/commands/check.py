"""``check``: will a model convert, and what will each variant give? Answered before any export."""

from __future__ import annotations

import argparse
import json

from onnx_pipelines.commands.common import add_task_option, add_variant_options

EPILOG = """\
examples:
  onnx-pipelines check ./bbc-news-minilm --task text-classification
  onnx-pipelines check ./my-deberta --task token-classification --optimize O2 --quantize dynamic
  onnx-pipelines check ./my-model --task sentence-embeddings --optimize O4 --provider cuda --json

Only config.json is read (no weights are loaded, nothing is exported). The report says whether the
exporter supports the model type for the task, the opset, which optimize levels apply and the fused
operators each gives this family, the int8 modes, whether custom code is needed, the parameter count and
the expected graph sizes. Exit code 0 when the requested plan (--optimize / --quantize) is supported,
1 when it is not (the reasons are printed), 2 on bad usage or a folder that is not a model.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check", help="say whether a model exports, optimizes and quantizes, before converting it",
        description="Check a model folder against the exporter, the graph optimizer and the quantizer "
        "before any export, and report what each variant would give.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="model folder holding config.json")
    add_task_option(parser)
    add_variant_options(parser)
    parser.add_argument("--provider", default="cpu", choices=("cpu", "cuda"),
                        help="where the graph will run: O4 (fp16) needs cuda (default: cpu)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow models that need their own Python code")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from onnx_pipelines.support_check import check_model

    report = check_model(args.model, args.task, optimize=args.optimize, quantize=args.quantize,
                         provider=args.provider, trust_remote_code=args.trust_remote_code)
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.to_text())
    return 0 if report.supported else 1
