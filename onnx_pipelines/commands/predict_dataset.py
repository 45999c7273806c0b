"""``predict-dataset``: a model over a whole dataset, as Parquet shards plus a manifest, locally or on Ray."""

from __future__ import annotations

import argparse
from pathlib import Path

from onnx_pipelines.commands.common import StepPrinter, add_task_option, add_variant_options

EPILOG = """\
examples:
  # this machine, 2 ONNX Runtime threads, O2 + dynamic int8, 1,000-row shards
  onnx-pipelines predict-dataset ./bbc-news-minilm --task text-classification \\
      --dataset corpus.jsonl --output preds --optimize O2 --quantize dynamic --cpus-per-worker 2

  # a Ray cluster: 8 actors of 4 CPUs each (artifact cache, data and output on shared storage)
  RAY_ADDRESS=head:6379 onnx-pipelines predict-dataset ./bbc-news-minilm --task text-classification \\
      --dataset /shared/corpus.parquet --output /shared/preds --engine ray --workers 8 --cpus-per-worker 4 \\
      --cache-dir /shared/onnx-cache

  # the same job after a crash: finished shards are kept, the others run
  onnx-pipelines predict-dataset ... --resume

writes: OUT/shards/part-NNNNN.parquet (columns: row = position in the input, your --id-column, prediction),
OUT/job.json (what the job is; --resume checks it), OUT/manifest.json (rows, columns, model, variant,
versions; written when every shard is there). Read it back in order with
pyarrow.dataset.dataset("OUT/shards").to_table().sort_by("row").
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict-dataset", help="run a model over a whole dataset into Parquet shards (local or Ray)",
        description="Build the variant once, then predict every row of the dataset shard by shard with "
        "length-aware batches, on this machine (--engine local) or a Ray actor pool (--engine ray), writing "
        "one Parquet file per shard and a manifest. A killed run continues with --resume.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="model folder, folder with model.onnx, or hub id")
    add_task_option(parser)
    add_variant_options(parser)
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", required=True, metavar="SOURCE",
                      help="json/jsonl/csv/tsv/parquet file, save_to_disk folder, folder of data files, or hub name")
    data.add_argument("--split", help="split to run, when the source has several")
    data.add_argument("--config-name", help="hub dataset configuration")
    data.add_argument("--text-column", default="text", metavar="NAME", help="column with the text (default: text)")
    data.add_argument("--text-pair-column", metavar="NAME", help="column with the second text of a pair")
    data.add_argument("--id-column", metavar="NAME", help="column copied beside each prediction (your row ids)")
    data.add_argument("--limit", type=int, metavar="N", help="only the first N rows")
    data.add_argument("--max-length", type=int, metavar="TOKENS",
                      help="text-classification: tokens kept per text (default: the model's maximum)")
    data.add_argument("--batch-size", type=int, default=32, help="rows per model call (default: 32)")
    data.add_argument("--max-tokens", type=int, default=8192, help="padded tokens per model call (default: 8192)")
    options = parser.add_argument_group("task options (the task's call options)")
    options.add_argument("--top-k", type=int, help="text-classification: labels per text")
    options.add_argument("--aggregation-strategy", type=str.lower,
                         help="token-classification: none, simple, first, average or max")
    options.add_argument("--candidate-labels", metavar="A,B,...",
                         help="zero-shot-classification: labels to choose from")
    options.add_argument("--hypothesis-template", help="zero-shot-classification: NLI hypothesis with {} for the label")
    options.add_argument("--multi-label", action="store_true", default=None,
                         help="zero-shot-classification: score each label on its own")
    out = parser.add_argument_group("output")
    out.add_argument("--output", required=True, type=Path, metavar="OUT", help="output folder")
    out.add_argument("--shard-rows", type=int, default=1000, metavar="N",
                     help="rows per shard: per output file, per unit of work and of retry (default: 1000)")
    again = out.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="keep the finished shards of the same job, run the rest")
    again.add_argument("--overwrite", action="store_true", help="delete what OUT holds first")
    out.add_argument("--quiet", action="store_true", help="no step messages")
    engine = parser.add_argument_group("engine")
    engine.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this process; ray: a Ray actor pool (pip install 'onnx-pipelines[ray]')")
    engine.add_argument("--workers", type=int, default=1, metavar="N", help="Ray actors (--engine ray; default: 1)")
    engine.add_argument("--cpus-per-worker", type=int, metavar="K",
                        help="CPUs per worker = ONNX Runtime intra-op threads (default: ORT decides locally, 1 on Ray)")
    engine.add_argument("--address", metavar="HOST:PORT",
                        help="Ray cluster (default: $RAY_ADDRESS; neither: a local Ray for this job)")
    engine.add_argument("--provider", default="auto", help="ONNX Runtime provider: auto, cpu, cuda (default: auto)")
    engine.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help="artifact cache (default: $ONNX_PIPELINES_CACHE or ~/.cache/onnx-pipelines); on a "
                        "cluster, a folder every node reads at the same path")
    parser.set_defaults(func=run)


#: The call options this command has flags for (each task takes those of its ``TaskSpec.call_options``).
_CALL_OPTIONS: tuple[str, ...] = ("top_k", "aggregation_strategy", "candidate_labels", "hypothesis_template",
                                  "multi_label")


def run(args: argparse.Namespace) -> int:
    from onnx_pipelines.scale import batch_predict

    options = {key: getattr(args, key) for key in _CALL_OPTIONS if getattr(args, key) is not None}
    if "candidate_labels" in options:
        options["candidate_labels"] = [label.strip() for label in options["candidate_labels"].split(",")
                                       if label.strip()]
    result = batch_predict(
        args.model, args.task, args.dataset, args.output, engine=args.engine, workers=args.workers,
        cpus_per_worker=args.cpus_per_worker, address=args.address, optimize=args.optimize, quantize=args.quantize,
        provider=args.provider, cache_dir=args.cache_dir, split=args.split, config_name=args.config_name,
        text_column=args.text_column, text_pair_column=args.text_pair_column, id_column=args.id_column,
        limit=args.limit, shard_rows=args.shard_rows, batch_size=args.batch_size, max_tokens=args.max_tokens,
        max_length=args.max_length, resume=args.resume, overwrite=args.overwrite,
        progress=StepPrinter(quiet=args.quiet), **options,
    )
    manifest = result.manifest
    print(f"{manifest['rows']} rows in {manifest['shards']} shards -> {result.output} "
          f"({result.shards_run} shards run, {result.shards_skipped} kept; {result.rows_run} rows in "
          f"{result.seconds:.1f} s, {result.rows_per_second:.1f} rows/s; {manifest['variant']}, {args.engine})")
    return 0
