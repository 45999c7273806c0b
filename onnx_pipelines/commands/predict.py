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
from onnx_pipelines.tasks import TASKS, TaskSpec, get_task

# The pipelines import transformers (and torch): they are imported when the command runs, so that
# `onnx-pipelines --help` stays instant.

EPILOG = """\
examples:
  onnx-pipelines predict ./bbc-news-minilm --task text-classification --text "Shares rose 5%"
  onnx-pipelines predict ./bbc-news-minilm --task text-classification --optimize O2 --quantize dynamic \\
      --input-file headlines.txt --top-k 2
  echo "a cat sits on the mat" | onnx-pipelines predict ./minilm --task sentence-embeddings
  onnx-pipelines predict ./conll-ner-minilm --task token-classification --aggregation-strategy simple \
      --text "Angela Merkel visited Paris."
  onnx-pipelines predict ./qa-model --task question-answering --question "Who scored?" \
      --context "The striker scored twice in the second half."
  onnx-pipelines predict ./nli-model --task zero-shot-classification --candidate-labels business,sport \
      --text "Shares rose 5%"

Prints one JSON line per input (embeddings as lists of floats).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help="run the ONNX pipeline on texts and print JSON lines",
        description="Load (export or reuse from the cache) the ONNX pipeline and run it on texts given "
        "with --text, --input-file (one text per line) or standard input; question answering takes "
        "--question and --context instead.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="model folder, folder with model.onnx, or hub id")
    add_task_option(parser)
    add_variant_options(parser)
    parser.add_argument("--text", action="append", default=[], help="a text to run (repeatable)")
    parser.add_argument("--text-pair", action="append", default=[],
                        help="second text of a pair, matched to --text by position (classification)")
    parser.add_argument("--input-file", type=Path, help="a file with one text per line")
    parser.add_argument("--top-k", type=int, default=None,
                        help="labels per text (text-classification) or answers per question (question-answering)")
    parser.add_argument("--aggregation-strategy", default=None, type=str.lower,
                        help="token-classification: none (one row per token), simple, first, average or max")
    parser.add_argument("--stride", type=int, default=None,
                        help="token-classification: overlap in tokens of windows over long texts (needs aggregation)")
    parser.add_argument("--question", action="append", default=[], help="question-answering: a question (repeatable)")
    parser.add_argument("--context", action="append", default=[],
                        help="question-answering: the context of each --question, or one context for all")
    parser.add_argument("--doc-stride", type=int, default=None,
                        help="question-answering: overlap in tokens of windows over long contexts (default 128)")
    parser.add_argument("--candidate-labels", default=None,
                        help="zero-shot-classification: comma-separated labels to choose from")
    parser.add_argument("--hypothesis-template", default=None,
                        help="zero-shot-classification: NLI hypothesis with {} for the label (default 'This example "
                        "is {}.')")
    parser.add_argument("--multi-label", action="store_true", default=None,
                        help="zero-shot-classification: score each label on its own instead of normalizing over labels")
    parser.add_argument("--batch-size", type=int, default=8, help="texts per model call (default: 8)")
    add_runtime_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from onnx_pipelines.pipeline import load_pipeline
    from onnx_pipelines.pipelines.token_classification import AGGREGATION_STRATEGIES
    from onnx_pipelines.pipelines.zero_shot import check_candidate_labels

    spec = get_task(args.task)
    _check_task_options(spec, args)
    if args.aggregation_strategy is not None and args.aggregation_strategy not in AGGREGATION_STRATEGIES:
        raise InvalidInputError(
            f"--aggregation-strategy {args.aggregation_strategy!r} is not one of {', '.join(AGGREGATION_STRATEGIES)}."
        )
    shown, inputs = _read_inputs(spec, args)
    call_kwargs = {k: getattr(args, k) for k in spec.call_options if getattr(args, k, None) is not None}
    for required in spec.required_options:  # fail before the (slow) export, not after it
        if required not in call_kwargs:
            raise InvalidInputError(f"--task {spec.name} needs --{required.replace('_', '-')}.")
    if "candidate_labels" in call_kwargs:
        call_kwargs["candidate_labels"] = check_candidate_labels(call_kwargs["candidate_labels"])
    pipe = load_pipeline(
        spec.name, args.model, optimize=args.optimize, quantize=args.quantize, provider=args.provider,
        cache_dir=args.cache_dir, intra_op_threads=args.threads, progress=StepPrinter(),
        batch_size=args.batch_size,
    )
    outputs = pipe(inputs, **call_kwargs)  # a list in, one output per input out (the pipeline classes' convention)
    for item, output in zip(shown, outputs, strict=True):
        print(json.dumps({**item, "output": _jsonable(output)}))
    return 0


def _takes_questions(spec: TaskSpec) -> bool:
    return "question" in spec.input_fields


def _check_task_options(spec: TaskSpec, args: argparse.Namespace) -> None:
    """Refuse a per-task option (the registry's ``TaskSpec.cli_options``) that ``spec``'s task does not take."""
    for attribute in dict.fromkeys(o for other in TASKS.values() for o in other.cli_options):
        value = getattr(args, attribute, None)
        if value not in (None, []) and attribute not in spec.cli_options:
            tasks = [name for name, other in TASKS.items() if attribute in other.cli_options]
            flag = "--" + attribute.replace("_", "-")
            raise InvalidInputError(f"{flag} is for {' / '.join(tasks)}, not for --task {spec.name}.")


def _read_inputs(spec: TaskSpec, args: argparse.Namespace) -> tuple[list[dict[str, str]], list[Any]]:
    """What to print beside each output, and the pipeline inputs."""
    if _takes_questions(spec):
        from onnx_pipelines.pipelines.question_answering import qa_examples

        if args.text or args.input_file:
            raise InvalidInputError("question-answering takes --question and --context, not --text/--input-file.")
        if not args.question or not args.context:
            raise InvalidInputError("question-answering needs --question QUESTION and --context CONTEXT.")
        contexts = args.context * len(args.question) if len(args.context) == 1 else args.context
        examples = qa_examples((), {"question": args.question or None, "context": contexts or None})
        return examples, examples
    texts = _read_texts(args)
    if not args.text_pair:
        return [{"text": t} for t in texts], list(texts)
    if len(args.text_pair) != len(texts):
        raise InvalidInputError(
            f"{len(args.text_pair)} --text-pair values for {len(texts)} texts; give one pair per --text."
        )
    pairs = [{"text": t, "text_pair": p} for t, p in zip(texts, args.text_pair, strict=True)]
    return pairs, list(pairs)


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
