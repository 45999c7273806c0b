"""``export``, ``optimize`` and ``quantize``: build a cached ONNX artifact and optionally copy it out."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from onnx_pipelines.artifacts import build_artifact
from onnx_pipelines.build_request import resolve_build_request
from onnx_pipelines.cache import Artifact, ArtifactCache
from onnx_pipelines.commands.common import (
    StepPrinter,
    add_runtime_options,
    add_task_option,
    add_variant_options,
    copy_folder_atomically,
)
from onnx_pipelines.config import OPTIMIZATION_LEVELS, QUANTIZE_MODES
from onnx_pipelines.errors import InvalidConfigError, InvalidModelError
from onnx_pipelines.model_source import resolve_model
from onnx_pipelines.tasks import get_task, infer_task

EXPORT_EPILOG = """\
examples:
  onnx-pipelines export ./bbc-news-minilm --task text-classification
  onnx-pipelines export ./bbc-news-minilm --task text-classification --optimize O2 --quantize dynamic \\
      --output ./bbc-onnx
  onnx-pipelines export sentence-transformers/all-MiniLM-L6-v2 --task sentence-embeddings   # needs internet
  onnx-pipelines export --recipe tune-out/recipe.json --output ./bbc-tuned   # exactly what tune chose

The artifact is cached (keyed by the model's content, the settings and library versions): running the
same command again reuses it. --output copies the finished folder (model*.onnx, config, tokenizer,
manifest.json) somewhere else; it is loadable with load_pipeline(task, folder).
"""

STEP_EPILOG = """\
MODEL_DIR is a folder holding model.onnx with its config.json and tokenizer (e.g. the output of
`onnx-pipelines export ... --output DIR`, or an export made elsewhere).

examples:
  onnx-pipelines optimize ./bbc-onnx --level O2 --output ./bbc-onnx-O2
  onnx-pipelines quantize ./bbc-onnx-O2 --mode dynamic --output ./bbc-onnx-O2-int8
  onnx-pipelines quantize ./bbc-onnx-O2 --mode dynamic --explain   # the int8 guard's numbers, nodes ranked
  onnx-pipelines quantize ./bbc-onnx-O2 --mode dynamic-plain       # the recipe as it comes, no int8 guard
  onnx-pipelines quantize ./bbc-onnx --mode static --calibration-data train.jsonl --output ./bbc-static
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    export = subparsers.add_parser(
        "export", help="export a transformers model to ONNX (optionally optimize and quantize)",
        description="Export a model folder or hub id to ONNX with Optimum, check the export against "
        "PyTorch on real text, then optionally graph-optimize and int8-quantize it.",
        epilog=EXPORT_EPILOG, formatter_class=formatter,
    )
    export.add_argument("model", nargs="?", help="model folder (config.json + weights + tokenizer) or hub id "
                        "(optional with --recipe: the recipe names it)")
    add_task_option(export, required=False)
    add_variant_options(export)
    export.add_argument("--recipe", type=Path, metavar="FILE",
                        help="build exactly what a recipe file says (e.g. tune's recipe.json); MODEL builds it for "
                        "another copy of the model")
    _add_common(export)
    export.set_defaults(func=run_export, parser=export)

    optimize = subparsers.add_parser(
        "optimize", help="graph-optimize an exported ONNX folder (O1-O4)",
        description="Apply ONNX Runtime's transformer graph optimizations to an exported model folder.",
        epilog=STEP_EPILOG, formatter_class=formatter,
    )
    optimize.add_argument("model", metavar="MODEL_DIR", help="folder holding model.onnx + config + tokenizer")
    optimize.add_argument("--level", required=True, choices=OPTIMIZATION_LEVELS, help="optimization level")
    add_task_option(optimize, required=False)
    _add_common(optimize)
    optimize.set_defaults(func=run_optimize)

    quantize = subparsers.add_parser(
        "quantize", help="int8-quantize an exported ONNX folder (dynamic or static)",
        description="Quantize an exported (optionally optimized) model folder to int8 with the recipe "
        "for this CPU (avx512_vnni / avx512 / avx2 / arm64).",
        epilog=STEP_EPILOG, formatter_class=formatter,
    )
    quantize.add_argument("model", metavar="MODEL_DIR", help="folder holding model.onnx + config + tokenizer")
    quantize.add_argument("--mode", required=True, choices=QUANTIZE_MODES, help="dynamic or static int8")
    add_task_option(quantize, required=False)
    _add_common(quantize)
    quantize.set_defaults(func=run_quantize)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, metavar="DIR", help="copy the finished artifact folder here")
    parser.add_argument("--calibration-data", metavar="FILE",
                        help="json/jsonl/csv/parquet file of texts for static quantization")
    parser.add_argument("--text-column", default="text", help="text column of --calibration-data (default: text)")
    parser.add_argument("--calibration-method", default="minmax", choices=("minmax", "entropy", "percentile"),
                        help="static calibration method (default: minmax)")
    parser.add_argument("--calibration-samples", type=int, default=128, metavar="N",
                        help="calibration rows used (default: 128)")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    parser.add_argument("--explain", action="store_true",
                        help="after an int8 build: print what the int8 guard measured and the quantizable nodes "
                        "ranked by the error each causes (which stayed fp32)")
    add_runtime_options(parser)


def run_export(args: argparse.Namespace) -> int:
    if args.recipe is not None:
        return _build_recipe(args)
    if args.model is None or args.task is None:  # a usage error, as argparse reports one (exit 2)
        args.parser.error("export needs MODEL and --task (or --recipe FILE, which names both)")
    return _build(args, args.model, args.task, args.optimize, args.quantize)


def _build_recipe(args: argparse.Namespace) -> int:
    from onnx_pipelines.pipeline import recipe_request

    fixed = {"--optimize": args.optimize, "--quantize": args.quantize, "--calibration-data": args.calibration_data,
             "--precision": args.precision, "--runtime": None if args.runtime == "onnxruntime" else args.runtime}
    request = recipe_request(args.recipe, args.task, args.model, fixed=fixed,
                             provider=None if args.provider == "auto" else args.provider,
                             intra_op_threads=args.threads)
    artifact = build_artifact(request, cache=ArtifactCache(args.cache_dir), progress=StepPrinter(quiet=args.json))
    if args.output:
        copy_folder_atomically(artifact.path, args.output)
    _report(artifact, args)
    if args.explain and request.quantize is not None:
        from onnx_pipelines.guard_report import artifact_sensitivity

        print(artifact_sensitivity(artifact.path))
    return 0


def run_optimize(args: argparse.Namespace) -> int:
    return _build(args, args.model, args.task, args.level, None, need_onnx=True)


def run_quantize(args: argparse.Namespace) -> int:
    return _build(args, args.model, args.task, None, args.mode, need_onnx=True)


def _build(args: argparse.Namespace, model: str, task_name: str | None, optimize: str | None,
           quantize: str | None, *, need_onnx: bool = False) -> int:
    progress = StepPrinter(quiet=args.json)
    named_task = get_task(task_name) if task_name else None  # a bad task name fails before any work
    source = resolve_model(model)
    if need_onnx and source.onnx_file is None:
        raise InvalidModelError(
            f"{model!r} holds no model.onnx. Export it first: onnx-pipelines export {model} --task ... --output DIR"
        )
    task = named_task or infer_task(source.config())
    runtime, precision = getattr(args, "runtime", "onnxruntime"), getattr(args, "precision", None)
    static = (quantize is not None and quantize.lower().startswith("static")) or (
        runtime == "openvino" and str(precision).startswith("int8"))
    request = resolve_build_request(
        task, source, optimize=optimize, quantize=quantize, provider=args.provider, intra_op_threads=args.threads,
        runtime=runtime, precision=precision,
        calibration_dataset=_calibration_dataset(args) if static else None, text_column=args.text_column,
        calibration_method=args.calibration_method, calibration_samples=args.calibration_samples,
    )
    artifact = build_artifact(request, cache=ArtifactCache(args.cache_dir), progress=progress)
    if args.output:
        copy_folder_atomically(artifact.path, args.output)
    _report(artifact, args)
    if getattr(args, "explain", False) and "int8_guard" in artifact.manifest:  # ORT int8, or OpenVINO's NNCF int8
        from onnx_pipelines.guard_report import artifact_sensitivity

        print(artifact_sensitivity(artifact.path))
    return 0


def _calibration_dataset(args: argparse.Namespace) -> object:
    if not args.calibration_data:
        raise InvalidConfigError("--quantize static needs --calibration-data FILE (texts to calibrate on).")
    from onnx_pipelines.eval_data import ColumnMapping, load_eval_dataset

    return load_eval_dataset(args.calibration_data, columns=ColumnMapping(text=args.text_column, label=None),
                             limit=args.calibration_samples)


def _report(artifact: Artifact, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps({"path": str(artifact.path), **artifact.manifest}, indent=2, default=str))
        return
    where = args.output.resolve() if args.output else artifact.path
    status = "built" if artifact.built else "reused from cache"
    print(f"{artifact.model_file}: {status}")
    print(f"  folder:     {where}")
    size = (artifact.path / artifact.model_file).stat().st_size
    print(f"  size:       {size / 1e6:.1f} MB")
    validation = artifact.manifest.get("validation")
    if validation:
        print(f"  validation: max |diff| vs PyTorch {validation['max_abs_diff']:.2e} "
              f"(atol {validation['atol']:g}) on {validation['num_texts']} real texts")
