"""Reproduce docs/performance.md: bbc-news-minilm on the BBC News test set, every row side by side.

Usage (from the repository root, with ../shared beside it):

    python benchmarks/run_bbc.py                       # full run (~30 min on 2 idle cores), into bench-results/bbc
    python benchmarks/run_bbc.py --quick               # smoke run (a few minutes)
    python benchmarks/run_bbc.py --output /tmp/bbc --rounds 3   # any `onnx-pipelines bench` flag passes through

It calls ``onnx-pipelines bench`` with the BBC defaults: test set for throughput (real lengths, truncated
at 128 and 512 tokens), train set for static-int8 calibration, and every variant of the issue.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MODEL = SHARED / "models" / "bbc-news-minilm"
DATA = SHARED / "data" / "bbc-news"

DEFAULT_ARGS = [
    str(MODEL),
    "--task", "text-classification",
    "--dataset", str(DATA / "test.jsonl"),
    "--calibration-data", str(DATA / "train.jsonl"),
    "--variants", "fp32,O2,O3,int8-dynamic,O2+int8-dynamic,O3+int8-dynamic,int8-static",
    "--max-lengths", "128,512",
    "--dataset-rounds", "2",
    "--output", str(ROOT / "bench-results" / "bbc"),
]


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    from onnx_pipelines.cli import main as cli_main

    if not MODEL.is_dir():
        print(f"The shared model folder {MODEL} is missing; check out ../shared beside the repository.",
              file=sys.stderr)
        return 2
    return cli_main(["bench", *DEFAULT_ARGS, *argv])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
