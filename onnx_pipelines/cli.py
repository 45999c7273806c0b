"""The ``onnx-pipelines`` command line.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds a parser and
sets ``func=run`` where ``run(args) -> int`` returns the exit code. Exit codes: 0 success, 1 a check
failed (e.g. parity), 2 bad usage or bad input (one-line message on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from onnx_pipelines.errors import OnnxPipelinesError
from onnx_pipelines.quiet import NOISE_LOGGER, third_party_quiet
from onnx_pipelines.versions import __version__

#: Modules that each add one subcommand, in --help order.
COMMAND_MODULES: tuple[str, ...] = (
    "onnx_pipelines.commands.demo",
    "onnx_pipelines.commands.check",
    "onnx_pipelines.commands.export",
    "onnx_pipelines.commands.inspect",
    "onnx_pipelines.commands.predict",
    "onnx_pipelines.commands.predict_dataset",
    "onnx_pipelines.commands.parity",
    "onnx_pipelines.commands.bench",
    "onnx_pipelines.commands.tune",
    "onnx_pipelines.commands.serve",
)

EPILOG = """\
examples:
  onnx-pipelines demo                                   # export, optimize, quantize the bundled MiniLM
  onnx-pipelines export ./my-model --task text-classification --optimize O2 --quantize dynamic
  onnx-pipelines inspect ~/.cache/onnx-pipelines/.../model_O2.onnx
  onnx-pipelines predict ./my-model --task text-classification --text "Shares rose 5%"
  onnx-pipelines parity ./my-model --task text-classification --dataset test.jsonl --variants fp32,O2+int8-dynamic
  onnx-pipelines serve ./my-model --task text-classification --optimize O2 --quantize dynamic --port 8080

Run `onnx-pipelines COMMAND --help` for each command's options.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (plus a hint) and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="onnx-pipelines",
        description="Export Hugging Face transformers to ONNX Runtime, optimize and quantize them, "
        "and prove they still give the same answers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show library logs (export details)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``onnx-pipelines`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _configure_logging(args.verbose)
    try:
        with third_party_quiet():
            return int(args.func(args))
    except OnnxPipelinesError as e:
        print(f"onnx-pipelines: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("onnx-pipelines: interrupted", file=sys.stderr)
        return 130


def _configure_logging(verbose: bool) -> None:
    """Our messages at INFO with ``-v`` (WARNING without); third-party noise only with ``-v``, at DEBUG."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    logging.getLogger(NOISE_LOGGER).setLevel(logging.DEBUG if verbose else logging.INFO)


if __name__ == "__main__":
    raise SystemExit(main())
