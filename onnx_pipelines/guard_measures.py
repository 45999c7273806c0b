"""The int8 guard's inputs and measures: real text in fixed batches, and each task's own comparison.

Dynamic int8 quantizes activations with per-batch ranges, so an int8 answer depends on its batch mates.
The guard therefore always feeds the same *fixed batches* (:data:`GUARD_BATCH_SIZE` rows, in the order
given, padded to the longest row of the batch): the fp32 parent, the plain int8 graph, every sensitivity
probe and every repaired graph see exactly the same tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from onnx_pipelines.guard_bounds import GuardBound
from onnx_pipelines.guard_texts import GUARD_QUESTIONS, GUARD_TEXTS, guard_pairs
from onnx_pipelines.tasks import TaskSpec

#: Rows per guard batch (the batching is part of what the guard measured, and says so in the manifest).
GUARD_BATCH_SIZE = 8
#: Rows of user calibration data the guard uses at most.
GUARD_MAX_ROWS = 64
#: Tokens per row at most (longer texts are truncated, as the pipelines truncate).
GUARD_MAX_LENGTH = 256

Batch = dict[str, np.ndarray]


@dataclass(frozen=True)
class GuardInputs:
    """Tokenized rows the guard compares the graphs on.

    Attributes:
        batches: Fixed batches (dicts of int64 arrays, ``attention_mask`` included).
        source: ``"library texts"`` or ``"calibration texts"``.
        rows: How many rows in all.
    """

    batches: tuple[Batch, ...]
    source: str
    rows: int

    @property
    def batching(self) -> str:
        return f"fixed batches of {GUARD_BATCH_SIZE} rows, padded to the longest row of each batch"

    def subset(self, indices: Sequence[int]) -> GuardInputs:
        """The batches at ``indices`` (same source)."""
        batches = tuple(self.batches[i] for i in indices)
        return GuardInputs(batches, self.source, sum(len(b["input_ids"]) for b in batches))


def guard_inputs(tokenizer: Any, task: TaskSpec, calibration_batches: Sequence[Batch] | None = None) -> GuardInputs:
    """The rows to guard on: the user's calibration rows when given, else :mod:`onnx_pipelines.guard_texts`.

    Args:
        tokenizer: The model's tokenizer.
        task: The task; its ``validation_inputs`` say which kinds of input the model takes.
        calibration_batches: Tokenized calibration rows (static int8), used instead of the library texts.
    """
    max_length = min(int(getattr(tokenizer, "model_max_length", 512) or 512), GUARD_MAX_LENGTH)
    if calibration_batches:
        rows = _rows(calibration_batches)[:GUARD_MAX_ROWS]
        batches = [_stack(rows[i:i + GUARD_BATCH_SIZE]) for i in range(0, len(rows), GUARD_BATCH_SIZE)]
        return GuardInputs(tuple(batches), "calibration texts", len(rows))
    batches = []
    for kind in task.validation_inputs:
        if kind == "texts":
            items: list[Any] = list(GUARD_TEXTS)
        elif kind == "pairs":
            items = list(guard_pairs())
        else:
            items = list(GUARD_QUESTIONS)
        for i in range(0, len(items), GUARD_BATCH_SIZE):
            chunk = items[i:i + GUARD_BATCH_SIZE]
            if kind == "texts":
                encoded = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="np")
            else:
                first, second = zip(*chunk, strict=True)
                encoded = tokenizer(list(first), list(second), padding=True, max_length=max_length,
                                    truncation="only_second" if kind == "question-context" else True,
                                    return_tensors="np")
            batches.append({k: np.asarray(v, dtype=np.int64) for k, v in encoded.items()})
    return GuardInputs(tuple(batches), "library texts", sum(len(b["input_ids"]) for b in batches))


def _rows(batches: Sequence[Batch]) -> list[Batch]:
    rows = []
    for batch in batches:
        for i in range(len(batch["input_ids"])):
            rows.append({k: np.asarray(v[i]) for k, v in batch.items()})
    return rows


def _stack(rows: list[Batch]) -> Batch:
    # Calibration rows are padded to one length already; trim the columns no row uses.
    batch = {k: np.stack([r[k] for r in rows]).astype(np.int64) for k in rows[0]}
    used = int(batch["attention_mask"].sum(axis=1).max()) if "attention_mask" in batch else None
    return {k: v[:, :used] for k, v in batch.items()} if used else batch


def run_graph(runner: Any, inputs: GuardInputs, output_names: Sequence[str],
              extra_feed: dict[str, np.ndarray] | None = None) -> list[dict[str, np.ndarray]]:
    """Run a :class:`~onnx_pipelines.session_runner.ModelRunner` on every guard batch (``extra_feed``: the
    probe's gates)."""
    results = []
    for batch in inputs.batches:
        outputs = runner.run({**batch, **(extra_feed or {})}, list(output_names))
        results.append({name: np.asarray(outputs[name], dtype=np.float32) for name in output_names})
    return results


@dataclass(frozen=True)
class Measurement:
    """How close one int8 graph's answers are to the fp32 parent's, in the task's own measure.

    Attributes:
        values: The measured numbers, e.g. ``{"agreement": 1.0, "max_prob_change": 0.02}``.
        passed: Whether they meet the bound.
        error: One number, higher is worse, that ranks graphs (and sensitivity probes) by damage.
        failures: One line per missed bound.
    """

    values: dict[str, float]
    passed: bool
    error: float
    failures: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return ", ".join(f"{k} {v:.4f}" for k, v in self.values.items())


def measure(task: TaskSpec, bound: GuardBound, reference: Sequence[dict[str, np.ndarray]],
            candidate: Sequence[dict[str, np.ndarray]], inputs: GuardInputs, *,
            folder: Path | None = None) -> Measurement:
    """Compare ``candidate`` outputs with the fp32 ``reference`` in ``bound.measure``.

    Args:
        task: The task (its outputs are compared).
        bound: The task's bound (:data:`onnx_pipelines.parity.thresholds.INT8_GUARD_BOUNDS`).
        reference: The fp32 parent's outputs, one dict per guard batch.
        candidate: The int8 graph's outputs, same layout.
        inputs: The guard batches (for the attention masks).
        folder: The model folder (sentence-transformers pooling files), for ``cosine``.
    """
    masks = [b["attention_mask"].astype(bool) for b in inputs.batches]
    kind = bound.measure
    if kind == "top1":
        values = _top1(task, reference, candidate)
    elif kind == "token-labels":
        values = _token_labels(task, reference, candidate, masks)
    elif kind == "spans":
        values = _spans(reference, candidate, masks)
    elif kind == "cosine":
        values = _pooled_cosine(task, reference, candidate, masks, folder)
    elif kind == "token-cosine":
        values = _token_cosine(task, reference, candidate, masks)
    else:
        raise ValueError(f"Unknown guard measure {kind!r}")
    failures = []
    if not all(np.isfinite(v) for v in values.values()):
        failures.append("non-finite outputs")
    if bound.min_agreement is not None and values.get("agreement", 1.0) < bound.min_agreement:
        failures.append(f"agreement {values['agreement']:.4f} < {bound.min_agreement}")
    if bound.max_prob_change is not None and values.get("max_prob_change", 0.0) > bound.max_prob_change:
        failures.append(f"max prob change {values['max_prob_change']:.4f} > {bound.max_prob_change}")
    if bound.min_cosine is not None and values.get("min_cosine", 1.0) < bound.min_cosine:
        failures.append(f"min cosine {values['min_cosine']:.5f} < {bound.min_cosine}")
    error = values.pop("_error")
    if not np.isfinite(error):
        error = float("inf")
    return Measurement(values, not failures, float(error), tuple(failures))


def _softmax(logits: np.ndarray) -> np.ndarray:
    if logits.shape[-1] == 1:
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def _labels(probs: np.ndarray) -> np.ndarray:
    return (probs[..., 0] > 0.5).astype(int) if probs.shape[-1] == 1 else probs.argmax(axis=-1)


def _top1(task: TaskSpec, reference: Sequence[dict[str, np.ndarray]],
          candidate: Sequence[dict[str, np.ndarray]]) -> dict[str, float]:
    ref = _softmax(np.concatenate([r[task.output_name] for r in reference]))
    cand = _softmax(np.concatenate([c[task.output_name] for c in candidate]))
    change = np.abs(ref - cand)
    agreement = float(np.mean(_labels(ref) == _labels(cand)))
    return {"agreement": agreement, "max_prob_change": float(change.max()),
            "mean_prob_change": float(change.mean()), "_error": float(1 - agreement + change.max() + change.mean())}


def _token_labels(task: TaskSpec, reference: Sequence[dict[str, np.ndarray]],
                  candidate: Sequence[dict[str, np.ndarray]], masks: list[np.ndarray]) -> dict[str, float]:
    ref = np.concatenate([_softmax(r[task.output_name])[m] for r, m in zip(reference, masks, strict=True)])
    cand = np.concatenate([_softmax(c[task.output_name])[m] for c, m in zip(candidate, masks, strict=True)])
    change = np.abs(ref - cand)
    agreement = float(np.mean(_labels(ref) == _labels(cand)))
    return {"agreement": agreement, "max_prob_change": float(change.max()),
            "mean_prob_change": float(change.mean()), "_error": float(1 - agreement + change.mean())}


def _spans(reference: Sequence[dict[str, np.ndarray]], candidate: Sequence[dict[str, np.ndarray]],
           masks: list[np.ndarray]) -> dict[str, float]:
    same, total, change = 0, 0, []
    for ref, cand, mask in zip(reference, candidate, masks, strict=True):
        for row in range(mask.shape[0]):
            keep = mask[row]
            ends = []
            for name in ("start_logits", "end_logits"):
                r, c = _softmax(ref[name][row][keep]), _softmax(cand[name][row][keep])
                ends.append(int(r.argmax()) == int(c.argmax()))
                change.append(float(np.abs(r - c).max()))
            same += all(ends)
            total += 1
    agreement = same / max(total, 1)
    return {"agreement": agreement, "max_prob_change": max(change, default=0.0),
            "_error": float(1 - agreement + float(np.mean(change)) if change else 0.0)}


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return np.sum(a * b, axis=-1) / np.maximum(norms, 1e-12)


def _pooled_cosine(task: TaskSpec, reference: Sequence[dict[str, np.ndarray]],
                   candidate: Sequence[dict[str, np.ndarray]], masks: list[np.ndarray],
                   folder: Path | None) -> dict[str, float]:
    import torch

    from onnx_pipelines.pipelines.sentence_embeddings import PoolingConfig, pool

    config = PoolingConfig.from_folder(folder) if folder is not None else PoolingConfig()
    cosines = []
    for ref, cand, mask in zip(reference, candidate, masks, strict=True):
        torch_mask = torch.from_numpy(mask.astype(np.int64))
        a = pool(torch.from_numpy(ref[task.output_name]), torch_mask, config).numpy()
        b = pool(torch.from_numpy(cand[task.output_name]), torch_mask, config).numpy()
        cosines.append(_cosines(a, b))
    values = np.concatenate(cosines)
    return {"min_cosine": float(values.min()), "mean_cosine": float(values.mean()),
            "_error": float((1 - values.min()) + (1 - values.mean()))}


def _token_cosine(task: TaskSpec, reference: Sequence[dict[str, np.ndarray]],
                  candidate: Sequence[dict[str, np.ndarray]], masks: list[np.ndarray]) -> dict[str, float]:
    values = np.concatenate([_cosines(r[task.output_name][m], c[task.output_name][m])
                             for r, c, m in zip(reference, candidate, masks, strict=True)])
    return {"min_cosine": float(values.min()), "mean_cosine": float(values.mean()),
            "_error": float((1 - values.min()) + (1 - values.mean()))}
