"""How the benchmark drives each task: one pipeline call on texts, the label of an output, the bare model's input.

Each task's :class:`BenchTask` is defined here; the task registry (``TaskSpec.bench_driver``) says which
task has which, and :func:`get_bench_task` reads it.

Every benchmarked input is a text (latency texts are cut to exact token counts; dataset texts come from
``--dataset``). A task turns texts into its own inputs here: question answering asks one question
(``options["question"]``) of each text as context, zero-shot scores each text against
``options["candidate_labels"]``. The label of an output is what accuracy and agreement with PyTorch compare.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.tasks import TASKS, get_task, load_object

DEFAULT_QUESTION = "What is this text about?"
#: Transformers' question-answering window (longer contexts are split, not cut).
QA_WINDOW = 384

Options = Mapping[str, Any]


@dataclass(frozen=True)
class BenchTask:
    """What differs per task in the benchmark.

    Attributes:
        call: ``call(pipe, texts, batch_size, max_length, options)`` runs one pipeline call on a text or a
            list of texts and returns what the pipeline returns.
        label: The comparable label of one output (``None`` where outputs have no discrete label).
        model_input: ``model_input(tokenizer, text, max_length, options, tensors)`` tokenizes ``text`` as
            the pipeline feeds the model (pairs for QA and zero-shot), for the bare-model timing.
        length_aware: ``length_aware(pipe, texts, batch_size, max_tokens, max_length, options)`` runs a dataset
            with length-aware batching; ``None``: :func:`run_in_length_order` with ``call``.
    """

    call: Callable[[Any, Any, int, int, Options], Any]
    label: Callable[[Any], str | None]
    model_input: Callable[[Any, str, int, Options, str], Any]
    length_aware: Callable[..., list[Any]] | None = None

    def run_dataset(self, pipe: Any, texts: Sequence[str], *, batch_size: int, max_tokens: int, max_length: int,
                    options: Options) -> list[Any]:
        """The whole dataset with length-aware batching, results in input order."""
        if self.length_aware is not None:
            return self.length_aware(pipe, texts, batch_size, max_tokens, max_length, options)
        return run_in_length_order(self, pipe, texts, batch_size=batch_size, max_tokens=max_tokens,
                                   max_length=max_length, options=options)


def _single(tokenizer: Any, text: str, max_length: int, options: Options, tensors: str) -> Any:
    return tokenizer(text, return_tensors=tensors, truncation=True, max_length=max_length)


def _classify(pipe: Any, texts: Any, batch_size: int, max_length: int, options: Options) -> Any:
    return pipe(texts, batch_size=batch_size, truncation=True, max_length=max_length)


def _classify_dataset(pipe: Any, texts: Sequence[str], batch_size: int, max_tokens: int, max_length: int,
                      options: Options) -> list[Any]:
    from onnx_pipelines.pipelines.dataset_prediction import predict_dataset

    return list(predict_dataset(pipe, list(texts), max_batch_size=batch_size, max_tokens=max_tokens, truncation=True,
                                max_length=max_length))


def _top_label(output: Any) -> str:
    if isinstance(output, list):
        output = output[0]
    return str(output["label"])


def _tag(pipe: Any, texts: Any, batch_size: int, max_length: int, options: Options) -> Any:
    # The pipeline truncates at the tokenizer's limit; aggregation gives entity spans to compare.
    return pipe(texts, batch_size=batch_size, aggregation_strategy="simple")


def _entities(output: Any) -> str:
    return ";".join(f"{e['entity_group']}:{e['start']}-{e['end']}" for e in output)


def _answer(pipe: Any, texts: Any, batch_size: int, max_length: int, options: Options) -> Any:
    from onnx_pipelines.pipelines.question_answering import answer_each

    question = str(options.get("question") or DEFAULT_QUESTION)
    window = min(max_length, QA_WINDOW)
    if isinstance(texts, str):
        return pipe(question=question, context=texts, batch_size=batch_size, max_seq_len=window)
    contexts = list(texts)
    # The PyTorch and plain-Optimum rows are plain transformers pipelines: answer_each gives them our convention.
    return answer_each(pipe, [question] * len(contexts), contexts, batch_size=batch_size, max_seq_len=window)


def _answer_text(output: Any) -> str:
    return str(output["answer"])


def _qa_input(tokenizer: Any, text: str, max_length: int, options: Options, tensors: str) -> Any:
    return tokenizer(str(options.get("question") or DEFAULT_QUESTION), text, return_tensors=tensors,
                     truncation="only_second", max_length=min(max_length, QA_WINDOW))


def _zero_shot(pipe: Any, texts: Any, batch_size: int, max_length: int, options: Options) -> Any:
    return pipe(texts, candidate_labels=_labels(options), batch_size=batch_size)


def _best_label(output: Any) -> str:
    return str(output["labels"][0])


def _zero_shot_input(tokenizer: Any, text: str, max_length: int, options: Options, tensors: str) -> Any:
    hypotheses = [f"This example is {label}." for label in _labels(options)]
    return tokenizer([text] * len(hypotheses), hypotheses, return_tensors=tensors, padding=True,
                     truncation="only_first", max_length=max_length)


def _labels(options: Options) -> list[str]:
    from onnx_pipelines.pipelines.zero_shot import check_candidate_labels

    return check_candidate_labels(options["candidate_labels"])


def _features(pipe: Any, texts: Any, batch_size: int, max_length: int, options: Options) -> Any:
    return pipe(texts, batch_size=batch_size, truncation=True, tokenize_kwargs={"max_length": max_length})


def _no_label(output: Any) -> None:
    return None


def _rank(pipe: Any, texts: Any, batch_size: int, max_length: int, options: Options) -> Any:
    # Each text is a passage scored against one query, as (query, passage) pairs: ours and transformers'
    # text-classification pipeline both take {"text", "text_pair"} and give a sigmoid score per pair.
    query = str(options.get("query") or options.get("question") or DEFAULT_QUESTION)
    pairs = [{"text": query, "text_pair": t} for t in ([texts] if isinstance(texts, str) else texts)]
    outputs = pipe(pairs, batch_size=batch_size, truncation=True, max_length=max_length)
    return outputs[0] if isinstance(texts, str) else outputs


def _relevance(output: Any) -> str:
    if isinstance(output, list):
        output = output[0]
    return "relevant" if float(output["score"]) > 0.5 else "not relevant"


def _rank_input(tokenizer: Any, text: str, max_length: int, options: Options, tensors: str) -> Any:
    query = str(options.get("query") or options.get("question") or DEFAULT_QUESTION)
    return tokenizer(query, text, return_tensors=tensors, truncation="longest_first", max_length=max_length)


# --- the drivers, named by the task registry's ``TaskSpec.bench_driver`` ----------------------------

TEXT_CLASSIFICATION = BenchTask(_classify, _top_label, _single, length_aware=_classify_dataset)
TOKEN_CLASSIFICATION = BenchTask(_tag, _entities, _single)
QUESTION_ANSWERING = BenchTask(_answer, _answer_text, _qa_input)
ZERO_SHOT_CLASSIFICATION = BenchTask(_zero_shot, _best_label, _zero_shot_input)
FEATURE_EXTRACTION = BenchTask(_features, _no_label, _single)
TEXT_RANKING = BenchTask(_rank, _relevance, _rank_input)


def bench_tasks() -> list[str]:
    """Names of the tasks the task registry gives a benchmark driver, in registry order."""
    return [name for name, spec in TASKS.items() if spec.bench_driver is not None]


def get_bench_task(task: str, options: Options | None = None) -> BenchTask:
    """The benchmark's driver for ``task``, checking the options it needs (the task's ``required_options``).

    Raises:
        UnsupportedTaskError: If the task is unknown; the message lists the supported ones.
        InvalidConfigError: If the benchmark cannot drive the task, or a required option is missing.
    """
    spec = get_task(task)
    if spec.bench_driver is None:
        raise InvalidConfigError(
            f"bench measures {', '.join(bench_tasks())}; got task {task!r}. For sentence embeddings, "
            "`onnx-pipelines demo --model PATH` times the variants against sentence-transformers."
        )
    missing = [o for o in spec.required_options if not (options or {}).get(o)]
    if missing:
        flags = ", ".join(f"--{o.replace('_', '-')}" for o in missing)
        raise InvalidConfigError(f"bench --task {spec.name} needs {flags}.")
    driver: BenchTask = load_object(spec.bench_driver)
    return driver


def run_in_length_order(spec: BenchTask, pipe: Any, texts: Sequence[str], *, batch_size: int, max_tokens: int,
                        max_length: int, options: Options) -> list[Any]:
    """Length-aware batching for any task: similar lengths together, results back in input order."""
    from onnx_pipelines.length_batches import length_sorted_batches, restore_order

    lengths = [len(ids) for ids in pipe.tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]]
    batches = length_sorted_batches(lengths, max_batch_size=batch_size, max_tokens=max_tokens)
    results = []
    for indices in batches:
        outputs = spec.call(pipe, [texts[i] for i in indices], len(indices), max_length, options)
        results.append(list(outputs))
    return restore_order(batches, results)
