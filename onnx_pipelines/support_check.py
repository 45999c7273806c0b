"""Will this model convert, and what will each variant give? Answered from ``config.json`` before any export.

:func:`check_model` reads the model's config (no weights are loaded: the parameter count comes from the
architecture built on PyTorch's ``meta`` device) and asks Optimum's ``TasksManager`` whether the model type
exports for the task, which opset it uses, whether ORTOptimizer knows the model type and what it fuses
(:mod:`onnx_pipelines.fusions`), which int8 modes apply, and whether custom code would be needed.
``load_pipeline`` runs the same check (:func:`require_supported`), so an unsupported request fails before
the export.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from onnx_pipelines.config import OPTIMIZATION_LEVELS, QUANTIZE_MODES, detect_cpu_isa
from onnx_pipelines.errors import (
    InvalidConfigError,
    InvalidModelError,
    ModelNotFoundError,
    UnsupportedArchitectureError,
)
from onnx_pipelines.fusions import expected_fusions, fusion_note
from onnx_pipelines.tasks import TaskSpec, get_task

logger = logging.getLogger(__name__)

#: Bytes per parameter of an fp32 graph, and of an int8 one for the weights the quantizer converts
#: (``MatMul`` and ``Gather``: the linear layers and the embeddings).
FP32_BYTES = 4
INT8_BYTES = 1
#: Model type -> why static int8 cannot be built for it (measured by the support matrix).
STATIC_INT8_UNSUPPORTED: dict[str, str] = {
    "deberta-v2": "its exported graph holds If subgraphs (relative-position bucketing), and onnxruntime's static "
    "quantizer does not support models with subgraphs (NotImplementedError); use quantize='dynamic'",
}


@dataclass(frozen=True)
class LevelSupport:
    """Whether one optimize level applies, and the fused operators it is known to produce.

    Attributes:
        level: ``"O1"``-``"O4"``.
        applies: Whether the level can be built for this model here.
        fusions: Fused operator types expected (``None``: this model type was not measured).
        note: Why it does not apply, or what it leaves unfused.
    """

    level: str
    applies: bool
    fusions: tuple[str, ...] | None
    note: str = ""


@dataclass(frozen=True)
class SupportReport:
    """What :func:`check_model` found. ``supported`` is whether the *requested* plan can be built.

    Attributes:
        model: The folder checked.
        model_type: ``config.model_type``.
        task: Our task name.
        export_task: The exporter's task name.
        exportable: Whether Optimum exports this model type for the task.
        exportable_tasks: Every exporter task Optimum has for the model type.
        opset: The ONNX opset the export uses (Optimum's default for the model type).
        levels: One :class:`LevelSupport` per optimize level.
        int8_modes: The quantize modes that apply (``"dynamic"``, ``"static"``), with ``isa`` their recipe.
        isa: The int8 instruction set the recipe targets on this CPU.
        custom_code: Whether the model needs its own Python code (``auto_map`` / unknown model type).
        parameters: Parameter count (from the config; ``None`` when the architecture cannot be built).
        expected_mb: Expected graph size per variant kind, ``{"fp32": .., "int8": ..}`` (MB).
        requested: The requested variant, e.g. ``"O2+int8-dynamic"``.
        reasons: Why the requested plan cannot be built (empty when supported).
        notes: What the plan builds but does not do (e.g. attention left unfused).
    """

    model: str
    model_type: str
    task: str
    export_task: str
    exportable: bool
    exportable_tasks: tuple[str, ...]
    opset: int | None
    levels: tuple[LevelSupport, ...]
    int8_modes: tuple[str, ...]
    isa: str
    custom_code: bool
    parameters: int | None
    expected_mb: dict[str, float]
    requested: str
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def supported(self) -> bool:
        return not self.reasons

    def level(self, name: str) -> LevelSupport:
        return next(level for level in self.levels if level.level == name)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["supported"] = self.supported
        return data

    def to_text(self) -> str:
        """A human-readable report for the CLI."""
        params = f"{self.parameters:,}" if self.parameters is not None else "unknown"
        sizes = ", ".join(f"{k} ~{v:.1f} MB" for k, v in self.expected_mb.items()) or "unknown"
        lines = [
            f"model:        {self.model}",
            f"model type:   {self.model_type}",
            f"task:         {self.task} (exporter task {self.export_task})",
            f"exportable:   {'yes' if self.exportable else 'no'}"
            + (f" (exporter tasks: {', '.join(self.exportable_tasks)})" if self.exportable_tasks else ""),
            f"opset:        {self.opset if self.opset is not None else '-'}",
            f"custom code:  {'yes (needs trust_remote_code)' if self.custom_code else 'no'}",
            f"parameters:   {params}",
            f"expected:     {sizes}",
            "optimize levels:",
        ]
        for level in self.levels:
            fused = "not measured" if level.fusions is None else (", ".join(level.fusions) or "no fused operators")
            state = "yes" if level.applies else "no "
            lines.append(f"  {level.level}  {state}  {fused}" + (f"  ({level.note})" if level.note else ""))
        lines.append(f"int8:         {', '.join(self.int8_modes) or 'none'} (recipe {self.isa})")
        lines.append(f"requested:    {self.requested}: {'SUPPORTED' if self.supported else 'NOT SUPPORTED'}")
        lines += [f"  - {reason}" for reason in self.reasons]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def check_model(
    model: str | Path,
    task: str | TaskSpec,
    *,
    optimize: str | None = None,
    quantize: str | None = None,
    provider: str = "cpu",
    trust_remote_code: bool = False,
    count_parameters: bool = True,
) -> SupportReport:
    """Check, before any export, whether ``model`` converts for ``task`` and what each variant gives.

    Args:
        model: A local model folder (only ``config.json`` is read).
        task: A task name (or :class:`TaskSpec`).
        optimize: The requested optimize level (``"O1"``-``"O4"``) or ``None``.
        quantize: The requested int8 mode (``"dynamic"``, ``"static"``) or ``None``.
        provider: ``"cpu"`` or ``"cuda"`` (``O4`` is fp16 and needs a GPU).
        trust_remote_code: Whether custom model code would be allowed.
        count_parameters: Build the architecture on the meta device to count parameters and estimate
            sizes (a second or so; ``load_pipeline`` skips it).

    Returns:
        A :class:`SupportReport`; ``report.reasons`` says why the requested plan cannot be built.

    Raises:
        UnsupportedTaskError: Unknown task. InvalidConfigError: Unknown optimize level / quantize mode.
        ModelNotFoundError, InvalidModelError: No folder, or no readable ``config.json``.
    """
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    level = _level(optimize)
    mode = _mode(quantize)
    folder = Path(model).expanduser()
    config = _read_config(folder)
    model_type = str(config.get("model_type", "")).replace("_", "-")
    reasons: list[str] = []
    notes: list[str] = []

    custom_code = _needs_custom_code(config)
    if custom_code and not trust_remote_code:
        reasons.append(
            f"{folder.name} needs its own Python code ({_custom_code_origin(config)}); onnx-pipelines runs it "
            "only with trust_remote_code=True (--trust-remote-code), after you have read that code."
        )
    exportable_tasks = _exporter_tasks(model_type)
    exportable = spec.export_task in exportable_tasks
    if not exportable_tasks:
        reasons.append(
            f"The ONNX exporter (optimum-onnx) has no ONNX config for model_type {model_type!r}: it cannot be "
            "exported. Supported encoder families are listed in docs/architectures.md."
        )
    elif not exportable:
        reasons.append(
            f"The ONNX exporter supports model_type {model_type!r} for {', '.join(exportable_tasks)}, not for "
            f"{spec.export_task!r} (task {spec.name!r})."
        )
    head = _head_mismatch(config, spec)
    if head:
        reasons.append(head)

    optimizer_knows = _optimizer_knows(model_type)
    levels = tuple(_level_support(name, model_type, optimizer_knows, provider) for name in OPTIMIZATION_LEVELS)
    if level is not None:
        chosen = next(s for s in levels if s.level == level)
        if not chosen.applies:
            reasons.append(f"optimize={level}: {chosen.note}")
        else:
            note = fusion_note(model_type, level)
            if note:
                notes.append(note)
    # The "-plain" modes are the same recipes without the int8 guard: they apply where their base mode does.
    int8_modes = tuple(m for m in QUANTIZE_MODES if not m.endswith("-plain")
                       and (m != "static" or model_type not in STATIC_INT8_UNSUPPORTED))
    if not exportable:
        int8_modes = ()
    if mode is not None and mode.startswith("static") and model_type in STATIC_INT8_UNSUPPORTED:
        reasons.append(f"quantize={mode!r} on model_type {model_type!r}: {STATIC_INT8_UNSUPPORTED[model_type]}.")

    parameters = _parameter_count(folder, spec) if count_parameters and not custom_code else None
    expected = _expected_sizes(parameters)
    requested = "+".join(p for p in (level, f"int8-{mode}" if mode else None) if p) or "fp32"
    return SupportReport(
        model=str(folder), model_type=model_type, task=spec.name, export_task=spec.export_task,
        exportable=exportable, exportable_tasks=tuple(exportable_tasks), opset=_opset(model_type, spec),
        levels=levels, int8_modes=tuple(int8_modes), isa=detect_cpu_isa(), custom_code=custom_code,
        parameters=parameters[0] if parameters else None, expected_mb=expected, requested=requested,
        reasons=tuple(reasons), notes=tuple(notes),
    )


def require_supported(model: str | Path, task: str | TaskSpec, *, optimize: Any = None, quantize: Any = None,
                      provider: str = "cpu", trust_remote_code: bool = False) -> SupportReport:
    """:func:`check_model`, raising when the plan cannot be built and logging what it will not fuse.

    Used by ``load_pipeline`` before it exports anything. ``optimize`` / ``quantize`` may also be resolved
    settings (anything with a ``label`` / ``is_static``); a custom Optimum config is checked as its kind.

    Raises:
        TaskMismatchError, InvalidModelError: The head does not fit the task (as the export would say).
        UnsupportedArchitectureError: With every reason, when the requested plan is not supported.
    """
    from onnx_pipelines.export import check_head

    spec = task if isinstance(task, TaskSpec) else get_task(task)
    check_head(_read_config(Path(model)), spec, Path(model))
    report = check_model(model, spec, optimize=_level_name(optimize), quantize=_mode_name(quantize),
                         provider=provider, trust_remote_code=trust_remote_code, count_parameters=False)
    if not report.supported:
        raise UnsupportedArchitectureError(
            f"{report.requested} of {report.model} ({report.model_type}) for {report.task} cannot be built: "
            + " ".join(report.reasons)
            + f" Run `onnx-pipelines check {report.model} --task {report.task}` for what does apply."
        )
    for note in report.notes:
        logger.warning("%s", note)
    return report


def _level_name(optimize: Any) -> str | None:
    label = getattr(optimize, "label", optimize)
    return label if label is None or (isinstance(label, str) and label.upper() in OPTIMIZATION_LEVELS) else None


def _mode_name(quantize: Any) -> str | None:
    if quantize is None or isinstance(quantize, str):
        return quantize
    return "static" if getattr(quantize, "is_static", False) else "dynamic"


def _level(optimize: str | None) -> str | None:
    if optimize is None:
        return None
    if not isinstance(optimize, str) or optimize.upper() not in OPTIMIZATION_LEVELS:
        raise InvalidConfigError(f"optimize={optimize!r} is not valid; use one of {', '.join(OPTIMIZATION_LEVELS)}.")
    return optimize.upper()


def _mode(quantize: str | None) -> str | None:
    if quantize is None:
        return None
    if not isinstance(quantize, str) or quantize.lower() not in QUANTIZE_MODES:
        raise InvalidConfigError(f"quantize={quantize!r} is not valid; use one of {', '.join(QUANTIZE_MODES)}.")
    return quantize.lower()


def _read_config(folder: Path) -> dict[str, Any]:
    if not folder.exists():
        raise ModelNotFoundError(f"Model path {str(folder)!r} does not exist. Pass a folder holding config.json.")
    path = folder / "config.json"
    if not path.is_file():
        raise InvalidModelError(f"{str(folder)!r} has no config.json: pass the folder a model was saved into.")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidModelError(f"{str(path)!r} is not valid JSON ({e}).") from e
    if not isinstance(config, dict) or not config.get("model_type"):
        raise InvalidModelError(f"{str(path)!r} names no model_type, so its architecture is unknown.")
    return config


def _needs_custom_code(config: dict[str, Any]) -> bool:
    from transformers import CONFIG_MAPPING

    return bool(config.get("auto_map")) or str(config["model_type"]) not in CONFIG_MAPPING


def _custom_code_origin(config: dict[str, Any]) -> str:
    auto_map = config.get("auto_map")
    if auto_map:
        return "config.json auto_map: " + ", ".join(f"{k} -> {v}" for k, v in sorted(auto_map.items()))
    return f"transformers {_transformers_version()} has no built-in model_type {config['model_type']!r}"


def _transformers_version() -> str:
    import transformers

    return str(transformers.__version__)


def _exporter_tasks(model_type: str) -> list[str]:
    import optimum.exporters.onnx.model_configs  # noqa: F401  (importing it registers the ONNX configs)
    from optimum.exporters.tasks import TasksManager

    try:
        tasks = TasksManager.get_supported_tasks_for_model_type(model_type, exporter="onnx",
                                                                library_name="transformers")
    except (KeyError, ValueError):
        return []
    return sorted(tasks)


def _opset(model_type: str, spec: TaskSpec) -> int | None:
    from optimum.exporters.tasks import TasksManager

    try:
        constructor = TasksManager.get_exporter_config_constructor(
            "onnx", model_type=model_type, task=spec.export_task, library_name="transformers")
    except (KeyError, ValueError):
        return None
    config_class = getattr(constructor, "func", constructor)
    opset = getattr(config_class, "DEFAULT_ONNX_OPSET", None)
    return int(opset) if opset is not None else None


def _optimizer_knows(model_type: str) -> bool:
    from optimum.onnxruntime.utils import ORTConfigManager

    return model_type in ORTConfigManager._conf or model_type.replace("-", "_") in ORTConfigManager._conf


def _level_support(level: str, model_type: str, optimizer_knows: bool, provider: str) -> LevelSupport:
    fusions = expected_fusions(model_type, level)
    if not optimizer_knows:
        return LevelSupport(level, False, None,
                            f"ORTOptimizer has no fusion settings for model_type {model_type!r}")
    if level == "O4" and provider.lower() in ("cpu", "cpuexecutionprovider"):
        return LevelSupport(level, False, fusions, "O4 converts the graph to fp16, which needs a GPU (provider='cuda')")
    note = ""
    if fusions is not None and level != "O1" and "Attention" not in fusions:
        note = "attention is not fused for this family"
    elif fusions is None:
        note = "fusions not measured for this model type"
    return LevelSupport(level, True, fusions, note)


def _head_mismatch(config: dict[str, Any], spec: TaskSpec) -> str | None:
    from onnx_pipelines.errors import OnnxPipelinesError
    from onnx_pipelines.export import check_head

    try:
        check_head(config, spec, Path("."))
    except OnnxPipelinesError as e:
        return str(e)
    return None


def _parameter_count(folder: Path, spec: TaskSpec) -> tuple[int, int] | None:
    """``(all parameters, parameters the int8 quantizer converts)``, from the architecture on the meta device."""
    try:
        import torch
        from transformers import AutoConfig

        hf_config = AutoConfig.from_pretrained(folder)
        with torch.device("meta"):
            model = spec.load_torch_class().from_config(hf_config)
    except Exception as e:  # an architecture transformers cannot build from this config
        logger.info("Cannot count parameters from the config: %s", e)
        return None
    total = sum(param.numel() for param in model.parameters())  # tied weights once
    quantized = sum(module.weight.numel() for module in model.modules()
                    if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)))
    return total, quantized


def _expected_sizes(parameters: tuple[int, int] | None) -> dict[str, float]:
    if parameters is None:
        return {}
    total, quantized = parameters
    fp32 = total * FP32_BYTES / 1e6
    int8 = (quantized * INT8_BYTES + (total - quantized) * FP32_BYTES) / 1e6
    return {"fp32": round(fp32, 1), "int8": round(int8, 1)}
