"""``tune``: find the fastest build recipe that stays within the bounds of PyTorch's answers, save it."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from onnx_pipelines.commands.common import add_task_option
from onnx_pipelines.errors import InvalidConfigError

EPILOG = """\
How it works: the data is split once (seeded) into calibration, tuning and held-out rows; every candidate of
--space is built through the artifact cache, judged by the parity evaluator on the tuning rows (the bounds are
its thresholds), and timed beside the PyTorch pipeline (each in its own process: batch 1 and a batch of 16, at
128 tokens). The candidates meeting both bounds are tried on the held-out rows, fastest first; the first that
meets them there too wins and is written to --output/recipe.json. Also written: tune.json, tune.md, tune.html,
tune.png (the plot needs the [plot] extra) and candidates/NAME.json, one per finished candidate (--resume
skips those).

Spaces: small (default): O2, O1/O2/O3+int8-dynamic, O2+int8-dynamic-per-tensor, O2+int8-static-minmax,
O2+int8-static-percentile, + openvino:fp32/int8 (and bf16 where the CPU has it) when the [openvino] extra is
installed. wide: O1-O3 fp32 and O1-O3 x {dynamic, static x {minmax, entropy, percentile}} x {per-channel,
per-tensor}. Or a list of candidate names: --space O2+int8-dynamic,O2+int8-static-entropy-per-tensor

examples:
  onnx-pipelines tune ./bbc-news-minilm --task text-classification --dataset data/bbc-news/test.jsonl \\
      --max-length 128 --output tune-bbc
  onnx-pipelines tune ./bbc-news-minilm --task text-classification --dataset test.jsonl --resume --output tune-bbc
  onnx-pipelines serve --recipe tune-bbc/recipe.json
  onnx-pipelines parity ./bbc-news-minilm --task text-classification --dataset test.jsonl \\
      --variants fp32,recipe:tune-bbc/recipe.json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tune", help="search build recipes for the fastest one within accuracy bounds of PyTorch; save it",
        description="Search optimize levels, int8 modes, calibration methods and runtimes; judge each with the "
        "parity evaluator, time it beside PyTorch, confirm the winner on held-out rows, write its recipe.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="the PyTorch model folder (the reference)")
    add_task_option(parser)
    parser.add_argument("--dataset", required=True, metavar="SOURCE",
                        help="rows to judge on (with labels for a metric)")
    parser.add_argument("--split", help="dataset split, when the source has several")
    parser.add_argument("--text-column", default="text", help="column holding the text (default: text)")
    parser.add_argument("--label-column", default="label", help="column holding gold labels (default: label)")
    parser.add_argument("--tokens-column", help="token-classification: column of words")
    parser.add_argument("--tags-column", help="token-classification: column of tags")
    parser.add_argument("--max-metric-drop", type=float, default=0.5, metavar="POINTS",
                        help="largest drop of the primary metric below PyTorch, in points (default: 0.5)")
    parser.add_argument("--min-agreement", type=float, default=0.99, metavar="FRACTION",
                        help="smallest share of rows predicted as PyTorch predicts them (default: 0.99)")
    parser.add_argument("--time-budget", type=parse_duration, metavar="DURATION",
                        help="start no new candidate after this long: 90s, 30m, 1h (default: no limit)")
    parser.add_argument("--space", default="small", help="small (default), wide, or comma-separated candidate names")
    parser.add_argument("--output", type=Path, default=Path("tune-out"), metavar="DIR",
                        help="run folder (default: ./tune-out)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --output, skipping finished "
                        "candidates")
    parser.add_argument("--tuning-rows", type=int, metavar="N", help="rows judged per candidate (default: half)")
    parser.add_argument("--holdout-rows", type=int, metavar="N", help="held-out rows (default: the rest)")
    parser.add_argument("--calibration-rows", type=int, default=64, metavar="N",
                        help="rows kept aside to calibrate static int8 (default: 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default: 0)")
    parser.add_argument("--max-length", type=int, metavar="TOKENS", help="tokens kept per row (default: the "
                        "tokenizer's limit)")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (default: 3)")
    parser.add_argument("--repeats", type=int, default=20, help="timed batch-1 calls per round (default: 20)")
    parser.add_argument("--provider", default="auto", help="ONNX Runtime provider (default: auto)")
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="intra-op threads (default: each "
                        "library's own)")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                        help="artifact cache (default: $ONNX_PIPELINES_CACHE or ~/.cache/onnx-pipelines)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def parse_duration(value: str) -> float:
    """``90``, ``90s``, ``30m``, ``1.5h`` -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", value.lower())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration such as 90s, 30m or 1h, got {value!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def run(args: argparse.Namespace) -> int:
    from onnx_pipelines.errors import TuneError
    from onnx_pipelines.eval_data import ColumnMapping
    from onnx_pipelines.tuning import TimingSettings, TuneResult, tune

    if args.tags_column and not args.tokens_column:
        raise InvalidConfigError("--tags-column needs --tokens-column (the words of each sentence).")
    columns = ColumnMapping(text=args.text_column, label=None if args.tags_column else args.label_column,
                            tokens=args.tokens_column, tags=args.tags_column)
    try:
        result = tune(
            args.task, args.model, args.dataset, max_metric_drop=args.max_metric_drop,
            min_agreement=args.min_agreement, time_budget=args.time_budget, output=args.output, space=args.space,
            resume=args.resume, columns=columns, split=args.split, tuning_rows=args.tuning_rows,
            holdout_rows=args.holdout_rows, calibration_rows=args.calibration_rows, seed=args.seed,
            max_length=args.max_length, timing=TimingSettings(rounds=args.rounds, repeats=args.repeats,
                                                              threads=args.threads),
            provider=args.provider, intra_op_threads=args.threads, cache_dir=args.cache_dir,
            progress=not args.quiet,
        )
    except TuneError as e:
        if isinstance(e.result, TuneResult):
            print(e.result.to_markdown())
        raise
    print(result.to_markdown())
    print(f"recipe: {result.recipe}")
    return 0
