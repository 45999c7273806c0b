"""Int8 guard bounds per task, beside the parity thresholds (:mod:`onnx_pipelines.parity.thresholds` re-exports them).

An int8 build is compared with its fp32 parent on real text when it is built
(:mod:`onnx_pipelines.int8_guard`) and repaired with mixed precision (or refused) below these bounds. They
are stricter than the parity ``int8`` row, which judges a finished variant against labels; the guard judges
the int8 graph against the graph it came from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onnx_pipelines.tasks import TaskSpec


@dataclass(frozen=True)
class GuardBound:
    """What an int8 build must keep of its fp32 parent's answers (checked at build time, per task).

    Attributes:
        measure: How the answers are compared: ``top1`` (labels and their probabilities), ``token-labels``
            (one label per token), ``spans`` (start and end token of the answer), ``cosine`` (pooled
            sentence vectors), ``token-cosine`` (every token's hidden state).
        min_agreement: Smallest fraction of rows (tokens, spans) whose answer is unchanged.
        max_prob_change: Largest change of any label probability (``top1`` only).
        min_cosine: Smallest cosine between int8 and fp32 vectors (``cosine`` / ``token-cosine``).
    """

    measure: str
    min_agreement: float | None = None
    max_prob_change: float | None = None
    min_cosine: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The bounds, per task:
#:
#: ==========================  ============  =================================================================
#: task                        measure       bound (why)
#: ==========================  ============  =================================================================
#: text-classification         top1          agreement >= 0.98 (1 flip in 72 rows), max prob change <= 0.20
#: zero-shot-classification    top1          as text-classification (NLI logits of the pairs)
#: token-classification        token-labels  agreement >= 0.99 of the real tokens
#: question-answering          spans         agreement >= 0.93 (1 of 16 spans may move)
#: sentence-embeddings         cosine        min cosine >= 0.997 (keeps nearest neighbours, issue 11)
#: feature-extraction          token-cosine  min cosine >= 0.99 over every real token
#: ==========================  ============  =================================================================
INT8_GUARD_BOUNDS: dict[str, GuardBound] = {
    "text-classification": GuardBound("top1", min_agreement=0.98, max_prob_change=0.20),
    "zero-shot-classification": GuardBound("top1", min_agreement=0.98, max_prob_change=0.20),
    "token-classification": GuardBound("token-labels", min_agreement=0.99),
    "question-answering": GuardBound("spans", min_agreement=0.93),
    "sentence-embeddings": GuardBound("cosine", min_cosine=0.997),
    "feature-extraction": GuardBound("token-cosine", min_cosine=0.99),
}


def bound_for(task: TaskSpec) -> GuardBound:
    """The task's bound: its :data:`INT8_GUARD_BOUNDS` entry, else the bound of the task it resembles.

    A task added to the registry without an entry here is still guarded: token-level ``logits`` are judged
    like token classification, ``start_logits`` like question answering, hidden states like feature
    extraction, and anything else (one row of logits per input) like text classification.
    """
    if task.name in INT8_GUARD_BOUNDS:
        return INT8_GUARD_BOUNDS[task.name]
    if task.output_name == "start_logits":
        return INT8_GUARD_BOUNDS["question-answering"]
    if task.output_name == "last_hidden_state":
        return INT8_GUARD_BOUNDS["feature-extraction"]
    if task.token_level:
        return INT8_GUARD_BOUNDS["token-classification"]
    return INT8_GUARD_BOUNDS["text-classification"]
