"""Export a transformers model to ONNX with Optimum, and prove the export matches PyTorch.

Optimum validates exports on random dummy inputs and only *warns* past tolerance; here the export is
compared on real tokenized text (padded batches of different lengths, and text pairs where the task
takes them) and a mismatch is an :class:`~onnx_pipelines.errors.ExportError` carrying the numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from onnx_pipelines.errors import ExportError, OnnxPipelinesError, TaskMismatchError, UnsupportedArchitectureError
from onnx_pipelines.model_source import ModelSource
from onnx_pipelines.tasks import TaskSpec

logger = logging.getLogger(__name__)

#: Real sentences of very different lengths; the longest is cut at the model's max length.
VALIDATION_TEXTS: tuple[str, ...] = (
    "Shares rose sharply after the bank reported record profits.",
    "The striker scored twice in the second half.",
    "Ministers met on Tuesday to discuss the new budget, which opposition leaders said would raise "
    "taxes for working families while doing little to reduce the deficit inherited from the last "
    "government. The chancellor defended the plan in a speech to parliament.",
    "A new phone with a folding screen goes on sale next month.",
    " ".join(
        ["The film festival opened with a premiere attended by actors, directors and critics from around "
         "the world, and the jury promised a programme full of surprises."] * 12
    ),
)
VALIDATION_PAIRS: tuple[tuple[str, str], ...] = (
    ("Who scored the goal?", "The striker scored twice in the second half."),
    ("What rose?", "Shares rose sharply after the bank reported record profits."),
)
#: Queries with candidate passages, as a reranker sees them; the last pair is longer than the model's window.
VALIDATION_RANKING: tuple[tuple[str, str], ...] = (
    ("striker scores twice", "The striker scored twice in the second half."),
    ("striker scores twice", "Shares rose sharply after the bank reported record profits."),
    ("bank profits", "Shares rose sharply after the bank reported record profits."),
    ("ministers meet on trade", " ".join([VALIDATION_TEXTS[2]] * 40)),
)
#: Questions with contexts; the last context is longer than the model's window and gets truncated.
VALIDATION_QUESTIONS: tuple[tuple[str, str], ...] = (
    *VALIDATION_PAIRS,
    ("When did the ministers meet?", VALIDATION_TEXTS[2]),
    ("Who attended the premiere?", f"{VALIDATION_TEXTS[4]} {VALIDATION_TEXTS[2]} {VALIDATION_TEXTS[4]}"),
)


@dataclass(frozen=True)
class ValidationResult:
    """How far ONNX outputs are from the PyTorch reference on the validation texts."""

    output_name: str
    max_abs_diff: float
    mean_abs_diff: float
    atol: float
    num_texts: int

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.max_abs_diff)) and self.max_abs_diff <= self.atol

    def as_dict(self) -> dict[str, Any]:
        return {
            "output_name": self.output_name,
            "max_abs_diff": self.max_abs_diff,
            "mean_abs_diff": self.mean_abs_diff,
            "atol": self.atol,
            "num_texts": self.num_texts,
            "passed": self.passed,
        }


def check_exportable(source: ModelSource, task: TaskSpec) -> None:
    """Check, before exporting, that the exporter supports the architecture and the head fits the task.

    Raises:
        UnsupportedArchitectureError: If Optimum has no ONNX config for the model type or task.
        TaskMismatchError: If the model's head is for another task.
    """
    config = source.config()
    check_head(config, task, source.path)
    model_type = str(config.get("model_type", "")).replace("_", "-")
    import optimum.exporters.onnx.model_configs  # noqa: F401  (importing it registers the ONNX configs)
    from optimum.exporters.tasks import TasksManager

    try:
        supported = TasksManager.get_supported_tasks_for_model_type(
            model_type, exporter="onnx", library_name="transformers"
        )
    except (KeyError, ValueError) as e:
        raise UnsupportedArchitectureError(
            f"The ONNX exporter does not support model_type {model_type!r} ({source.path}). "
            "See the Optimum docs for the list of supported architectures."
        ) from e
    if task.export_task not in supported:
        raise UnsupportedArchitectureError(
            f"The ONNX exporter supports model_type {model_type!r} for {', '.join(sorted(supported))}, "
            f"not for {task.export_task!r} (needed by task {task.name!r})."
        )


def check_head(config: dict[str, Any], task: TaskSpec, where: Path) -> None:
    """Raise :class:`TaskMismatchError` when ``config.architectures`` names a head for another task.

    Then runs the task's own ``config_check`` (e.g. zero-shot needs an entailment label).
    """
    architectures = config.get("architectures") or []
    # No head recorded (or a task for any head): let the exporter decide.
    if task.head_suffixes and architectures and not any(a.endswith(task.head_suffixes) for a in architectures):
        from onnx_pipelines.tasks import TASKS

        fitting = [t.name for t in TASKS.values() if _fits(t, config, architectures)]
        raise TaskMismatchError(
            f"The model at {str(where)!r} is a {architectures[0]}, which does not fit task {task.name!r} "
            f"(it needs a *{task.head_suffixes[0]} head). Tasks this model fits: {', '.join(fitting)}."
        )
    task.check_config(config)


def _fits(task: TaskSpec, config: dict[str, Any], architectures: list[str]) -> bool:
    if task.head_suffixes and not any(a.endswith(task.head_suffixes) for a in architectures):
        return False
    try:
        task.check_config(config)
    except OnnxPipelinesError:
        return False
    return True


def export_model(
    source: ModelSource, task: TaskSpec, output_dir: Path, *, trust_remote_code: bool = False,
    opset: int | None = None,
) -> Path:
    """Export ``source`` for ``task`` into ``output_dir`` (``model.onnx`` + config + tokenizer).

    Returns:
        The path of the exported ``model.onnx``.

    Raises:
        ExportError: If Optimum's export fails.
    """
    from optimum.exporters.onnx import main_export

    logger.info("Exporting %s for %s", source.path, task.export_task)
    try:
        main_export(
            str(source.path),
            output=output_dir,
            task=task.export_task,
            opset=opset,
            do_validation=False,  # we validate on real text below, and fail rather than warn
            trust_remote_code=trust_remote_code,
            library_name="transformers",  # the raw transformer: pooling is ours, read from the folder
        )
    except Exception as e:  # Optimum raises ValueError/RuntimeError/KeyError/torch errors alike
        raise ExportError(f"Exporting {source.path} for {task.name!r} failed: {type(e).__name__}: {e}") from e
    onnx_path = output_dir / "model.onnx"
    if not onnx_path.is_file():
        raise ExportError(f"The exporter wrote no model.onnx into {output_dir}.")
    return onnx_path


def _texts_batch(tokenizer: Any, max_length: int) -> dict[str, np.ndarray]:
    return dict(tokenizer(list(VALIDATION_TEXTS), padding=True, truncation=True, max_length=max_length,
                          return_tensors="np"))


def _pairs_batch(tokenizer: Any, max_length: int) -> dict[str, np.ndarray]:
    first, second = zip(*VALIDATION_PAIRS, strict=True)
    return dict(tokenizer(list(first), list(second), padding=True, truncation=True, max_length=max_length,
                          return_tensors="np"))


def _ranking_batch(tokenizer: Any, max_length: int) -> dict[str, np.ndarray]:
    # As CrossEncoder tokenizes: longest-first truncation of the pair.
    queries, passages = zip(*VALIDATION_RANKING, strict=True)
    return dict(tokenizer(list(queries), list(passages), padding=True, truncation="longest_first",
                          max_length=max_length, return_tensors="np"))


def _questions_batch(tokenizer: Any, max_length: int) -> dict[str, np.ndarray]:
    # As the question-answering pipeline tokenizes: the question is kept whole, the context is cut.
    questions, contexts = zip(*VALIDATION_QUESTIONS, strict=True)
    return dict(tokenizer(list(questions), list(contexts), padding=True, truncation="only_second",
                          max_length=min(max_length, 384), return_tensors="np"))


#: Validation input kinds (``TaskSpec.validation_inputs``) and how each is tokenized into one batch.
VALIDATION_INPUTS: dict[str, Callable[[Any, int], dict[str, np.ndarray]]] = {
    "texts": _texts_batch,
    "pairs": _pairs_batch,
    "question-context": _questions_batch,
    "query-passages": _ranking_batch,
}


def validation_batches(tokenizer: Any, *, with_pairs: bool = False,
                       kinds: Sequence[str] | None = None) -> list[dict[str, np.ndarray]]:
    """Tokenized validation inputs, one padded batch per kind.

    Args:
        tokenizer: The model's tokenizer.
        with_pairs: Shorthand for ``kinds=("texts", "pairs")`` (when ``kinds`` is not given).
        kinds: Keys of :data:`VALIDATION_INPUTS`, usually a task's ``validation_inputs``.
    """
    max_length = min(int(getattr(tokenizer, "model_max_length", 512) or 512), 512)
    if kinds is None:
        kinds = ("texts", "pairs") if with_pairs else ("texts",)
    return [VALIDATION_INPUTS[kind](tokenizer, max_length) for kind in kinds]


def validate_against_torch(
    source: ModelSource, task: TaskSpec, onnx_path: Path, *, atol: float = 1e-4
) -> ValidationResult:
    """Compare ``onnx_path`` with the PyTorch model on real text.

    Raises:
        ExportError: When the max absolute difference exceeds ``atol`` or any output is NaN/inf.
    """
    from onnx_pipelines.loaders import load_tokenizer
    from onnx_pipelines.session_runner import TorchRunner, open_runner

    tokenizer = load_tokenizer(source.path)
    reference = TorchRunner.from_pretrained(task.load_torch_class(), source.path, task.output_names)
    candidate = open_runner(onnx_path)
    diffs: list[np.ndarray] = []
    count = 0
    for batch in validation_batches(tokenizer, kinds=task.validation_inputs):
        batch = {k: v for k, v in batch.items() if k in candidate.input_names}
        mask = batch["attention_mask"].astype(bool) if task.token_level else None
        expected = reference.run(batch, task.output_names)
        got = candidate.run(batch, task.output_names)
        for output_name in task.output_names:
            ref, out = expected[output_name], np.asarray(got[output_name], dtype=np.float32)
            if mask is not None:  # padded positions are arbitrary in both runtimes; ignore them
                ref, out = ref[mask], out[mask]
            diffs.append(np.abs(ref - out).ravel())
        count += len(batch["input_ids"])
    flat = np.concatenate(diffs)
    compared = "+".join(task.output_names)
    result = ValidationResult(
        output_name=compared,
        max_abs_diff=float(np.max(flat)) if np.all(np.isfinite(flat)) else float("inf"),
        mean_abs_diff=float(np.mean(flat)) if np.all(np.isfinite(flat)) else float("inf"),
        atol=atol,
        num_texts=count,
    )
    if not result.passed:
        raise ExportError(
            f"The ONNX model {onnx_path.name} disagrees with PyTorch on real text: max |diff| of "
            f"{compared} = {result.max_abs_diff:.3g} > atol {atol:g} (mean {result.mean_abs_diff:.3g}, "
            f"{count} texts). The artifact was not cached. Try another opset (opset=...) or report the model."
        )
    return result
