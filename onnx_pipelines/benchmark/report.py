"""Turn raw benchmark timings into statistics, ratios, and JSON / Markdown / PNG reports.

Ratios are ``baseline time / candidate time`` (``2.0x`` = twice as fast), always from the same run. Dataset
ratios compare a candidate's length-aware run with the baseline's default batching: what a user of that
recipe gets. Every raw number is in the JSON, so other comparisons can be made from it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from onnx_pipelines.benchmark.candidates import DOCS_INT8, PYTORCH

BASELINES: tuple[str, ...] = (PYTORCH, DOCS_INT8)


def _stats(rounds: list[list[float]]) -> dict[str, Any]:
    flat = [x for r in rounds for x in r]
    medians = [float(np.median(r)) for r in rounds if r]
    p50 = float(np.percentile(flat, 50)) if flat else math.nan
    return {
        "p50_ms": p50,
        "p90_ms": float(np.percentile(flat, 90)) if flat else math.nan,
        "p99_ms": float(np.percentile(flat, 99)) if flat else math.nan,
        "n": len(flat),
        "round_medians_ms": medians,
        "round_spread_pct": 100 * (max(medians) - min(medians)) / p50 if medians and p50 else math.nan,
    }


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """Add statistics, accuracy, agreement and ratios to the raw results (a new dict)."""
    gold = raw.get("gold")
    rows = []
    for cand in raw["candidates"]:
        latency = [{"seq_len": e["seq_len"], "batch_size": e["batch_size"], **_stats(e["rounds_ms"])}
                   for e in cand["latency"]]
        model_only = {e["seq_len"]: _stats(e["rounds_ms"])["p50_ms"] for e in cand["model_only"]}
        overhead = _overhead(cand)
        datasets = []
        for e in cand["dataset"]:
            seconds = float(np.median(e["seconds"]))
            entry = {"max_length": e["max_length"], "mode": e["mode"], "seconds": seconds,
                     "seconds_rounds": e["seconds"], "items_per_s": len(e["labels"]) / seconds}
            if gold:
                entry["accuracy"] = float(np.mean([a == b for a, b in zip(e["labels"], gold, strict=True)]))
            datasets.append(entry)
        rows.append({**{k: v for k, v in cand.items() if k not in ("latency", "model_only", "dataset")},
                     "latency": latency, "model_only_p50_ms": model_only, "overhead_pct": overhead,
                     "dataset": datasets, "_labels": {(e["max_length"], e["mode"]): e["labels"]
                                                       for e in cand["dataset"]}})
    by_name = {r["name"]: r for r in rows}
    for row in rows:
        row["ratios"] = {base: _ratios(row, by_name[base]) for base in BASELINES if base in by_name}
        if PYTORCH in by_name:
            for entry in row["dataset"]:
                ref = by_name[PYTORCH]["_labels"].get((entry["max_length"], entry["mode"]))
                mine = row["_labels"][(entry["max_length"], entry["mode"])]
                if ref and any(label is not None for label in ref):  # feature extraction has no labels
                    entry["agreement_with_pytorch"] = float(np.mean([a == b for a, b in zip(mine, ref, strict=True)]))
    for row in rows:
        del row["_labels"]
    return {**{k: v for k, v in raw.items() if k not in ("candidates", "gold")}, "candidates": rows}


def _overhead(cand: dict[str, Any]) -> dict[int, float]:
    """Pipeline overhead at batch 1: median of (pipeline call - the model call right after it), % of the call."""
    pipe = {e["seq_len"]: e["rounds_ms"] for e in cand["latency"] if e["batch_size"] == 1}
    out = {}
    for e in cand["model_only"]:
        calls = [x for r in pipe.get(e["seq_len"], []) for x in r]
        models = [x for r in e["rounds_ms"] for x in r]
        if calls and len(calls) == len(models):
            diffs = np.subtract(calls, models)
            out[e["seq_len"]] = float(100 * np.median(diffs) / np.median(calls))
    return out


def _ratios(row: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    mine = {(e["seq_len"], e["batch_size"]): e["p50_ms"] for e in row["latency"]}
    theirs = {(e["seq_len"], e["batch_size"]): e["p50_ms"] for e in base["latency"]}
    latency = {f"{n}x{b}": theirs[(n, b)] / t for (n, b), t in mine.items() if (n, b) in theirs and t > 0}
    dataset = {}
    base_default = {e["max_length"]: e["seconds"] for e in base["dataset"] if e["mode"] == "default"}
    for e in row["dataset"]:
        if e["max_length"] in base_default:
            dataset[f"{e['max_length']}/{e['mode']}"] = base_default[e["max_length"]] / e["seconds"]
    return {"latency": latency, "dataset": dataset}


def _fmt(value: Any, digits: int = 1, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}{suffix}"


def to_markdown(summary: dict[str, Any]) -> str:
    """The report as Markdown tables."""
    rows = summary["candidates"]
    settings = summary["settings"]
    machine = summary["machine"]
    b1_len = settings["batch_seq_len"]
    lines = [
        f"# Benchmark: {Path(summary['model']).name} ({summary['task']})",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, int8 ISA {machine['isa']}; "
        + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()) + ".",
        f"Load average before/after: {machine['load_average_before']} / {machine['load_average_after']}. "
        f"Run started {summary['started']}, took {summary['duration_s'] / 60:.1f} min. Each candidate ran in its "
        f"own process; candidates alternated over {settings['rounds']} latency rounds and "
        f"{settings['dataset_rounds']} dataset rounds (medians reported).",
        "",
        "## Summary",
        "",
    ]
    max_len = max(settings["max_lengths"])
    head = (f"| candidate | size MB | build s | load s | peak RSS MB | batch 1 @ {b1_len} tok p50 ms | x PyTorch | "
            f"x docs int8 | dataset @ {max_len} s (length-aware) | x PyTorch | x docs int8 | accuracy | "
            "agreement |")
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lat = _latency(r, b1_len, 1)
        ds = _dataset(r, max_len, "length-aware")
        lines.append(
            f"| {r['name']} | {_fmt(r['size_mb'])} | {_fmt(r['build_s'])} | {_fmt(r['load_s'], 2)} | "
            f"{_fmt(r['peak_rss_mb'], 0)} | {_fmt(lat.get('p50_ms'), 2)} | "
            f"{_ratio(r, PYTORCH, 'latency', f'{b1_len}x1')} | {_ratio(r, DOCS_INT8, 'latency', f'{b1_len}x1')} | "
            f"{_fmt(ds.get('seconds'), 2)} | {_ratio(r, PYTORCH, 'dataset', f'{max_len}/length-aware')} | "
            f"{_ratio(r, DOCS_INT8, 'dataset', f'{max_len}/length-aware')} | "
            f"{_fmt(_pct(ds.get('accuracy')), 2, '%')} | {_fmt(_pct(ds.get('agreement_with_pytorch')), 2, '%')} |"
        )
    lines += ["", "Ratios: baseline time / candidate time, same run. Dataset ratios compare the candidate's "
              "length-aware run with the baseline's default batching (what that recipe's user gets).", ""]
    lines += _latency_table(rows, settings)
    lines += _batch_table(rows, settings)
    lines += _dataset_table(rows, settings, summary["dataset"])
    lines += _overhead_table(rows, settings)
    lines += ["## Builds", "", "| candidate | how it is made | build note |", "|---|---|---|"]
    lines += [f"| {r['name']} | {r['description']} | {r['build_note']} |" for r in rows]
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _latency(row: dict[str, Any], seq_len: int, batch: int) -> dict[str, Any]:
    return next((e for e in row["latency"] if e["seq_len"] == seq_len and e["batch_size"] == batch), {})


def _dataset(row: dict[str, Any], max_length: int, mode: str) -> dict[str, Any]:
    return next((e for e in row["dataset"] if e["max_length"] == max_length and e["mode"] == mode), {})


def _ratio(row: dict[str, Any], base: str, kind: str, key: str) -> str:
    value = row.get("ratios", {}).get(base, {}).get(kind, {}).get(key)
    return "-" if value is None else f"{value:.2f}x"


def _latency_table(rows: list[dict[str, Any]], settings: dict[str, Any]) -> list[str]:
    lens = settings["seq_lens"]
    out = ["## Batch-1 latency (ms, p50 / p90 / p99)", "",
           "| candidate | " + " | ".join(f"{n} tokens" for n in lens) + " | round spread @ max len |",
           "|---|" + "---|" * (len(lens) + 1)]
    for r in rows:
        cells = []
        for n in lens:
            e = _latency(r, n, 1)
            cells.append(f"{_fmt(e.get('p50_ms'), 2)} / {_fmt(e.get('p90_ms'), 2)} / {_fmt(e.get('p99_ms'), 2)}")
        spread = _latency(r, max(lens), 1).get("round_spread_pct")
        out.append(f"| {r['name']} | " + " | ".join(cells) + f" | {_fmt(spread, 0, '%')} |")
    return [*out, ""]


def _batch_table(rows: list[dict[str, Any]], settings: dict[str, Any]) -> list[str]:
    n, sizes = settings["batch_seq_len"], settings["batch_sizes"]
    out = [f"## Batch sweep at {n} tokens (ms per call p50, ms per item in brackets)", "",
           "| candidate | " + " | ".join(f"batch {b}" for b in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for r in rows:
        cells = []
        for b in sizes:
            p50 = _latency(r, n, b).get("p50_ms")
            cells.append(f"{_fmt(p50, 1)} ({_fmt(p50 / b if p50 else None, 2)})")
        out.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return [*out, ""]


def _dataset_table(rows: list[dict[str, Any]], settings: dict[str, Any], dataset: dict[str, Any]) -> list[str]:
    out = [f"## Dataset throughput: {dataset['name']} ({dataset['items']} texts, real lengths, batch "
           f"{settings['dataset_batch_size']}, length-aware budget {settings['max_tokens']} tokens)", "",
           "| candidate | max length | default batching s | length-aware s | texts/s (length-aware) | "
           "accuracy | agreement with PyTorch |", "|---|---|---|---|---|---|---|"]
    for max_len in settings["max_lengths"]:
        for r in rows:
            d, la = _dataset(r, max_len, "default"), _dataset(r, max_len, "length-aware")
            out.append(f"| {r['name']} | {max_len} | {_fmt(d.get('seconds'), 2)} | {_fmt(la.get('seconds'), 2)} | "
                       f"{_fmt(la.get('items_per_s'), 1)} | {_fmt(_pct(la.get('accuracy')), 2, '%')} | "
                       f"{_fmt(_pct(la.get('agreement_with_pytorch')), 2, '%')} |")
    return [*out, ""]


def _overhead_table(rows: list[dict[str, Any]], settings: dict[str, Any]) -> list[str]:
    lens = settings["seq_lens"]
    out = ["## Pipeline overhead at batch 1 (tokenizing + pre/post-processing, % of the call; model-only p50 ms "
           "in brackets)", "", "| candidate | " + " | ".join(f"{n} tokens" for n in lens) + " |",
           "|---|" + "---|" * len(lens)]
    for r in rows:
        cells = [f"{_fmt(r['overhead_pct'].get(n), 1, '%')} ({_fmt(r['model_only_p50_ms'].get(n), 2)})" for n in lens]
        out.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return [*out, ""]


def plot(summary: dict[str, Any], path: Path) -> Path:
    """Write a PNG: batch-1 latency by length, the batch sweep, and dataset time by candidate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, settings = summary["candidates"], summary["settings"]
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
    for r in rows:
        lens = settings["seq_lens"]
        axes[0].plot(lens, [_latency(r, n, 1).get("p50_ms", math.nan) for n in lens], marker="o", label=r["name"])
        sizes = settings["batch_sizes"]
        per_item = [_latency(r, settings["batch_seq_len"], b).get("p50_ms", math.nan) / b for b in sizes]
        axes[1].plot(sizes, per_item, marker="o", label=r["name"])
    axes[0].set(title="Batch-1 latency (p50)", xlabel="tokens", ylabel="ms per call", yscale="log")
    axes[1].set(title=f"Batch sweep at {settings['batch_seq_len']} tokens", xlabel="batch size",
                ylabel="ms per item", yscale="log")
    max_len = max(settings["max_lengths"])
    names = [r["name"] for r in rows]
    x = np.arange(len(rows))
    for offset, mode in ((-0.2, "default"), (0.2, "length-aware")):
        axes[2].bar(x + offset, [_dataset(r, max_len, mode).get("seconds", math.nan) for r in rows], 0.4, label=mode)
    axes[2].set_xticks(x, names, rotation=40, ha="right")
    axes[2].set(title=f"{summary['dataset']['name']} at max length {max_len}", ylabel="seconds (lower is better)")
    axes[2].legend()
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_reports(raw: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.json`` (raw + summary), ``results.md`` and ``results.png`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(raw)
    paths = {"json": out / "results.json", "markdown": out / "results.md", "png": out / "results.png"}
    paths["json"].write_text(json.dumps({"summary": summary, "raw": raw}, indent=1, default=_json_default))
    paths["markdown"].write_text(to_markdown(summary))
    plot(summary, paths["png"])
    return paths


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return str(value)


@dataclass(frozen=True)
class BenchmarkResult:
    """A benchmark run's summary (:func:`summarize` of :func:`~onnx_pipelines.benchmark.run_benchmark`'s raw
    results), for notebooks: a table in Jupyter and a ``pandas.DataFrame``.

    Example:
        >>> result = BenchmarkResult.read_json("bench-results/results.json")  # doctest: +SKIP
        >>> result.to_pandas().loc["O2+int8-dynamic"]  # doctest: +SKIP
    """

    summary: dict[str, Any]

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> BenchmarkResult:
        """Summarize raw results (what ``run_benchmark`` returns)."""
        return cls(summarize(raw))

    @classmethod
    def read_json(cls, path: str | Path) -> BenchmarkResult:
        """Load the ``results.json`` that ``bench`` writes."""
        return cls(json.loads(Path(path).read_text())["summary"])

    def to_markdown(self) -> str:
        """The report ``results.md`` holds."""
        return to_markdown(self.summary)

    def to_pandas(self) -> Any:
        """One row per candidate and latency configuration (``seq_len``, ``batch_size``): percentiles in ms and
        the speed-up over each baseline measured in the run (``x_pytorch``, ...), plus size and load time."""
        import pandas as pd

        rows = []
        for cand in self.summary["candidates"]:
            for entry in cand["latency"]:
                key = f"{entry['seq_len']}x{entry['batch_size']}"
                row = {"candidate": cand["name"], "seq_len": entry["seq_len"], "batch_size": entry["batch_size"],
                       "p50_ms": entry["p50_ms"], "p90_ms": entry["p90_ms"], "n": entry["n"]}
                for base, ratios in cand.get("ratios", {}).items():
                    row[f"x_{base.replace(' ', '_')}"] = ratios["latency"].get(key)
                row.update(size_mb=cand["size_mb"], load_s=cand["load_s"])
                rows.append(row)
        return pd.DataFrame(rows).set_index(["candidate", "seq_len", "batch_size"])

    def _repr_html_(self) -> str:
        return str(self.to_pandas().to_html(float_format=lambda v: f"{v:.2f}"))
