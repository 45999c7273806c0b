"""``predict``: run a pipeline on texts from the command line, a file or stdin."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from onnx_pipelines.commands.common import (
    StepPrinter,
    add_runtime_options,
    add_task_option,
    add_variant_options,
)
from onnx_pipelines.errors import InvalidInputError
from onnx_pipelines.pipeline import load_pipeline

EPILOG = """\
examples:
  onnx-pipelines predict ./bbc-news-minilm --task text-classification --text "Shares rose 5%"
  onnx-pipelines predict ./bbc-news-minilm --task text-classification --optimize O2 --quantize dynamic \\
      --input-file headlines.txt --top-k 2
  echo "a cat sits on the mat" | onnx-pipelines predict ./minilm --task sentence-embeddings

Prints one JSON line per input text (embeddings as lists of floats).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help="run the ONNX pipeline on texts and print JSON lines",
        description="Load (export or reuse from the cache) the ONNX pipeline and run it on texts given "
        "with --text, --input-file (one text per line) or standard input.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="model folder, folder with model.onnx, or hub id")
    add_task_option(parser)
    add_variant_options(parser)
    parser.add_argument("--text", action="append", default=[], help="a text to run (repeatable)")
    parser.add_argument("--text-pair", action="append", default=[],
                        help="second text of a pair, matched to --text by position (classification)")
    parser.add_argument("--input-file", type=Path, help="a file with one text per line")
    parser.add_argument("--top-k", type=int, default=None, help="labels per text (classification)")
    parser.add_argument("--batch-size", type=int, default=8, help="texts per model call (default: 8)")
    add_runtime_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    texts = _read_texts(args)
    inputs: list[Any] = texts
    if args.text_pair:
        if len(args.text_pair) != len(texts):
            raise InvalidInputError(
                f"{len(args.text_pair)} --text-pair values for {len(texts)} texts; give one pair per --text."
            )
        inputs = [{"text": t, "text_pair": p} for t, p in zip(texts, args.text_pair, strict=True)]
    pipe = load_pipeline(
        args.task, args.model, optimize=args.optimize, quantize=args.quantize, provider=args.provider,
        cache_dir=args.cache_dir, intra_op_threads=args.threads, progress=StepPrinter(),
        batch_size=args.batch_size,
    )
    kwargs = {"top_k": args.top_k} if args.top_k is not None else {}
    outputs = pipe(inputs, **kwargs)
    for text, output in zip(texts, outputs, strict=False):
        print(json.dumps({"text": text, "output": _jsonable(output)}))
    return 0


def _read_texts(args: argparse.Namespace) -> list[str]:
    texts = list(args.text)
    if args.input_file:
        if not args.input_file.is_file():
            raise InvalidInputError(f"--input-file {str(args.input_file)!r} does not exist.")
        texts += [line for line in args.input_file.read_text().splitlines() if line.strip()]
    if not texts and not sys.stdin.isatty():
        texts += [line for line in sys.stdin.read().splitlines() if line.strip()]
    if not texts:
        raise InvalidInputError("No input text: pass --text TEXT, --input-file FILE, or pipe texts on stdin.")
    return texts


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [round(float(x), 6) for x in value.ravel()] if value.ndim <= 1 else value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value
