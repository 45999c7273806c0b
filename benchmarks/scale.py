"""Rows/s of predict-dataset: the local engine vs Ray actor pools, each run in its own process.

Candidates (default): ``local`` with 2 ONNX Runtime threads, ``ray-1x2`` (one actor, 2 CPUs) and ``ray-2x1``
(two actors, 1 CPU each), on the BBC News corpus (train + test, 2,225 articles) and on a 100,000-row set
made by repeating it. Each candidate is one ``onnx-pipelines predict-dataset`` process (its own fresh
local Ray for the Ray ones); its peak RSS, and the anonymous part of it (``RssAnon``: heap and arrays, what a
leak grows; the rest is file-backed, e.g. the memory-mapped Arrow input), is sampled every 0.2 s over the whole
process tree (driver, Ray workers and raylet included), and its throughput read from the manifest: wall
rows/s, and rows per worker-second while predicting (which, with the wall time, gives the start-up and driver
overhead).

    nice -n -10 python benchmarks/scale.py --sets bbc --max-length 64
    nice -n -10 python benchmarks/scale.py --sets 100k --candidates local --max-length 16

Writes ``--work/results.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CANDIDATES = {
    "local": ["--engine", "local", "--cpus-per-worker", "2"],
    "ray-1x2": ["--engine", "ray", "--workers", "1", "--cpus-per-worker", "2"],
    "ray-2x1": ["--engine", "ray", "--workers", "2", "--cpus-per-worker", "1"],
}


def make_sets(work: Path, names: list[str]) -> dict[str, Path]:
    """bbc: train + test (2,225 rows); 100k: the same rows repeated to 100,000 (ids made unique)."""
    rows = []
    for split in ("train", "test"):
        rows += [json.loads(line) for line in (SHARED / "data" / "bbc-news" / f"{split}.jsonl").read_text().splitlines()
                 if line.strip()]
    sets = {}
    for name, total in (("bbc", len(rows)), ("100k", 100_000)):
        if name not in names:
            continue
        path = work / f"{name}.jsonl"
        if not path.is_file():
            with path.open("w") as f:
                for i in range(total):
                    row = rows[i % len(rows)]
                    f.write(json.dumps({"id": f"{i}:{row['id']}", "text": row["text"]}) + "\n")
        sets[name] = path
    return sets


def run_candidate(name: str, data: Path, args: argparse.Namespace) -> dict:
    out = args.work / f"out-{data.stem}-{name}"
    command = [sys.executable, "-m", "onnx_pipelines.cli", "predict-dataset", str(args.model), "--task",
               "text-classification", "--dataset", str(data), "--output", str(out), "--overwrite", "--id-column", "id",
               "--max-length", str(args.max_length), "--shard-rows", str(args.shard_rows), "--cache-dir",
               str(args.work / "cache"), "--quiet", *args.variant, *CANDIDATES[name]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    started = time.perf_counter()
    process = psutil.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, peak_anon, samples = 0, 0, []
    while process.poll() is None:
        rss, anon = _tree_rss(process)
        peak, peak_anon = max(peak, rss), max(peak_anon, anon)
        samples.append((round(time.perf_counter() - started, 1), rss, anon))
        time.sleep(0.2)
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{name} on {data.name} failed ({process.returncode}):\n{stderr[-3000:]}")
    last = json.loads((out / "manifest.json").read_text())["last_run"]
    wall = round(time.perf_counter() - started, 1)
    return {"candidate": name, "set": data.stem, "rows": last["rows"], "wall_s": wall,
            "job_s": last["seconds"], "rows_per_s": last["rows_per_second"],
            "rows_per_worker_s": last["rows_per_worker_second"], "worker_busy_s": last["worker_busy_seconds"],
            "peak_rss_mb": round(peak / 2**20), "peak_anon_mb": round(peak_anon / 2**20),
            "rss_samples": samples[:: max(1, len(samples) // 200)],
            "stdout": stdout.strip()}


def _tree_rss(process: psutil.Process) -> tuple[int, int]:
    """RSS of the process tree, and its anonymous part (heap, arrays: what a leak grows). The rest is file-backed
    pages: the memory-mapped Arrow input and the loaded libraries, which the kernel can drop at any time."""
    total = anon = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for member in members:
        try:
            total += member.memory_info().rss
            anon += _rss_anon(member.pid)
        except (psutil.Error, OSError):
            continue
    return total, anon


def _rss_anon(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=SHARED / "models" / "bbc-news-minilm")
    parser.add_argument("--work", type=Path, default=Path("/tmp/onnx-pipelines-scale-bench"))
    parser.add_argument("--sets", default="bbc", help="comma-separated: bbc, 100k (default: bbc)")
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help=f"comma-separated: {', '.join(CANDIDATES)}")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--shard-rows", type=int, default=1000)
    parser.add_argument("--variant", nargs="*", default=["--optimize", "O2", "--quantize", "dynamic"],
                        help="variant flags passed to predict-dataset (default: --optimize O2 --quantize dynamic)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = []
    for set_name, data in make_sets(args.work, args.sets.split(",")).items():
        for name in args.candidates.split(","):
            print(f"[{time.strftime('%H:%M:%S')}] {name} on {set_name} (load {os.getloadavg()[0]:.1f}) ...",
                  file=sys.stderr, flush=True)
            results.append(run_candidate(name, data, args))
            results[-1]["load_before"] = round(os.getloadavg()[0], 1)
            (args.work / "results.json").write_text(json.dumps(results, indent=2))
    print("| set | candidate | rows | job s | rows/s | rows per worker-s | peak RSS MB | peak anonymous RSS MB |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['set']} | {r['candidate']} | {r['rows']} | {r['job_s']} | {r['rows_per_s']} | "
              f"{r['rows_per_worker_s']} | {r['peak_rss_mb']} | {r['peak_anon_mb']} |")


if __name__ == "__main__":
    main()
