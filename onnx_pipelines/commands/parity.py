"""``parity``: prove on your data how far each ONNX variant is from the PyTorch model; exit 1 if one is too far."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from onnx_pipelines.commands.common import add_runtime_options, add_task_option
from onnx_pipelines.config import CalibrationMethod

if TYPE_CHECKING:
    from onnx_pipelines.parity.report import ParityReport

EPILOG = """\
examples:
  # fp32, O2 and dynamic int8 against PyTorch on a labelled jsonl file; reports in ./parity-report
  onnx-pipelines parity ./bbc-news-minilm --task text-classification \\
      --dataset test.jsonl --variants fp32,O2,O2+int8-dynamic --max-length 128

  # static int8 calibrated (entropy, 256 rows) on the training file, judged on the test file
  onnx-pipelines parity ./bbc-news-minilm --task text-classification --dataset test.jsonl \\
      --variants O2+int8-static --calibration-data train.jsonl --calibration-method entropy \\
      --calibration-samples 256

  # CI gate: 200 sampled rows, stricter int8 limits, JUnit for the CI test tab
  onnx-pipelines parity ./model --task text-classification --dataset data.csv --text-column review \\
      --label-column stars --sample 200 --max-metric-drop 0.5 --min-agreement 0.98 \\
      --report-dir reports --junit reports/parity.xml

  # a graph exported elsewhere (folder with model.onnx + tokenizer) against the PyTorch original
  onnx-pipelines parity ./model --task text-classification --dataset data.jsonl --variants ./exported-onnx

  # sentence embeddings (no labels needed): cosine similarity and nearest-neighbour agreement
  onnx-pipelines parity ./all-MiniLM-L6-v2 --task sentence-embeddings --dataset sentences.jsonl

  # NER: token logits, entity agreement per sentence, seqeval P/R/F1 against the gold tags
  onnx-pipelines parity ./conll-ner-minilm --task token-classification --dataset conll/test.jsonl \
      --tokens-column tokens --tags-column ner_tags --variants fp32,O2,int8-dynamic

  # extractive QA: start/end logits over every window, answer agreement, SQuAD exact match / F1
  onnx-pipelines parity ./bert-squad --task question-answering --dataset squad.jsonl \
      --question-column question --context-column context --answers-column answers

  # zero-shot with an NLI model: labels chosen on the command line, gold label names in label_name
  onnx-pipelines parity ./nli-model --task zero-shot-classification --dataset bbc/test.jsonl \
      --label-column label_name --candidate-labels business,entertainment,politics,sport,tech

what is measured, per variant, on the same tokenized batches as the PyTorch reference:
  output differences (max/mean abs, max relative; cosine for embeddings), NaN/inf (always a failure),
  prediction agreement, the task metric and its change in points, the worst disagreements, speed.

default limits (override with --atol / --min-agreement / --max-metric-drop):
  fp32, O1, O2      atol 1e-4, agreement 1.0, metric drop 0 points
  O3 (GELU approx)  atol 5e-3, agreement 0.99, drop 0.5 points
  any int8          no atol,   agreement 0.97, drop 1 point

exit codes: 0 every variant passed, 1 a variant failed its limits, 2 bad usage or input.
writes: DIR/parity.json (schema: docs/parity-schema.md), DIR/parity.md (PR comment / CI summary),
DIR/parity.html (self-contained, with plots), and --junit FILE if given.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "parity", help="compare ONNX variants with the PyTorch model on a dataset (CI gate)",
        description="Run the PyTorch model and each ONNX variant on the same tokenized rows of your dataset, "
        "compare their raw outputs, predictions and task metric, and write JSON / Markdown / HTML reports. "
        "Exits 1 when a variant is further from PyTorch than its limits allow.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="the PyTorch model folder (or hub id): the reference and the export source")
    add_task_option(parser, required=False)
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", required=True, metavar="SOURCE",
                      help="json/jsonl/csv/tsv/parquet file, save_to_disk folder, or hub dataset name")
    data.add_argument("--split", help="split to evaluate, when the source has several")
    data.add_argument("--config-name", help="hub dataset configuration")
    data.add_argument("--text-column", default="text", metavar="NAME", help="column with the text (default: text)")
    data.add_argument("--text-pair-column", metavar="NAME", help="column with the second text of a pair")
    data.add_argument("--label-column", metavar="NAME",
                      help="column with gold labels (names or ids); default: 'label' when present, "
                      "else no task metric")
    data.add_argument("--tokens-column", metavar="NAME", help="token-classification: column with each row's words")
    data.add_argument("--tags-column", metavar="NAME",
                      help="token-classification: column with one gold tag (name or id) per word")
    data.add_argument("--question-column", metavar="NAME", help="question-answering: column with the question")
    data.add_argument("--context-column", metavar="NAME", help="question-answering: column with the context")
    data.add_argument("--answers-column", metavar="NAME",
                      help="question-answering: SQuAD-style gold answers {text: [...], answer_start: [...]}")
    data.add_argument("--limit", type=int, metavar="N", help="evaluate only the first N rows")
    data.add_argument("--sample", type=int, metavar="N", help="evaluate N rows sampled with --seed")
    data.add_argument("--seed", type=int, default=0, help="seed of --sample and of the calibration sample (default: 0)")
    data.add_argument("--max-length", type=int, metavar="TOKENS",
                      help="tokens kept per row (default: the tokenizer's limit, capped at the model's positions)")
    data.add_argument("--batch-size", type=int, default=32, help="rows per model call (default: 32)")
    data.add_argument("--max-tokens", type=int, default=16384, help="padded tokens per model call (default: 16384)")
    variants = parser.add_argument_group("variants and calibration")
    variants.add_argument("--variants", default="fp32,O2,O2+int8-dynamic", metavar="LIST",
                          help="comma-separated variants: fp32, O1-O4, int8-dynamic, int8-static, O2+int8-dynamic, "
                          "..., recipe:PATH (a recipe file, e.g. tune's recipe.json), or paths of pre-exported ONNX "
                          "folders (default: fp32,O2,O2+int8-dynamic)")
    variants.add_argument("--calibration-data", metavar="SOURCE",
                          help="separate rows to calibrate int8-static on (default: rows of --dataset that are "
                          "not evaluated, else a seeded sample of it)")
    variants.add_argument("--calibration-split", help="split of --calibration-data")
    variants.add_argument("--calibration-method", default="minmax", choices=[m.value for m in CalibrationMethod],
                          help="static int8 calibration method (default: minmax)")
    variants.add_argument("--calibration-samples", type=int, default=128, metavar="N",
                          help="rows used to calibrate (default: 128)")
    options = parser.add_argument_group("task options")
    options.add_argument("--candidate-labels", metavar="A,B,...",
                         help="zero-shot-classification: comma-separated labels (the gold labels must be among them)")
    options.add_argument("--hypothesis-template", metavar="TEXT",
                         help="zero-shot-classification: NLI hypothesis with {} for the label")
    options.add_argument("--multi-label", action="store_true",
                         help="zero-shot-classification: score each label on its own")
    options.add_argument("--doc-stride", type=int, metavar="TOKENS",
                         help="question-answering: overlap of the windows over long contexts (default: 128)")
    limits = parser.add_argument_group("limits (defaults depend on the variant's precision)")
    limits.add_argument("--atol", type=float, help="max absolute output difference for non-int8 variants")
    limits.add_argument("--min-agreement", type=float, metavar="FRACTION",
                        help="min fraction of rows predicted as PyTorch predicts them, e.g. 0.98")
    limits.add_argument("--max-metric-drop", type=float, metavar="POINTS",
                        help="max drop of the primary metric (accuracy) below PyTorch, in points")
    out = parser.add_argument_group("output")
    out.add_argument("--report-dir", type=Path, default=Path("parity-report"), metavar="DIR",
                     help="where parity.json / .md / .html go (default: ./parity-report)")
    out.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML (one test case per variant)")
    out.add_argument("--max-disagreements", type=int, default=10, metavar="N",
                     help="disagreements listed per variant (default: 10)")
    out.add_argument("--quiet", action="store_true", help="no progress bars or step messages")
    engine = parser.add_argument_group("engine (docs/scale.md)")
    engine.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this process; ray: blocks of rows on a Ray actor pool "
                        "(pip install 'onnx-pipelines[ray]'); both give the same numbers")
    engine.add_argument("--workers", type=int, default=1, metavar="N", help="Ray actors (--engine ray; default: 1)")
    engine.add_argument("--cpus-per-worker", type=int, default=1, metavar="K",
                        help="CPUs (PyTorch and ONNX Runtime threads) per Ray actor (default: 1)")
    engine.add_argument("--address", metavar="HOST:PORT",
                        help="Ray cluster (default: $RAY_ADDRESS; neither: a local Ray for this run)")
    engine.add_argument("--block-rows", type=int, default=4096, metavar="N",
                        help="rows per block: batches never mix blocks; the unit of work on Ray (default: 4096)")
    add_runtime_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from onnx_pipelines.eval_data import ColumnMapping
    from onnx_pipelines.parity import CalibrationSettings, Thresholds, evaluate_parity

    task = args.task or _infer_task(args.model)
    columns = ColumnMapping(text=args.text_column, text_pair=args.text_pair_column,
                            label=args.label_column or "label", tokens=args.tokens_column, tags=args.tags_column,
                            question=args.question_column, context=args.context_column,
                            answers=args.answers_column)
    task_options = {key: getattr(args, key) for key in _TASK_OPTIONS if getattr(args, key)}
    report = evaluate_parity(
        args.model, task, args.dataset, variants=args.variants, columns=columns, task_options=task_options,
        require_labels=any(c is not None for c in (args.label_column, args.tags_column, args.answers_column)),
        split=args.split, config_name=args.config_name,
        limit=args.limit, sample=args.sample, seed=args.seed, max_length=args.max_length,
        batch_size=args.batch_size, max_tokens=args.max_tokens,
        thresholds=Thresholds(atol=args.atol, min_agreement=args.min_agreement, max_metric_drop=args.max_metric_drop),
        calibration=CalibrationSettings(method=args.calibration_method, samples=args.calibration_samples,
                                        data=args.calibration_data, split=args.calibration_split),
        provider=args.provider, intra_op_threads=args.threads, cache_dir=args.cache_dir,
        max_disagreements=args.max_disagreements, progress=not args.quiet, engine=args.engine,
        workers=args.workers, cpus_per_worker=args.cpus_per_worker, address=args.address, block_rows=args.block_rows,
    )
    paths = report.write(args.report_dir, junit=args.junit)
    _print_summary(report, paths)
    return 0 if report.passed else 1


#: Command-line task options handed to the task's parity adapter (``AdapterContext.options``).
_TASK_OPTIONS: tuple[str, ...] = ("candidate_labels", "hypothesis_template", "multi_label", "doc_stride")


def _infer_task(model: str) -> str:
    from onnx_pipelines.model_source import resolve_model
    from onnx_pipelines.tasks import infer_task

    return infer_task(resolve_model(model).config()).name


def _print_summary(report: ParityReport, paths: dict[str, Path]) -> None:
    from onnx_pipelines.parity.markdown import failure_lines, headline, summary_rows

    header, rows = summary_rows(report)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(headline(report))
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    for variant in report.failed_variants():
        for line in failure_lines(variant):
            print(f"FAIL {variant.name}: {line}")
    print("reports: " + ", ".join(str(p) for p in paths.values()))
