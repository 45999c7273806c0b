"""Load test of ``onnx-pipelines serve`` on 127.0.0.1: batching vs. no batching, and overload.

For each server mode (dynamic batching, then ``--no-batching``) a server process is started on a
free loopback port, warmed up, and driven by 1, 8 and 64 concurrent clients (each level bounded by
``--requests`` and ``--max-seconds``); throughput, p50/p99 latency and the server's mean batch size
are recorded. Then a server with a short queue is flooded to show overload behaviour: only 200 and
429 answers. Results go to ``OUT/load_test.json`` and ``OUT/load_test.md``.

Example::

    python benchmarks/load_test.py --model ../shared/models/bbc-news-minilm --task text-classification \\
        --optimize O2 --quantize dynamic --out bench-results/serving

The servers load the ONNX pipeline with ``load_pipeline``; the first one exports the model into the
artifact cache (``--cache-dir``) and the others reuse it. ``--backend pytorch`` measures the plain
PyTorch model instead, as a baseline.

Client and server share the machine: on a 2-core box the client takes CPU from the model, so treat
absolute numbers as a floor and compare rows measured in the same run. The 1-minute load average is
sampled during the run and reported with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
ENDPOINTS = {
    "text-classification": "/predict",
    "sentence-embeddings": "/embed",
    "token-classification": "/ner",
    "text-ranking": "/rerank",
}
#: The requests of a reranking load test: a headline and its candidate passages (``--data`` for text-ranking).
RERANK_DATA = REPO.parent / "shared" / "data" / "bbc-rerank" / "test.jsonl"


@dataclass
class LevelResult:
    """One server mode under one number of concurrent clients."""

    server: str
    clients: int
    requests: int
    ok: int
    status_counts: dict[str, int]
    seconds: float
    throughput_rps: float
    p50_ms: float
    p99_ms: float
    mean_batch: float | None = None
    notes: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Server:
    """``python -m onnx_pipelines.serving`` in its own process, stopped with SIGTERM."""

    def __init__(self, args: argparse.Namespace, *options: str, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "onnx_pipelines.serving", args.model, "--task", args.task]
        command += ["--port", str(self.port), "--log-level", "warning", "--backend", args.backend, *options]
        command += [
            flag
            for name in ("optimize", "quantize", "cache_dir")
            if getattr(args, name)
            for flag in (f"--{name.replace('_', '-')}", str(getattr(args, name)))
        ]
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {self.log}")
            try:
                if httpx.get(self.url + "/health", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"server not ready after {timeout_s} s; see {self.log}")

    def stop(self) -> int:
        """SIGTERM, then the exit code (0 after a graceful shutdown)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(10)


class LoadSampler:
    """Samples the 1-minute load average every ``interval_s`` seconds in a daemon thread."""

    def __init__(self, interval_s: float = 5.0) -> None:
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True)
        self._thread.start()

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> dict[str, float]:
        """Stop sampling; return the min, mean and max of the samples."""
        self._stop.set()
        self._thread.join()
        return {
            "min": round(min(self.samples), 2),
            "mean": round(statistics.fmean(self.samples), 2),
            "max": round(max(self.samples), 2),
        }


def _batch_counters(metrics_text: str) -> tuple[float, float]:
    total = count = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("onnx_pipelines_batch_size_sum "):
            total = float(line.split()[1])
        elif line.startswith("onnx_pipelines_batch_size_count "):
            count = float(line.split()[1])
    return total, count


def _summary(r: LevelResult) -> str:
    latency = f"p50 {r.p50_ms} ms  p99 {r.p99_ms} ms"
    return f"{r.throughput_rps:8.1f} req/s  {latency}  batch {r.mean_batch}  {r.status_counts}"


def _result(
    server: str, clients: int, measured: tuple[list[float], dict[str, int], float, float | None]
) -> LevelResult:
    latencies, statuses, elapsed, mean_batch = measured
    ok = statuses.get("200", 0)
    return LevelResult(
        server=server,
        clients=clients,
        requests=sum(statuses.values()),
        ok=ok,
        status_counts=statuses,
        seconds=round(elapsed, 3),
        throughput_rps=round(ok / elapsed, 2),
        p50_ms=round(1000 * statistics.median(latencies), 1) if latencies else float("nan"),
        p99_ms=round(1000 * _percentile(latencies, 0.99), 1),
        mean_batch=None if mean_batch is None else round(mean_batch, 2),
    )


async def drive(
    url: str, path: str, bodies: list[dict[str, Any]], clients: int, max_requests: int, max_seconds: float
) -> tuple[list[float], dict[str, int], float, float | None]:
    """Send up to ``max_requests`` requests from ``clients`` concurrent loops; stop at ``max_seconds``.

    Returns:
        Latencies of the 200 answers (seconds), counts by status, elapsed seconds, mean batch size.
    """
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    sent = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        before = _batch_counters((await client.get("/metrics")).text)
        started = time.perf_counter()
        deadline = started + max_seconds

        async def loop() -> None:
            nonlocal sent
            while sent < max_requests and time.perf_counter() < deadline:
                body = bodies[sent % len(bodies)]
                sent += 1
                t0 = time.perf_counter()
                try:
                    response = await client.post(path, json=body)
                    status = str(response.status_code)
                except httpx.HTTPError as e:
                    status = type(e).__name__
                statuses[status] = statuses.get(status, 0) + 1
                if status == "200":
                    latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(loop() for _ in range(clients)))
        elapsed = time.perf_counter() - started
        after = _batch_counters((await client.get("/metrics")).text)
    batches = after[1] - before[1]
    mean_batch = (after[0] - before[0]) / batches if batches else None
    return latencies, statuses, elapsed, mean_batch


def run_levels(
    args: argparse.Namespace, server_name: str, options: list[str], bodies: list[dict[str, Any]]
) -> list[LevelResult]:
    server = Server(args, *options, log=args.out / f"server-{server_name}.log")
    results = []
    try:
        server.wait_ready()
        args.variant = httpx.get(server.url + "/info", timeout=10).json()["variant"]
        path = ENDPOINTS[args.task]
        asyncio.run(drive(server.url, path, bodies, 4, 16, 30))  # warm-up, not recorded
        for clients in args.concurrency:
            measured = asyncio.run(drive(server.url, path, bodies, clients, args.requests, args.max_seconds))
            result = _result(server_name, clients, measured)
            print(f"  {server_name:>11} x{clients:<3}", _summary(result), flush=True)
            results.append(result)
    finally:
        code = server.stop()
        if results:
            results[-1].notes.append(f"server exit code after SIGTERM: {code}")
    return results


def run_overload(args: argparse.Namespace, bodies: list[dict[str, Any]]) -> LevelResult:
    name = f"max-queue {args.overload_queue}"
    server = Server(args, "--max-queue", str(args.overload_queue), log=args.out / "server-overload.log")
    try:
        server.wait_ready()
        path = ENDPOINTS[args.task]
        measured = asyncio.run(
            drive(server.url, path, bodies, args.overload_clients, args.overload_requests, args.max_seconds)
        )
    finally:
        code = server.stop()
    result = _result(name, args.overload_clients, measured)
    result.notes.append(f"server exit code after SIGTERM: {code}")
    statuses = result.status_counts
    others = {k: v for k, v in statuses.items() if k not in ("200", "429")}
    print(f"  overload: {statuses} (other than 200/429: {others or 'none'})", flush=True)
    return result


def _md_row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def to_markdown(levels: list[LevelResult], overload: LevelResult, meta: dict[str, Any]) -> str:
    load = meta["load_during"]
    lines = [
        f"# Serving load test: {meta['model']} ({meta['task']}, {meta['backend']}: {meta['variant']})",
        "",
        f"{meta['cpus']} CPUs; 1-minute load average {load['min']} to {load['max']} (mean {load['mean']}) "
        f"during the run, {meta['load_before']} before; "
        (f"inputs: one BBC headline and {meta.get('passages')} candidate passages of at most {meta['words']} words "
         "per request" if meta["task"] == "text-ranking" else
         f"inputs: {meta['words']} words of BBC News test articles, one text per request."),
        "",
        "| server | clients | requests | ok | req/s | p50 ms | p99 ms | mean batch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in levels:
        batch = r.mean_batch if r.mean_batch is not None else "-"
        lines.append(
            _md_row([r.server, r.clients, r.requests, r.ok, r.throughput_rps, r.p50_ms, r.p99_ms, batch])
        )
    counts = overload.status_counts
    other = sum(v for k, v in counts.items() if k not in ("200", "429"))
    lines += [
        "",
        "## Overload",
        "",
        "| server | clients | requests | 200 | 429 | other | p50 ms of 200s |",
        "|---|---:|---:|---:|---:|---:|---:|",
        _md_row(
            [overload.server, overload.clients, overload.requests, counts.get("200", 0), counts.get("429", 0)]
            + [other, overload.p50_ms]
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=str(REPO.parent / "shared" / "models" / "bbc-news-minilm"))
    parser.add_argument("--task", default="text-classification", choices=sorted(ENDPOINTS))
    parser.add_argument("--backend", default="onnx", choices=("onnx", "pytorch"))
    parser.add_argument("--optimize", help="ONNX optimization level, e.g. O2")
    parser.add_argument("--quantize", help="ONNX quantization, e.g. dynamic")
    parser.add_argument("--cache-dir", type=Path, help="artifact cache the servers share (default: the library's)")
    parser.add_argument("--data", help="JSONL requests: bbc-news test (text) or, for text-ranking, bbc-rerank test")
    parser.add_argument("--passages", type=int, default=10, help="text-ranking: passages per request (default: 10)")
    parser.add_argument(
        "--words", type=int, default=48, help="words of each article per request (default: 48)"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--requests", type=int, default=256, help="most requests per level (default: 256)")
    parser.add_argument("--max-seconds", type=float, default=30, help="longest time per level (default: 30)")
    parser.add_argument("--overload-queue", type=int, default=8)
    parser.add_argument("--overload-clients", type=int, default=128)
    parser.add_argument("--overload-requests", type=int, default=512)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "serving")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    bodies: list[dict[str, Any]]
    if args.task == "text-ranking":  # one query and --passages candidates per request, each cut to --words
        rows = [json.loads(line) for line in Path(args.data or RERANK_DATA).read_text().splitlines() if line.strip()]
        bodies = [{"query": row["query"], "truncate": True,
                   "texts": [" ".join(t.split()[: args.words]) for t in row["texts"][: args.passages]]}
                  for row in rows]
    else:
        texts = [
            " ".join(json.loads(line)["text"].split()[: args.words])
            for line in Path(args.data or REPO.parent / "shared" / "data" / "bbc-news" / "test.jsonl")
            .read_text().splitlines()
        ]
        bodies = [{"inputs": text, "truncate": True} for text in texts]
    meta: dict[str, Any] = {
        "model": args.model,
        "task": args.task,
        "backend": args.backend,
        "words": args.words,
        "passages": args.passages,
        "cpus": os.cpu_count(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    sampler = LoadSampler()
    levels: list[LevelResult] = []
    for name, options in (("batching", []), ("no-batching", ["--no-batching"])):
        print(f"{name}:", flush=True)
        levels += run_levels(args, name, options, bodies)
    print("overload:", flush=True)
    overload = run_overload(args, bodies)
    meta["load_during"] = sampler.stop()
    meta["load_after"] = [round(x, 2) for x in os.getloadavg()]
    meta["variant"] = getattr(args, "variant", "unknown")  # what the servers' GET /info reported

    report = {"meta": meta, "levels": [asdict(r) for r in levels], "overload": asdict(overload)}
    (args.out / "load_test.json").write_text(json.dumps(report, indent=2))
    markdown = to_markdown(levels, overload, meta)
    (args.out / "load_test.md").write_text(markdown)
    print("\n" + markdown)
    bad = {k: v for k, v in overload.status_counts.items() if k not in ("200", "429")}
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
