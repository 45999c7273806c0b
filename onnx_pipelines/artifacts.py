"""Build a variant as a chain of cached steps: export → optimize → quantize.

Each step is its own cached artifact keyed on its parent, so ``O2`` and ``O2+int8-dynamic`` share one
export and one optimization. A folder that already holds ``model.onnx`` skips the export step.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from onnx_pipelines.build_request import BuildRequest
from onnx_pipelines.cache import Artifact, ArtifactCache
from onnx_pipelines.config import OptimizeSettings, QuantizeSettings, config_fingerprint
from onnx_pipelines.errors import CorruptModelError
from onnx_pipelines.export import check_exportable, export_model, validate_against_torch
from onnx_pipelines.fusions import count_fused_ops
from onnx_pipelines.int8_guard import guard_int8_build, guard_key
from onnx_pipelines.mixed_precision import with_excluded
from onnx_pipelines.model_source import ModelSource, copy_support_files
from onnx_pipelines.optimize import optimize_model
from onnx_pipelines.quantize import quantize_model
from onnx_pipelines.support_check import require_supported
from onnx_pipelines.tasks import TaskSpec
from onnx_pipelines.tolerances import EXPORT_ATOL, OPTIMIZE_ATOL

logger = logging.getLogger(__name__)

#: Rows tokenized for static calibration are padded to this many tokens (ranges need one shape).
CALIBRATION_MAX_LENGTH = 128

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


def build_artifact(request: BuildRequest, *, cache: ArtifactCache | None = None,
                   progress: Progress | None = None) -> Artifact:
    """Return the cached artifact for a build request, building the missing steps (export, optimize, quantize).

    Args:
        request: What to build, from :func:`~onnx_pipelines.build_request.resolve_build_request`.
        cache: Where artifacts live (default cache folder when ``None``).
        progress: Called with a short message before each step that has to be built.

    Returns:
        The last step's artifact (its manifest names its parent steps).

    Raises:
        ExportError, CorruptModelError, UnsupportedArchitectureError.
    """
    cache = cache or ArtifactCache()
    progress = progress or _noop
    source, task, optimize, quantize = request.source, request.task, request.optimize, request.quantize
    if source.onnx_file is None:  # the support check fails an unsupported plan before any export (every entry point)
        require_supported(source.path, task, optimize=optimize, quantize=quantize, provider=request.provider,
                          trust_remote_code=request.trust_remote_code)
    group = f"{source.name}-{source.content_hash()[:12]}"
    base = _base_artifact(request, cache, group, progress)
    current = base
    prefix = Path(base.model_file).stem  # "model", or e.g. "model_O2" for a pre-exported optimized graph
    if optimize is not None:
        atol = OPTIMIZE_ATOL.get(optimize.label, 5e-3)
        can_validate = request.validate and source.has_torch_weights and not optimize.needs_gpu
        prefix = f"{prefix}_{optimize.label}"
        optimized_file = f"{prefix}.onnx"
        current = _step(
            cache, group, optimize.label, current,
            {"step": "optimize", "settings": config_fingerprint(optimize.config)},
            lambda tmp, parent: _optimize_build(
                tmp, parent, optimize, optimized_file, source, task, atol if can_validate else None),
            progress, f"Optimizing graph ({optimize.label})",
        )
    if quantize is not None:
        calibration = calibration_batches(request)
        calibration_hash = _hash_batches(calibration) if quantize.is_static else None
        name = f"{optimize.label}_{quantize.label}" if optimize else quantize.label
        out_file = f"{prefix}_{quantize.label}.onnx"
        current = _step(
            cache, group, name, current,
            {"step": "quantize", "settings": quantize.fingerprint(), "calibration": calibration_hash,
             "guard": guard_key(quantize, task)},  # int8 guard (issue 11)
            lambda tmp, parent: _quantize_build(tmp, parent, quantize, out_file, calibration, task, progress),
            progress, f"Quantizing to int8 ({quantize.label})",
        )
    if request.runtime.engine == "openvino" and request.precision == "int8":  # issue 15: NNCF int8 step
        from onnx_pipelines.openvino_quantize import NncfSettings, build_openvino_int8

        texts = list(request.calibration_texts or ())
        nncf = NncfSettings(samples=max(len(texts), 1), guard=request.runtime.precision == "int8")  # int8-plain: off
        current = build_openvino_int8(current, texts, nncf, cache=cache, progress=progress, group=group, task=task)
    return current


def calibration_batches(request: BuildRequest) -> list[dict[str, Any]] | None:
    """Tokenize the request's calibration texts for static int8 (padded to one length: ranges need one shape)."""
    if request.quantize is None or not request.quantize.is_static or not request.calibration_texts:
        return None
    from onnx_pipelines.loaders import load_tokenizer

    tokenizer = load_tokenizer(request.source.path)
    encoded = tokenizer(list(request.calibration_texts), padding="max_length", truncation=True,
                        max_length=CALIBRATION_MAX_LENGTH, return_tensors="np")
    return [dict(encoded)]


def _base_artifact(request: BuildRequest, cache: ArtifactCache, group: str, progress: Progress) -> Artifact:
    source, task, opset = request.source, request.task, request.opset
    if source.onnx_file is not None:
        check_onnx_file(source.onnx_file)
        manifest = {"name": "pre-exported", "model_file": source.onnx_file.name, "source": str(source.path)}
        return Artifact(source.path, source.onnx_file.name, manifest, built=False)
    key = {
        "step": "export",
        "model": source.content_hash(),
        "hub_id": source.hub_id,
        "revision": source.revision,
        "export_task": task.export_task,
        "opset": opset,
        "validated": request.validate,
    }

    def build(tmp: Path) -> tuple[str, dict[str, Any]]:
        check_exportable(source, task)  # imports the exporter registry (seconds): only when exporting
        progress(f"Exporting {source.name} to ONNX ({task.export_task})")
        onnx_path = export_model(source, task, tmp, trust_remote_code=request.trust_remote_code, opset=opset)
        copy_support_files(source.path, tmp)
        extra: dict[str, Any] = {"source": str(source.path), "task": task.name}
        if request.validate:
            progress("Validating the export against PyTorch on real text")
            extra["validation"] = validate_against_torch(source, task, onnx_path, atol=EXPORT_ATOL).as_dict()
        return onnx_path.name, extra

    return cache.get_or_build(f"{group}", "export", key, build)


def _step(cache: ArtifactCache, group: str, name: str, parent: Artifact, key: dict[str, Any],
          build: Callable[[Path, Artifact], tuple[str, dict[str, Any]]], progress: Progress,
          message: str) -> Artifact:
    def run(tmp: Path) -> tuple[str, dict[str, Any]]:
        progress(message)
        copy_support_files(parent.path, tmp)
        model_file, extra = build(tmp, parent)
        return model_file, {"parent": str(parent.path), **extra}

    parent_id = parent.manifest.get("key") or str(parent.path)
    return cache.get_or_build(group, name, {**key, "parent": parent_id}, run)


def _optimize_build(tmp: Path, parent: Artifact, settings: OptimizeSettings, out_file: str,
                    source: ModelSource, task: TaskSpec, atol: float | None) -> tuple[str, dict[str, Any]]:
    path = optimize_model(parent.path, parent.model_file, tmp, settings, out_file)
    for leftover in ("ort_config.json",):
        (tmp / leftover).unlink(missing_ok=True)
    extra: dict[str, Any] = {"optimize": settings.label}
    extra["fusions"] = count_fused_ops(path)  # issue 14: what the optimizer fused, in the manifest
    if atol is not None:
        extra["validation"] = validate_against_torch(source, task, path, atol=atol).as_dict()
    return path.name, extra


def _quantize_build(tmp: Path, parent: Artifact, settings: QuantizeSettings, out_file: str,
                    calibration_batches: Sequence[dict[str, Any]] | None, task: TaskSpec,
                    progress: Progress) -> tuple[str, dict[str, Any]]:
    path = quantize_model(parent.path, parent.model_file, tmp, settings, out_file,
                          calibration_batches=calibration_batches)
    (tmp / "ort_config.json").unlink(missing_ok=True)
    extra: dict[str, Any] = {"quantize": settings.label}
    # --- int8 guard (issue 11): compare with the fp32 parent, repair with fp32 fallbacks or raise ---------
    if settings.guard:
        def requantize(nodes: Sequence[str]) -> Path:
            return quantize_model(parent.path, parent.model_file, tmp, with_excluded(settings, nodes), out_file,
                                  calibration_batches=calibration_batches)

        path, report = guard_int8_build(task, parent.model_path, path, tmp, settings, requantize,
                                        calibration_batches=calibration_batches, progress=progress)
        (tmp / "ort_config.json").unlink(missing_ok=True)
        extra["int8_guard"] = report.to_dict()
        logger.info("%s", report.summary())
    # --- end int8 guard ------------------------------------------------------------------------------------
    if settings.is_static and calibration_batches:
        extra["calibration_rows"] = sum(len(b["input_ids"]) for b in calibration_batches)
    return path.name, extra


def check_onnx_file(path: Path) -> None:
    """Run ``onnx.checker`` on a graph file.

    Raises:
        CorruptModelError: For truncated, corrupt or invalid graphs.
    """
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except Exception as e:  # protobuf DecodeError, ValidationError, OSError ...
        raise CorruptModelError(
            f"{str(path)!r} is not a valid ONNX model ({type(e).__name__}: {str(e).splitlines()[0][:200]}). "
            "It may be truncated or corrupt: export it again (onnx-pipelines export ...)."
        ) from e


def _hash_batches(batches: Sequence[dict[str, Any]] | None) -> str | None:
    if not batches:
        return None
    digest = hashlib.sha256()
    for batch in batches:
        for key in sorted(batch):
            digest.update(key.encode())
            digest.update(np.ascontiguousarray(batch[key]).tobytes())
    return digest.hexdigest()[:16]
