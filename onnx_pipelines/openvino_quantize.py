"""OpenVINO int8 through NNCF: post-training quantization of the exported fp32 graph, cached like other steps.

``nncf.quantize`` with ``model_type=TRANSFORMER`` (which keeps attention softmax and layer norms in fp32 and
applies SmoothQuant to the MatMuls) calibrates on real texts: the user's, tokenized one text per sample at
its own length, so the ranges cover the lengths the model will see. Nodes named in ``ignored`` stay in fp32
(``nncf.IgnoredScope``): the way out for a layer that int8 breaks.

The build is guarded like ONNX Runtime's int8 (:mod:`onnx_pipelines.openvino_guard`): the IR is measured
against its fp32 parent on the guard's texts, repaired through the ignored scope when it misses its task's
bound, or refused; ``guard=False`` (``precision="int8-plain"``, variant ``openvino:int8-plain``) builds the
recipe as it comes.

The result is an OpenVINO IR (``openvino_model.xml`` + ``.bin``) in its own cache folder beside the export it
came from, with a manifest naming runtime, precision, the parent artifact and the calibration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from onnx_pipelines.cache import Artifact, ArtifactCache
from onnx_pipelines.errors import InvalidConfigError, ProviderUnavailableError
from onnx_pipelines.tasks import TaskSpec

OPENVINO_INT8_FILE = "openvino_model.xml"
#: Texts are tokenized up to this many tokens for calibration (the model's limit when lower).
NNCF_MAX_LENGTH = 512
PRESETS: tuple[str, ...] = ("mixed", "performance")


@dataclass(frozen=True)
class NncfSettings:
    """How ``nncf.quantize`` is called.

    Attributes:
        samples: Calibration texts used (``subset_size``).
        preset: ``mixed`` (symmetric weights, asymmetric activations: NNCF's advice for transformers) or
            ``performance`` (symmetric everywhere).
        fast_bias_correction: NNCF's fast bias correction (``False``: the slower, full bias correction).
        max_length: Tokens per calibration text.
        ignored: Node names kept in fp32 (``nncf.IgnoredScope(names=...)``; OpenVINO op names, which are the
            ONNX node names of the export, ``<name>/WithoutBiases`` for a ``Gemm``'s MatMul).
        guard: Measure the IR against its fp32 parent and repair or refuse it
            (:mod:`onnx_pipelines.openvino_guard`); ``False`` is ``precision="int8-plain"``.

    Raises:
        InvalidConfigError: An unknown preset, or a non-positive sample count or length.
    """

    samples: int = 128
    preset: str = "mixed"
    fast_bias_correction: bool = True
    max_length: int = NNCF_MAX_LENGTH
    ignored: tuple[str, ...] = field(default_factory=tuple)
    guard: bool = True

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise InvalidConfigError(f"NNCF preset {self.preset!r} is not one of {', '.join(PRESETS)}.")
        for name in ("samples", "max_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidConfigError(f"{name} must be a positive integer, got {value!r}.")
        object.__setattr__(self, "ignored", tuple(self.ignored))
        if not isinstance(self.guard, bool):
            raise InvalidConfigError(f"guard must be True or False, got {self.guard!r}.")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ignored": list(self.ignored)}


def import_nncf() -> Any:
    """Import and return ``nncf``.

    Raises:
        ProviderUnavailableError: nncf is not installed; the message names the extra.
    """
    try:
        import nncf
    except ImportError as e:
        raise ProviderUnavailableError(
            'precision="int8" on runtime="openvino" quantizes with NNCF, which is not installed: '
            'pip install "onnx-pipelines[openvino]" (or use runtime="onnxruntime" with quantize="dynamic").'
        ) from e
    return nncf


def openvino_versions() -> dict[str, str]:
    """Versions of openvino and nncf (part of the int8 artifact's cache key)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in ("openvino", "nncf"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def calibration_samples(folder: Path, texts: Sequence[str], settings: NncfSettings) -> list[dict[str, Any]]:
    """Tokenize up to ``settings.samples`` texts one at a time (no padding) with the artifact's tokenizer.

    Raises:
        InvalidConfigError: No texts.
    """
    from transformers import AutoConfig, AutoTokenizer

    chosen = [str(t) for t in texts][: settings.samples]
    if not chosen:
        raise InvalidConfigError(
            'precision="int8" on OpenVINO calibrates on real texts: pass calibration_dataset= a list of texts '
            "(or a datasets.Dataset with text_column) like the ones the model will see."
        )
    tokenizer = AutoTokenizer.from_pretrained(folder)
    limit = getattr(AutoConfig.from_pretrained(folder), "max_position_embeddings", None) or settings.max_length
    max_length = min(settings.max_length, int(limit))
    return [dict(tokenizer(text, truncation=True, max_length=max_length, return_tensors="np")) for text in chosen]


def quantize_openvino(onnx_path: Path, out_dir: Path, samples: Sequence[dict[str, Any]],
                      settings: NncfSettings) -> Path:
    """Quantize an fp32 ONNX graph to int8 with NNCF and save it as OpenVINO IR in ``out_dir``.

    Returns:
        The ``.xml`` path.

    Raises:
        ProviderUnavailableError: openvino or nncf missing.
        InvalidConfigError: An ignored node name that the graph does not have.
    """
    from onnx_pipelines.openvino_runner import import_openvino

    openvino = import_openvino()
    nncf = import_nncf()
    model = openvino.Core().read_model(str(onnx_path))
    names = [port.get_any_name() for port in model.inputs]

    def feed(sample: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        ids = sample["input_ids"]
        return {n: np.asarray(sample.get(n, np.zeros_like(ids)), dtype=np.int64) for n in names}

    preset = {"mixed": nncf.QuantizationPreset.MIXED, "performance": nncf.QuantizationPreset.PERFORMANCE}
    scope = nncf.IgnoredScope(names=list(settings.ignored), validate=True) if settings.ignored else None
    try:
        with _nncf_quiet(nncf):
            quantized = nncf.quantize(
                model,
                nncf.Dataset(list(samples), feed),
                preset=preset[settings.preset],
                model_type=nncf.ModelType.TRANSFORMER,
                subset_size=len(samples),
                fast_bias_correction=settings.fast_bias_correction,
                ignored_scope=scope,
            )
    except nncf.ValidationError as e:  # ignored names not in the graph
        raise InvalidConfigError(f"NNCF refused the ignored scope {list(settings.ignored)}: {e}") from e
    out = out_dir / OPENVINO_INT8_FILE
    openvino.save_model(quantized, str(out), compress_to_fp16=False)
    return out


@contextmanager
def _nncf_quiet(nncf: Any) -> Iterator[None]:
    """NNCF draws its own progress bars (rich, on stdout) and logs INFO lines to stdout: our commands print
    results on stdout and their own progress on stderr, so NNCF's output is dropped for the call (its warnings
    and errors still reach the log)."""
    import io
    import logging
    from contextlib import redirect_stdout

    level = logging.getLogger("nncf").level
    nncf.set_log_level(logging.WARNING)
    try:
        with redirect_stdout(io.StringIO()):
            yield
    finally:
        nncf.set_log_level(level or logging.INFO)


def build_openvino_int8(parent: Artifact, texts: Sequence[str], settings: NncfSettings | None = None,
                        *, cache: ArtifactCache | None = None, progress: Callable[[str], None] | None = None,
                        group: str | None = None, task: TaskSpec | str | None = None) -> Artifact:
    """The cached NNCF int8 IR of ``parent`` (an fp32 ONNX artifact), built on ``texts`` when missing.

    The cache key holds the parent's key, the settings, a hash of the calibration tokens, the
    openvino/nncf versions and the int8 guard (:func:`~onnx_pipelines.int8_guard.guard_key`), so other texts,
    another NNCF or another guard build a new artifact. ``group`` is the model's cache folder (default: the
    parent's). Unless ``settings.guard`` is off, the IR is guarded (:mod:`onnx_pipelines.openvino_guard`) and
    what the guard measured is in the manifest under ``"int8_guard"``.

    Args:
        parent: The fp32 ONNX artifact.
        texts: Calibration texts.
        settings: How NNCF is called.
        cache: The artifact cache (default: the parent's).
        progress: Called with a message before each long part.
        group: The model's cache folder.
        task: The task the guard measures (default: the one the parent was exported for).

    Raises:
        InvalidConfigError: No calibration texts, a parent that is not a plain fp32 ONNX graph, or a guarded
            build of a parent whose task is unknown.
        ProviderUnavailableError: openvino or nncf missing.
        QuantizationAccuracyError: The guard found no NNCF build that meets the task's bound.
    """
    from onnx_pipelines.int8_guard import guard_key
    from onnx_pipelines.model_source import copy_support_files

    settings = settings or NncfSettings()
    if not parent.model_file.endswith(".onnx"):
        raise InvalidConfigError(f"NNCF int8 starts from an fp32 ONNX export, not {parent.model_file!r}.")
    spec = _guard_task(parent, task) if settings.guard else None
    samples = calibration_samples(parent.path, texts, settings)
    digest = hashlib.sha256()
    for sample in samples:
        for key in sorted(sample):
            digest.update(key.encode())
            digest.update(sample[key].tobytes())
    cache = cache or ArtifactCache(parent.path.parent.parent)
    key_data: dict[str, Any] = {
        "step": "openvino-int8",
        "parent": parent.manifest.get("key") or str(parent.path),
        "settings": settings.to_dict(),
        "calibration": digest.hexdigest()[:16],
        "openvino_versions": openvino_versions(),
        "guard": guard_key(settings, spec) if spec is not None else False,
    }

    def build(tmp: Path) -> tuple[str, dict[str, Any]]:
        if progress:
            progress(f"Quantizing to int8 with NNCF on {len(samples)} texts (OpenVINO)")
        copy_support_files(parent.path, tmp)
        out = quantize_openvino(parent.model_path, tmp, samples, settings)
        extra: dict[str, Any] = {"parent": str(parent.path), "runtime": "openvino", "precision": "int8",
                                 "quantize": "nncf" if settings.guard else "nncf-plain",
                                 "calibration_rows": len(samples), "nncf": settings.to_dict()}
        if spec is not None:  # the int8 guard, as on ONNX Runtime's int8 (openvino_guard.py)
            import logging

            from onnx_pipelines.openvino_guard import guard_openvino_build

            def requantize(nodes: Sequence[str]) -> Path:
                return quantize_openvino(parent.model_path, tmp, samples, replace(settings, ignored=tuple(nodes)))

            out, report = guard_openvino_build(spec, parent.model_path, out, tmp, requantize,
                                               already_ignored=settings.ignored, progress=progress)
            extra["int8_guard"] = report.to_dict()
            extra["nncf"]["ignored"] = [*settings.ignored, *report.fp32_nodes]
            logging.getLogger(__name__).info("%s", report.summary())
        return out.name, extra

    name = "openvino_int8" if settings.guard else "openvino_int8_plain"
    return cache.get_or_build(group or parent.path.parent.name, name, key_data, build)


def _guard_task(parent: Artifact, task: TaskSpec | str | None) -> TaskSpec:
    from onnx_pipelines.tasks import get_task

    if isinstance(task, TaskSpec):
        return task
    name = task or parent.manifest.get("task")
    if not name:
        raise InvalidConfigError(
            f"The int8 guard measures the NNCF build in its task's measure, but {str(parent.path)!r} does not say "
            "which task it was exported for: pass task= (e.g. 'text-classification'), or build without the guard "
            "with NncfSettings(guard=False) (precision='int8-plain')."
        )
    return get_task(str(name))


__all__ = ["NncfSettings", "OPENVINO_INT8_FILE", "build_openvino_int8", "calibration_samples", "quantize_openvino"]
