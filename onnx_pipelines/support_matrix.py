"""The support matrix: every encoder family x task head x variant, built, run and compared with PyTorch.

One cell is one ``load_pipeline`` call (the support check, export, validation against PyTorch on real
text, optimization, quantization, the pipeline), then the pipeline's answers compared with the PyTorch
``transformers`` pipeline (or ``SentenceTransformer.encode``) on the same inputs, text pairs included.
``benchmarks/architectures.py`` runs it on :mod:`onnx_pipelines.tiny_models` and writes
docs/architectures.md; ``tests/test_support_matrix.py`` runs the CI subset (:data:`CI_CELLS`) and checks
the committed table against it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from onnx_pipelines.errors import OnnxPipelinesError, UnsupportedArchitectureError
from onnx_pipelines.fusions import count_fused_ops, summarize
from onnx_pipelines.tiny_models import FAMILIES, HEADS

logger = logging.getLogger(__name__)

VARIANTS: tuple[str, ...] = ("fp32", "O1", "O2", "O3", "O2+int8-dynamic", "O2+int8-static")
#: Pipeline answers of exact variants must match PyTorch this closely (scores; embeddings by cosine).
EXACT_ATOL = 1e-4
EXACT_MIN_COSINE = 0.9999
#: O3 swaps GELU for its tanh approximation: validated at this tolerance (as the artifact builder does).
APPROX_ATOL = 5e-3
TEXTS: tuple[str, ...] = (
    "Shares in the bank rose sharply after it reported record profits for the year.",
    "The striker scored twice as the home side won the cup final in London.",
)
PAIRS: tuple[tuple[str, str], ...] = (
    ("Who scored twice?", "The striker scored twice as the home side won the cup final."),
)
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("What rose?", "Shares in the bank rose sharply after it reported record profits."),
    ("Where was the final?", "The striker scored twice as the home side won the cup final in London."),
)
CALIBRATION_SAMPLES = 16


@dataclass(frozen=True)
class Cell:
    """One family x task x variant result.

    Attributes:
        family: ``model_type``.
        task: Our task name.
        variant: e.g. ``"O2+int8-dynamic"``.
        status: ``"works"``, ``"refused"`` (the support check says no, before any export) or ``"fails"``.
        fused: Fused operator counts of the built graph (:func:`onnx_pipelines.fusions.count_fused_ops`).
        max_diff: Largest difference to PyTorch: the export validation's raw outputs and the pipeline's
            answers (scores), or ``1 - min cosine`` for sentence embeddings. ``None`` for int8 cells
            (random weights make int8 accuracy meaningless: they must build and run).
        detail: Why not (refused / fails), or the note the build logged.
    """

    family: str
    task: str
    variant: str
    status: str
    fused: dict[str, int] = field(default_factory=dict)
    max_diff: float | None = None
    detail: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return self.family, self.task, self.variant

    @property
    def exact(self) -> bool:
        return "int8" not in self.variant

    @property
    def tolerance(self) -> float | None:
        if not self.exact:
            return None
        return APPROX_ATOL if self.variant.startswith("O3") else EXACT_ATOL


def all_cells() -> list[tuple[str, str, str]]:
    """Every (family, task, variant): each head through each variant (``benchmarks/architectures.py --all``)."""
    return [(family, task, variant) for family, spec in FAMILIES.items() for task in spec.heads
            for variant in VARIANTS]


def doc_cells() -> list[tuple[str, str, str]]:
    """The cells of docs/architectures.md: every family's classifier through every variant, every other head at fp32.

    The heads share the encoder graph, so what optimization fuses and how int8 builds is the same for each
    head; the other heads' variants are in :func:`all_cells`.
    """
    return [(family, task, variant) for family, spec in FAMILIES.items() for task in spec.heads
            for variant in VARIANTS if task == "text-classification" or variant == "fp32"]


#: The cells CI runs (48; 130 s of CPU for the test file, measured): every family's classifier at fp32, O2 and
#: O2+int8-dynamic (the issue's question: what does O2 do for my family), every other head at fp32 for the
#: families without ``token_type_ids`` (RoBERTa, DistilBERT, ModernBERT), O3 and static int8 on one family
#: of each fusion kind (BERT: fully fused; DeBERTa-v2 and MPNet: attention unfused; ModernBERT: nothing
#: fused), and O1 on BERT. :func:`doc_cells` (docs/architectures.md) holds them all.
CI_CELLS: tuple[tuple[str, str, str], ...] = (
    *((family, "text-classification", v) for family in FAMILIES for v in ("fp32", "O2", "O2+int8-dynamic")),
    *((family, task, "fp32") for family in ("roberta", "distilbert", "modernbert")
      for task in ("token-classification", "question-answering", "sentence-embeddings")),
    *((family, "text-classification", v) for family in ("bert", "modernbert", "mpnet", "deberta-v2")
      for v in ("O3", "O2+int8-static")),
    ("bert", "text-classification", "O1"),
)


class ModelFolders:
    """Builds (once) and returns the tiny model folder of each family x task under ``root``."""

    def __init__(self, root: Path, texts: Sequence[str], wordpiece_vocab: Path) -> None:
        self.root = root
        self.texts = list(texts)
        self.wordpiece_vocab = wordpiece_vocab

    def __call__(self, family: str, task: str) -> Path:
        from onnx_pipelines.tiny_models import build_tiny_model

        return build_tiny_model(FAMILIES[family], task, self.root / f"tiny-{family}-{task}", texts=self.texts,
                                wordpiece_vocab=self.wordpiece_vocab)


def run_matrix(cells: Iterable[tuple[str, str, str]], folders: Callable[[str, str], Path], cache_dir: Path,
               *, calibration_texts: Sequence[str], progress: Callable[[str], None] | None = None) -> list[Cell]:
    """Run ``cells`` (family, task, variant) and return one :class:`Cell` each, in order."""
    results = []
    for family, task, variant in cells:
        if progress:
            progress(f"{family} {task} {variant}")
        results.append(run_cell(family, task, variant, folders(family, task), cache_dir,
                                calibration_texts=calibration_texts))
    return results


def run_cell(family: str, task: str, variant: str, folder: Path, cache_dir: Path, *,
             calibration_texts: Sequence[str]) -> Cell:
    """Build ``variant`` of the model at ``folder`` with ``load_pipeline`` and compare it with PyTorch."""
    from onnx_pipelines.config import Variant
    from onnx_pipelines.pipeline import load_pipeline
    from onnx_pipelines.support_check import check_model

    parsed = Variant.parse(variant)
    report = check_model(folder, task, optimize=parsed.optimize, quantize=parsed.quantize, count_parameters=False)
    if not report.supported:  # what load_pipeline would refuse, without the folder's path in the message
        return Cell(family, task, variant, "refused", detail=" ".join(report.reasons))
    # Random weights make int8 accuracy meaningless (near-uniform logits flip top-1 on rounding noise), so the
    # matrix builds the plain recipes (the int8 guard's opt-out): a cell proves that int8 builds and runs.
    quantize = None if parsed.quantize is None else f"{parsed.quantize}-plain"
    try:
        pipe = load_pipeline(
            task, folder, optimize=parsed.optimize, quantize=quantize, cache_dir=cache_dir,
            calibration_dataset=list(calibration_texts) if parsed.quantize == "static" else None,
            calibration_samples=CALIBRATION_SAMPLES,
        )
    except UnsupportedArchitectureError as e:
        return Cell(family, task, variant, "refused", detail=_short(e))
    except OnnxPipelinesError as e:
        return Cell(family, task, variant, "fails", detail=_short(e))
    fused = count_fused_ops(pipe.artifact.model_path)
    try:
        answer_diff = compare_with_torch(task, pipe, folder)
    except Exception as e:  # a pipeline that builds but cannot answer is a failed cell, with its reason
        return Cell(family, task, variant, "fails", fused, detail=f"pipeline: {type(e).__name__}: {_short(e)}")
    validation = pipe.artifact.manifest.get("validation", {}).get("max_abs_diff")
    cell = Cell(family, task, variant, "works", fused)
    if not cell.exact:
        return cell
    diff = max(answer_diff, float(validation) if validation is not None else 0.0)
    tolerance = cell.tolerance or EXACT_ATOL
    if not diff <= tolerance:
        return Cell(family, task, variant, "fails", fused, diff, f"differs from PyTorch by {diff:.2g}")
    return Cell(family, task, variant, "works", fused, diff)


def _short(error: BaseException) -> str:
    return str(error).splitlines()[0][:300]


def compare_with_torch(task: str, pipe: Any, folder: Path) -> float:
    """The largest difference between ``pipe``'s answers and PyTorch's on the matrix inputs.

    Scores for classification, token classification and question answering (answers must be the same
    spans and labels, else ``inf``), ``1 - cosine`` for sentence embeddings.
    """
    if task == "sentence-embeddings":
        from sentence_transformers import SentenceTransformer, models  # type: ignore[attr-defined]

        reference = SentenceTransformer(modules=[models.Transformer(str(folder)),
                                                 models.Pooling(int(pipe.model.config.hidden_size), "mean")],
                                        device="cpu")
        expected = reference.encode(list(TEXTS), convert_to_numpy=True)
        got = np.asarray(pipe(list(TEXTS)))
        cosine = (expected * got).sum(1) / (np.linalg.norm(expected, axis=1) * np.linalg.norm(got, axis=1))
        return float(1.0 - cosine.min())
    torch_pipe = _torch_pipeline(task, folder)
    if task == "text-classification":
        inputs: list[Any] = [*TEXTS, *({"text": a, "text_pair": b} for a, b in PAIRS)]
        ours = pipe(inputs, top_k=None)
        theirs = torch_pipe(inputs, top_k=None)
        return max(_score_diff(_by_label(a), _by_label(b)) for a, b in zip(ours, theirs, strict=True))
    if task == "token-classification":
        ours = pipe(list(TEXTS))
        theirs = torch_pipe(list(TEXTS))
        diffs = [0.0]
        for a, b in zip(ours, theirs, strict=True):
            if [(e["entity"], e["start"], e["end"]) for e in a] != [(e["entity"], e["start"], e["end"]) for e in b]:
                return math.inf
            diffs += [abs(float(x["score"]) - float(y["score"])) for x, y in zip(a, b, strict=True)]
        return max(diffs)
    if task == "question-answering":
        questions = [{"question": q, "context": c} for q, c in QUESTIONS]
        ours = pipe(questions)
        theirs = [torch_pipe(question=q["question"], context=q["context"]) for q in questions]
        diffs = [0.0]
        for a, b in zip(ours, theirs, strict=True):
            if (a["start"], a["end"]) != (b["start"], b["end"]):
                return math.inf
            diffs.append(abs(float(a["score"]) - float(b["score"])))
        return max(diffs)
    raise ValueError(f"The support matrix has no comparison for task {task!r}.")


def _torch_pipeline(task: str, folder: Path) -> Any:
    import transformers

    from onnx_pipelines.tasks import get_task

    model = get_task(task).load_torch_class().from_pretrained(folder).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    return transformers.pipeline(task, model=model, tokenizer=tokenizer, device="cpu")  # type: ignore[call-overload]


def _by_label(scores: Any) -> dict[str, float]:
    return {s["label"]: float(s["score"]) for s in scores}


def _score_diff(a: dict[str, float], b: dict[str, float]) -> float:
    if set(a) != set(b):
        return math.inf
    return max(abs(a[k] - b[k]) for k in a)


# ---------------------------------------------------------------------------------------------- rendering

TABLE_START = "<!-- support-matrix:start -->"
TABLE_END = "<!-- support-matrix:end -->"


def format_cell(cell: Cell) -> str:
    """``works 6.6e-07``, ``works (int8: runs)``, ``refused: ...`` or ``fails: ...`` (one table cell)."""
    if cell.status != "works":
        return f"{cell.status}: {cell.detail}".replace("|", "/")
    if cell.max_diff is None:
        return "works (runs)"
    return f"works {cell.max_diff:.1e}"


def parse_cell(text: str) -> tuple[str, float | None, str]:
    """``(status, max_diff, detail)`` of a :func:`format_cell` string."""
    text = text.strip()
    if text.startswith("works"):
        rest = text.removeprefix("works").strip()
        return "works", (float(rest) if rest and rest != "(runs)" else None), ""
    status, _, detail = text.partition(":")
    return status, None, detail.strip()


def render_matrix(cells: Sequence[Cell]) -> str:
    """The markdown tables of docs/architectures.md (between :data:`TABLE_START` and :data:`TABLE_END`)."""
    by_key = {c.key: c for c in cells}
    lines = [TABLE_START, "", "| family | task | " + " | ".join(VARIANTS) + " |",
             "|---|---|" + "---|" * len(VARIANTS)]
    for family, spec in FAMILIES.items():
        for task in spec.heads:
            row = [by_key[(family, task, v)] if (family, task, v) in by_key else None for v in VARIANTS]
            if all(c is None for c in row):
                continue
            lines.append(f"| {family} | {task} | " + " | ".join(format_cell(c) if c else "-" for c in row) + " |")
    lines += ["", "Fused operators in the built graph (text-classification head; the other heads share the "
              "encoder and fuse the same):", "",
              "| family | " + " | ".join(v for v in VARIANTS if v != "fp32") + " |",
              "|---|" + "---|" * (len(VARIANTS) - 1)]
    for family in FAMILIES:
        row = [by_key.get((family, "text-classification", v)) for v in VARIANTS if v != "fp32"]
        if all(c is None for c in row):
            continue
        lines.append(f"| {family} | " + " | ".join(
            (summarize(c.fused) if c.status == "works" else c.status) if c else "-" for c in row) + " |")
    lines += ["", TABLE_END]
    return "\n".join(lines)


def parse_matrix(markdown: str) -> tuple[dict[tuple[str, str, str], str], dict[tuple[str, str], str]]:
    """Read the two tables back: ``{(family, task, variant): cell text}`` and ``{(family, variant): fused}``."""
    section = markdown.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0]
    cells: dict[tuple[str, str, str], str] = {}
    fused: dict[tuple[str, str], str] = {}
    fused_variants = [v for v in VARIANTS if v != "fp32"]
    for line in section.splitlines():
        parts = [p.strip() for p in line.strip().strip("|").split("|")]
        if not line.startswith("|") or parts[0] in ("family", "") or set(parts[0]) <= {"-"}:
            continue
        if len(parts) == 2 + len(VARIANTS) and parts[1] in HEADS:
            for variant, text in zip(VARIANTS, parts[2:], strict=True):
                if text != "-":
                    cells[(parts[0], parts[1], variant)] = text
        elif len(parts) == 1 + len(fused_variants):
            for variant, text in zip(fused_variants, parts[1:], strict=True):
                if text != "-":
                    fused[(parts[0], variant)] = text
    return cells, fused
