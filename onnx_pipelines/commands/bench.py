"""``bench``: side-by-side speed of PyTorch, the plain Optimum recipe and our variants, each in its own process."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from onnx_pipelines.commands.common import StepPrinter, add_task_option
from onnx_pipelines.errors import DatasetError, InvalidConfigError

EPILOG = """\
Rows: the PyTorch pipeline (transformers.pipeline(task, model=path)), the Optimum docs' plain recipe
(export=True, default session; and its ORTQuantizer dynamic int8), and each --variants entry loaded with
load_pipeline. Each row runs in its own process; rows take turns over rounds; ratios come from the same run.
Writes results.json, results.md and results.png into --output.

examples:
  onnx-pipelines bench ./bbc-news-minilm --task text-classification \\
      --dataset data/bbc-news/test.jsonl --calibration-data data/bbc-news/train.jsonl --max-lengths 128,512
  onnx-pipelines bench ./bbc-news-minilm --task text-classification --dataset test.jsonl --quick
  onnx-pipelines bench ./bbc-news-minilm --task text-classification --dataset test.jsonl \
      --calibration-data train.jsonl --variants O2+int8-dynamic,openvino:fp32,openvino:int8
  onnx-pipelines bench ./conll-ner-minilm --task token-classification --quick
  onnx-pipelines bench ./qa-model --task question-answering --dataset articles.jsonl --question "Who won?"
  onnx-pipelines bench ./nli-model --task zero-shot-classification --candidate-labels business,sport \
      --dataset bbc/test.jsonl --label-column label_name
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="benchmark PyTorch, the plain Optimum recipe and our ONNX variants side by side",
        description="Measure latency (batch 1 by length, batch sweep), dataset throughput (default and "
        "length-aware batching), build and load time, size and peak memory.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="local model folder (PyTorch weights, config, tokenizer)")
    add_task_option(parser)
    parser.add_argument("--dataset", type=Path, help="JSON lines / JSON / CSV file of texts for the throughput runs")
    parser.add_argument("--text-column", default="text", help="column holding the text (default: text)")
    parser.add_argument("--label-column", default="label",
                        help="column holding gold labels, ids or names (default: label; absent: no accuracy)")
    parser.add_argument("--limit", type=int, help="use only the first N dataset texts")
    parser.add_argument("--calibration-data", type=Path,
                        help="texts for int8-static and openvino:int8 (NNCF) calibration (not the evaluation set); "
                        "without it those rows are skipped")
    parser.add_argument("--calibration-samples", type=int, default=128, help="calibration texts (default: 128)")
    parser.add_argument("--variants", default=",".join(_default_variants()),
                        help="our variants, comma-separated (default: %(default)s); OpenVINO rows (the [openvino] "
                        "extra): openvino:fp32, openvino:bf16 (CPUs with AVX512-BF16/AMX), openvino:int8; "
                        "recipe:PATH builds a recipe file (e.g. tune's recipe.json)")
    parser.add_argument("--no-baselines", action="store_true", help="skip the PyTorch and Optimum-docs rows")
    parser.add_argument("--seq-lens", type=_ints, help="batch-1 token counts (default: 16,64,128,256)")
    parser.add_argument("--batch-sizes", type=_ints, help="batch sweep sizes (default: 1,8,32)")
    parser.add_argument("--batch-seq-len", type=int, help="tokens per text in the batch sweep (default: 128)")
    parser.add_argument("--max-lengths", type=_ints, help="dataset truncation lengths (default: 512)")
    parser.add_argument("--rounds", type=int, help="latency rounds (default: 5)")
    parser.add_argument("--repeats", type=int, help="timed batch-1 calls per round (default: 20)")
    parser.add_argument("--dataset-rounds", type=int, help="dataset rounds (default: 3)")
    parser.add_argument("--batch-size", type=int, help="dataset batch size (default: 32)")
    parser.add_argument("--max-tokens", type=int, help="length-aware padded-token budget per batch (default: 8192)")
    parser.add_argument("--threads", type=int, help="intra-op threads for every row (default: each library's own)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke configuration: 2 short lengths, small batches, 1 round, 24 texts")
    parser.add_argument("--question", default=None,
                        help="question-answering: the question asked of every text (default: 'What is this text "
                        "about?')")
    parser.add_argument("--candidate-labels", default=None,
                        help="zero-shot-classification: comma-separated labels to score every text against")
    parser.add_argument("--output", type=Path, default=Path("bench-results"), help="report folder")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                        help="artifact cache (default: $ONNX_PIPELINES_CACHE or ~/.cache/onnx-pipelines)")
    parser.set_defaults(func=run)


def _default_variants() -> tuple[str, ...]:
    from onnx_pipelines.benchmark.candidates import DEFAULT_VARIANTS

    return DEFAULT_VARIANTS


def _ints(value: str) -> tuple[int, ...]:
    try:
        numbers = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from e
    if not numbers or min(numbers) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {value!r}")
    return numbers


_SETTING_FLAGS = {
    "seq_lens": "seq_lens", "batch_sizes": "batch_sizes", "batch_seq_len": "batch_seq_len",
    "max_lengths": "max_lengths", "rounds": "rounds", "repeats": "repeats", "dataset_rounds": "dataset_rounds",
    "batch_size": "dataset_batch_size", "max_tokens": "max_tokens", "threads": "threads",
}


def settings_from_args(args: argparse.Namespace) -> Any:
    """:class:`BenchSettings` from the defaults (or ``--quick``) and the flags given."""
    from onnx_pipelines.benchmark.runner import BenchSettings

    overrides = {field: getattr(args, flag) for flag, field in _SETTING_FLAGS.items()
                 if getattr(args, flag) is not None}
    return BenchSettings.quick(**overrides) if args.quick else BenchSettings(**overrides)


def run(args: argparse.Namespace) -> int:
    from onnx_pipelines.benchmark import BenchData, default_candidates, run_benchmark, write_reports
    from onnx_pipelines.cache import default_cache_dir

    if not Path(args.model).is_dir():
        raise InvalidConfigError(f"bench needs a local model folder; {str(args.model)!r} is not one.")
    from onnx_pipelines.benchmark.tasks import get_bench_task
    from onnx_pipelines.tasks import get_task

    args.task = get_task(args.task).name  # aliases (ner, zero-shot) name the same task
    options = {k: getattr(args, k) for k in ("question", "candidate_labels") if getattr(args, k)}
    get_bench_task(args.task, options)  # fail before loading data when the task or an option is wrong
    settings = settings_from_args(args)
    limit = args.limit or (24 if args.quick else None)
    texts: list[str] = []
    gold: list[str] | None = None
    if args.dataset:
        texts, gold = load_texts(args.dataset, args.text_column, args.label_column, limit, args.model)
    else:
        from dataclasses import replace

        from onnx_pipelines.commands.demo import DEMO_SENTENCES

        texts = list(DEMO_SENTENCES)
        settings = replace(settings, dataset_rounds=0)
    calibration = None
    if args.calibration_data:
        samples = min(args.calibration_samples, 16) if args.quick else args.calibration_samples
        calibration, _ = load_texts(args.calibration_data, args.text_column, None, samples, args.model)
    candidates = default_candidates(args.variants, baselines=not args.no_baselines,
                                    static_available=calibration is not None)
    progress = StepPrinter()
    cache_dir = args.cache_dir or default_cache_dir()
    data = BenchData(texts=texts, gold=gold, name=args.dataset.name if args.dataset else "no dataset",
                     calibration_texts=calibration, options=options)
    raw = run_benchmark(str(Path(args.model).resolve()), args.task, candidates, data, settings,
                        cache_dir=str(cache_dir), work_dir=str(Path(cache_dir) / "bench"), progress=progress)
    paths = write_reports(raw, args.output)
    print(paths["markdown"].read_text())
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def load_texts(path: Path, text_column: str, label_column: str | None, limit: int | None,
               model: str) -> tuple[list[str], list[str] | None]:
    """Texts (and gold label names, ids mapped through the model's ``id2label``) from a data file.

    Raises:
        DatasetError: If the file is missing, unreadable, or lacks the text column.
    """
    import datasets

    builders = {".jsonl": "json", ".json": "json", ".csv": "csv"}
    builder = builders.get(path.suffix.lower())
    if not path.is_file() or builder is None:
        raise DatasetError(f"{str(path)!r} is not a .jsonl, .json or .csv file; pass a local data file.")
    try:
        table = datasets.load_dataset(builder, data_files=str(path), split="train")
    except (ValueError, OSError) as e:
        raise DatasetError(f"Could not read {str(path)!r}: {e}") from e
    if text_column not in table.column_names:
        raise DatasetError(f"{path.name} has no column {text_column!r} (columns: {', '.join(table.column_names)}); "
                           "pass --text-column.")
    if limit:
        table = table.select(range(min(limit, len(table))))
    texts = [str(t) for t in table[text_column]]
    if not label_column or label_column not in table.column_names:
        return texts, None
    id2label = json.loads((Path(model) / "config.json").read_text()).get("id2label", {})
    gold = [id2label.get(str(v), str(v)) if isinstance(v, int) else str(v) for v in table[label_column]]
    return texts, gold
