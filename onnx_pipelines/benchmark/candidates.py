"""What the benchmark compares: the PyTorch pipeline, the plain Optimum recipe from its docs, and our variants.

Each :class:`Candidate` is built once (timed, in a fresh process) into a :class:`PreparedCandidate` that
says where its model lives, how big it is and how long the cold build took, and is later loaded by
:func:`load_candidate` inside its own measurement process.
"""

from __future__ import annotations

import enum
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onnx_pipelines.config import Variant, detect_cpu_isa, parse_variants
from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.recipes import is_recipe_spec, recipe_spec_path

#: Our variants measured by default (int8-static needs calibration data).
DEFAULT_VARIANTS: tuple[str, ...] = ("fp32", "O2", "O3", "int8-dynamic", "O2+int8-dynamic", "int8-static")

PYTORCH = "pytorch"
DOCS_FP32 = "optimum-docs fp32"
DOCS_INT8 = "optimum-docs int8"


class CandidateKind(str, enum.Enum):
    """Where a candidate comes from."""

    PYTORCH = "pytorch"  # transformers.pipeline(task, model=path)
    OPTIMUM_DOCS = "optimum-docs"  # ORTModelFor...from_pretrained(export=True) (+ ORTQuantizer), default session
    OURS = "onnx-pipelines"  # load_pipeline(task, path, optimize=..., quantize=...)


@dataclass(frozen=True)
class Candidate:
    """One row of the benchmark.

    Attributes:
        name: Row label, e.g. ``"pytorch"``, ``"optimum-docs int8"``, ``"O2+int8-dynamic"``.
        kind: Where it comes from.
        variant: Our variant name (``OURS``), ``"fp32"`` / ``"int8-dynamic"`` (``OPTIMUM_DOCS``), else ``None``.
        description: One line for the report.
        recipe: A recipe file (``recipe:PATH``) the candidate is built from (``OURS`` only); ``variant`` then
            names what it builds.
    """

    name: str
    kind: CandidateKind
    variant: str | None = None
    description: str = ""
    recipe: str | None = None


@dataclass(frozen=True)
class PreparedCandidate:
    """A candidate whose model is built and on disk.

    Attributes:
        candidate: The candidate.
        model_dir: Folder the candidate loads from.
        model_file: The ONNX file in ``model_dir`` (``None`` for PyTorch).
        size_mb: Size of the weights on disk (ONNX file plus external data, or the PyTorch weights).
        build_s: Cold build time: export (+ optimize + quantize) from the PyTorch weights; ``None`` for PyTorch.
        build_note: How ``build_s`` was obtained.
    """

    candidate: Candidate
    model_dir: str
    model_file: str | None
    size_mb: float
    build_s: float | None
    build_note: str = ""


def default_candidates(variants: str | list[str] | tuple[str, ...] = DEFAULT_VARIANTS, *,
                       baselines: bool = True, static_available: bool = True) -> list[Candidate]:
    """The benchmark rows: baselines first, then our variants (``int8-static`` dropped without calibration data).

    Raises:
        InvalidConfigError: For an unknown variant name.
    """
    rows: list[Candidate] = []
    if baselines:
        isa = detect_cpu_isa()
        rows += [
            Candidate(PYTORCH, CandidateKind.PYTORCH, None, "transformers.pipeline(task, model=path), fp32"),
            Candidate(DOCS_FP32, CandidateKind.OPTIMUM_DOCS, "fp32",
                      "ORTModelFor...from_pretrained(path, export=True), default session, transformers pipeline"),
            Candidate(DOCS_INT8, CandidateKind.OPTIMUM_DOCS, "int8-dynamic",
                      f"the docs' ORTQuantizer + AutoQuantizationConfig.{isa}(is_static=False, per_channel=False) "
                      "on the plain export"),
        ]
    items = [v.strip() for v in (variants.split(",") if isinstance(variants, str) else variants) if v.strip()]
    recipes = [item for item in items if is_recipe_spec(item)]
    named = [item for item in items if not is_recipe_spec(item)]
    for variant in parse_variants(named) if named or not recipes else []:
        if variant.calibrates and not static_available:
            continue
        description = f"load_pipeline(..., {_kwargs(variant)})"
        rows.append(Candidate(variant.name, CandidateKind.OURS, variant.name, description))
    rows += [recipe_candidate(recipe_spec_path(item)) for item in dict.fromkeys(recipes)]
    return rows


def recipe_candidate(path: str | Path, name: str | None = None) -> Candidate:
    """A benchmark row built from a recipe file (``recipe:PATH``); the recipe brings its calibration texts.

    Raises:
        InvalidConfigError: The recipe file is missing or not a recipe.
    """
    from onnx_pipelines.recipes import RECIPE_PREFIX, recipe_variant

    variant = recipe_variant(path)
    return Candidate(name or f"{RECIPE_PREFIX}{path}", CandidateKind.OURS, variant.name,
                     f"load_pipeline(recipe={str(path)!r}): {variant.name}", recipe=str(Path(path).resolve()))


def _kwargs(variant: Variant) -> str:
    if variant.runtime == "openvino":
        return f"runtime='openvino', precision={variant.precision!r}"
    return f"optimize={variant.optimize!r}, quantize={variant.quantize!r}"



def prepare_candidates(candidates: list[Candidate], model: str, task: str, work_dir: str, cache_dir: str,
                       calibration_texts: list[str] | None) -> list[PreparedCandidate]:
    """Build every candidate, in order. Meant to run in one fresh process (see :func:`prepare_candidate`).

    The export machinery is imported first, so no candidate's build time includes those imports.
    """
    import optimum.exporters.onnx  # noqa: F401
    import optimum.onnxruntime  # noqa: F401

    return [prepare_candidate(c, model, task, work_dir, cache_dir, calibration_texts) for c in candidates]


def prepare_candidate(candidate: Candidate, model: str, task: str, work_dir: str, cache_dir: str,
                      calibration_texts: list[str] | None) -> PreparedCandidate:
    """Build a candidate's model (or find it already built). Meant to run in a fresh process.

    Our variants go through :func:`~onnx_pipelines.load_pipeline`'s cache; their cold build time is the sum
    of the ``build_seconds`` recorded in the manifests of the artifact chain (export, optimize, quantize).
    The Optimum-docs rows are exported into ``work_dir/optimum-docs`` and timed there.
    """
    if candidate.kind is CandidateKind.PYTORCH:
        weights = [p for p in Path(model).iterdir() if p.suffix in (".safetensors", ".bin")]
        return PreparedCandidate(candidate, model, None, _mb(weights), None, "no export")
    if candidate.kind is CandidateKind.OPTIMUM_DOCS:
        return _prepare_docs(candidate, model, task, Path(work_dir) / "optimum-docs")
    return _prepare_ours(candidate, model, task, cache_dir, calibration_texts)


def _prepare_ours(candidate: Candidate, model: str, task: str, cache_dir: str,
                  calibration_texts: list[str] | None) -> PreparedCandidate:
    from onnx_pipelines.pipeline import load_pipeline

    if candidate.recipe is not None:
        pipe = load_pipeline(model=model, recipe=candidate.recipe, cache_dir=cache_dir)
        return _prepared_ours(candidate, pipe)
    variant = Variant.parse(candidate.variant or "fp32")
    if variant.calibrates and not calibration_texts:
        raise InvalidConfigError(f"{candidate.name} needs calibration data: pass --calibration-data FILE.")
    pipe = load_pipeline(task, model, optimize=variant.optimize, quantize=variant.quantize, runtime=variant.runtime,
                         precision=variant.precision, cache_dir=cache_dir,
                         calibration_dataset=calibration_texts if variant.calibrates else None)
    return _prepared_ours(candidate, pipe)


def _prepared_ours(candidate: Candidate, pipe: Any) -> PreparedCandidate:
    artifact = pipe.artifact
    build_s = _chain_build_seconds(artifact.manifest)
    note = "built in this run" if artifact.built else "from the cache (times recorded when it was built)"
    return PreparedCandidate(candidate, str(artifact.path), artifact.model_file,
                             _mb(_onnx_files(Path(artifact.path), artifact.model_file)), build_s,
                             f"export+validation+steps, {note}")


def _chain_build_seconds(manifest: dict[str, Any]) -> float:
    """Sum ``build_seconds`` over an artifact and its parents (export, optimize, quantize)."""
    from onnx_pipelines.cache import read_manifest

    total = 0.0
    current: dict[str, Any] | None = manifest
    while current:
        total += float(current.get("build_seconds", 0.0))
        parent = current.get("parent")
        current = read_manifest(Path(parent)) if parent else None  # type: ignore[assignment]
    return total


def _prepare_docs(candidate: Candidate, model: str, task: str, root: Path) -> PreparedCandidate:
    """The Optimum documentation's recipe, verbatim: export with ``export=True``, quantize with ``ORTQuantizer``."""
    from onnx_pipelines.model_source import resolve_model
    from onnx_pipelines.tasks import get_task

    source = resolve_model(model)
    folder = root / f"{source.name}-{source.content_hash()[:12]}"
    fp32_dir, int8_dir, timings_file = folder / "fp32", folder / "int8", folder / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
    note = "from an earlier run"
    if "export_s" not in timings or not (fp32_dir / "model.onnx").is_file():
        from onnx_pipelines.loaders import load_tokenizer

        shutil.rmtree(fp32_dir, ignore_errors=True)
        started = time.perf_counter()
        ort_model = get_task(task).load_ort_class().from_pretrained(model, export=True)
        ort_model.save_pretrained(fp32_dir)
        timings = {"export_s": time.perf_counter() - started}
        load_tokenizer(model).save_pretrained(fp32_dir)
        note = "built in this run"
    if candidate.variant == "fp32":
        _save_timings(timings_file, timings)
        return PreparedCandidate(candidate, str(fp32_dir), "model.onnx", _mb([fp32_dir / "model.onnx"]),
                                 timings["export_s"], f"export, {note}")
    if "quantize_s" not in timings or not (int8_dir / "model_quantized.onnx").is_file():
        from optimum.onnxruntime import ORTQuantizer
        from optimum.onnxruntime.configuration import AutoQuantizationConfig

        from onnx_pipelines.loaders import load_tokenizer

        shutil.rmtree(int8_dir, ignore_errors=True)
        started = time.perf_counter()
        quantizer = ORTQuantizer.from_pretrained(fp32_dir, file_name="model.onnx")
        qconfig = getattr(AutoQuantizationConfig, detect_cpu_isa())(is_static=False, per_channel=False)
        quantizer.quantize(save_dir=int8_dir, quantization_config=qconfig)
        timings["quantize_s"] = time.perf_counter() - started
        load_tokenizer(fp32_dir).save_pretrained(int8_dir)
        note = "built in this run"
    _save_timings(timings_file, timings)
    return PreparedCandidate(candidate, str(int8_dir), "model_quantized.onnx",
                             _mb([int8_dir / "model_quantized.onnx"]), timings["export_s"] + timings["quantize_s"],
                             f"export+quantize, {note}")


def _save_timings(path: Path, timings: dict[str, float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(timings, indent=2))


def _onnx_files(folder: Path, model_file: str) -> list[Path]:
    extra = [p for p in folder.iterdir() if p.suffix in (".data", ".onnx_data") or p.name.endswith(".onnx.data")]
    return [folder / model_file, *extra]


def _mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths if p.is_file()) / 1e6


def load_candidate(prepared: PreparedCandidate, task: str, model: str, cache_dir: str,
                   calibration_texts: list[str] | None, threads: int | None) -> Any:
    """Load a prepared candidate's pipeline, the way a user of that recipe would."""
    import transformers

    from onnx_pipelines.loaders import load_tokenizer
    from onnx_pipelines.tasks import get_task

    candidate = prepared.candidate
    spec = get_task(task)
    pipeline_task: Any = spec.pipeline_task
    if candidate.kind is CandidateKind.PYTORCH:
        if threads:
            import torch

            torch.set_num_threads(threads)
        return transformers.pipeline(pipeline_task, model=model)
    if candidate.kind is CandidateKind.OPTIMUM_DOCS:
        import onnxruntime

        options = None
        if threads:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
        ort_model = spec.load_ort_class().from_pretrained(prepared.model_dir, file_name=prepared.model_file,
                                                          session_options=options)
        tokenizer = load_tokenizer(prepared.model_dir)
        return transformers.pipeline(pipeline_task, model=ort_model, tokenizer=tokenizer)
    from onnx_pipelines.pipeline import load_pipeline

    if candidate.recipe is not None:
        return load_pipeline(model=model, recipe=candidate.recipe, cache_dir=cache_dir, intra_op_threads=threads)
    variant = Variant.parse(candidate.variant or "fp32")
    return load_pipeline(task, model, optimize=variant.optimize, quantize=variant.quantize, runtime=variant.runtime,
                         precision=variant.precision, cache_dir=cache_dir,
                         calibration_dataset=calibration_texts if variant.calibrates else None,
                         intra_op_threads=threads)
