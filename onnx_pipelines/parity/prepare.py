"""Steps 1-2 of a parity run: check every input before anything slow, then load and tokenize the rows once."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from onnx_pipelines.build_request import BuildRequest
from onnx_pipelines.config import Variant
from onnx_pipelines.errors import InvalidConfigError, InvalidModelError
from onnx_pipelines.eval_data import ColumnMapping, load_eval_dataset
from onnx_pipelines.length_batches import length_sorted_batches
from onnx_pipelines.model_source import ModelSource
from onnx_pipelines.parity.adapters import AdapterContext, TaskAdapter, get_adapter
from onnx_pipelines.parity.calibration import CalibrationSettings
from onnx_pipelines.parity.thresholds import Thresholds
from onnx_pipelines.parity.variants import VariantSpec, parse_variant_specs
from onnx_pipelines.tasks import TaskSpec


@dataclass(frozen=True)
class ParityOptions:
    """Everything a parity run is asked to do (the arguments of :func:`~onnx_pipelines.parity.evaluate_parity`)."""

    model: str | os.PathLike[str]
    task: str
    dataset: str | os.PathLike[str]
    variants: str | Sequence[str | Variant | os.PathLike[str]] = ("fp32",)
    columns: ColumnMapping = field(default_factory=ColumnMapping)
    require_labels: bool = False
    split: str | None = None
    config_name: str | None = None
    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    max_length: int | None = None
    batch_size: int = 32
    max_tokens: int = 16384
    thresholds: Thresholds | None = None
    calibration: CalibrationSettings = field(default_factory=CalibrationSettings)
    provider: str = "auto"
    intra_op_threads: int | None = None
    cache_dir: str | os.PathLike[str] | None = None
    max_disagreements: int = 10
    progress: bool = False
    task_options: Mapping[str, Any] = field(default_factory=dict)
    block_rows: int = 4096

    def __post_init__(self) -> None:
        for name, low in (("batch_size", 1), ("max_tokens", 1), ("max_disagreements", 0), ("seed", 0),
                          ("block_rows", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidConfigError(f"{name}={value!r} is not valid: pass an integer >= {low}.")


@dataclass
class PreparedRun:
    """The checked inputs and the tokenized rows every model of the run is fed.

    Attributes:
        task: The task's registry entry.
        adapter: The task's parity adapter.
        source: The PyTorch model.
        variants: The variants, parsed and checked.
        provider: The resolved ONNX Runtime provider.
        base: The resolved request of the plain model (task, source, runtime settings).
        requests: The resolved request of each recipe variant by name (static int8 ones once calibrated).
        full: The whole split (the calibration pool).
        rows: The evaluated rows.
        row_data: ``rows`` as a dict of column lists.
        use_labels: Whether gold labels are read.
        ctx: What the adapter hooks see.
        batch_indices: Row indices of each batch (length-sorted).
        batches: The tokenized batches, fed unchanged to the reference and every variant.
        truncated: Rows that reach ``max_length``.
        notes: Sentences for the report.
    """

    task: TaskSpec
    adapter: TaskAdapter
    source: ModelSource
    variants: list[VariantSpec]
    provider: str
    base: BuildRequest
    requests: dict[str, BuildRequest] = field(default_factory=dict)
    full: Any = None
    rows: Any = None
    row_data: dict[str, list[Any]] = field(default_factory=dict)
    use_labels: bool = False
    ctx: AdapterContext | None = None
    batch_indices: list[list[int]] = field(default_factory=list)
    batches: list[dict[str, np.ndarray]] = field(default_factory=list)
    truncated: int = 0
    notes: list[str] = field(default_factory=list)


def check_inputs(options: ParityOptions) -> PreparedRun:
    """Resolve task, adapter, variants, provider and model; raise one-line errors before anything slow.

    The model and every recipe variant go through :func:`~onnx_pipelines.build_request.resolve_build_request`,
    as ``load_pipeline`` resolves them; static-int8 variants are resolved once their calibration texts are
    chosen from the dataset (:meth:`ParityEvaluator.request_for`).

    Raises:
        UnsupportedTaskError, InvalidConfigError, ModelNotFoundError, InvalidModelError, TaskMismatchError,
        CorruptModelError, ProviderUnavailableError.
    """
    from onnx_pipelines.build_request import resolve_build_request

    base = resolve_build_request(options.task, os.fspath(options.model), provider=options.provider,
                                 intra_op_threads=options.intra_op_threads)
    adapter = get_adapter(base.task.name)
    variants = parse_variant_specs(options.variants, base.task)
    if not base.source.has_torch_weights:
        raise InvalidModelError(
            f"{str(base.source.path)!r} holds no PyTorch weights (model.safetensors / pytorch_model.bin), so there "
            "is no reference to compare with. Pass the original transformers model folder as MODEL, and a "
            "pre-exported ONNX folder as a variant."
        )
    requests = {
        spec.name: resolve_build_request(base.task, base.source, optimize=spec.variant.optimize,
                                         quantize=spec.variant.quantize, provider=options.provider,
                                         intra_op_threads=options.intra_op_threads, runtime=spec.variant.runtime,
                                         precision=spec.variant.precision)
        for spec in variants if spec.variant is not None and not spec.variant.calibrates and spec.recipe is None
    }
    requests.update({spec.name: recipe_for_run(spec.recipe, base.source.path, options.provider,
                                               options.intra_op_threads)
                     for spec in variants if spec.recipe is not None})
    return PreparedRun(task=base.task, adapter=adapter, source=base.source, variants=variants,
                       provider=base.provider, base=base, requests=requests)


def recipe_for_run(recipe: Any, model: Any, provider: str, intra_op_threads: int | None) -> BuildRequest:
    """A recipe variant's request: the recipe's build settings, for the run's model, on the run's provider."""
    from onnx_pipelines.recipes import load_recipe

    return load_recipe(recipe, model=model, provider=None if provider == "auto" else provider,
                       intra_op_threads=intra_op_threads)


def load_rows(run: PreparedRun, options: ParityOptions) -> None:
    """Load the split and the evaluated rows, decide whether labels are used, set up the adapter context.

    Raises:
        DatasetError: Missing source, split or column; InvalidConfigError: bad limit, sample or max_length.
    """
    from onnx_pipelines.loaders import load_tokenizer

    adapter, columns = run.adapter, options.columns
    required = list(adapter.input_roles)
    required += [role for role in adapter.optional_roles if getattr(columns, role, None) is not None]
    if adapter.label_role and options.require_labels:
        required.append(adapter.label_role)
    common: dict[str, Any] = dict(split=options.split, config_name=options.config_name, columns=columns,
                                  required=tuple(required))
    run.full = load_eval_dataset(options.dataset, **common)
    run.rows = load_eval_dataset(options.dataset, limit=options.limit, sample=options.sample, seed=options.seed,
                                 **common)
    label_column = getattr(columns, adapter.label_role) if adapter.label_role else None
    run.use_labels = bool(label_column and label_column in run.rows.column_names)
    if adapter.label_role is None:
        run.notes.append(f"{run.task.name} has no gold labels: no labels, so no task metric; agreement and "
                         "output differences judge the variants.")
    elif not run.use_labels:
        run.notes.append(f"No labels: the dataset has no {label_column!r} column, so no task metric was "
                         "computed (map the label column with --label-column).")
    config = run.source.config()
    tokenizer = load_tokenizer(run.source.path)
    limit = int(config.get("max_position_embeddings") or 512)
    length = options.max_length or adapter.default_max_length(config, tokenizer, run.source.path)
    if isinstance(length, bool) or not isinstance(length, int) or not 2 <= length <= limit:
        raise InvalidConfigError(f"max_length={length!r} is not valid for this model: pass 2..{limit} "
                                 "(its max_position_embeddings).")
    run.ctx = AdapterContext(model_path=run.source.path, config=config, tokenizer=tokenizer, max_length=length,
                             columns=columns, options=options.task_options)
    run.row_data = run.rows.to_dict()


def tokenize(run: PreparedRun, options: ParityOptions) -> None:
    """Tokenize every row once into length-sorted batches, shared by the reference and all variants.

    Batches are cut inside consecutive blocks of ``options.block_rows`` rows, as the Ray engine cuts its
    work, so both engines feed every model the same batches (int8 outputs depend on a row's batch mates).
    """
    assert run.ctx is not None  # load_rows sets it
    run.batch_indices, run.batches, run.truncated = [], [], 0
    total = len(next(iter(run.row_data.values()), []))
    for start in range(0, total, options.block_rows):
        block = {key: values[start:start + options.block_rows] for key, values in run.row_data.items()}
        indices, batches, lengths = block_batches(run.adapter, block, run.ctx, options)
        run.batch_indices += [[start + i for i in batch] for batch in indices]
        run.batches += batches
        run.truncated += sum(length >= run.ctx.max_length for length in lengths)


def block_batches(adapter: TaskAdapter, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext,
                  options: ParityOptions) -> tuple[list[list[int]], list[dict[str, np.ndarray]], list[int]]:
    """One block's length-sorted batches: ``(row indices in the block, encoded batches, row lengths)``."""
    lengths = adapter.lengths(rows, ctx)
    indices = length_sorted_batches(lengths, max_batch_size=options.batch_size, max_tokens=options.max_tokens)
    batches = [adapter.encode({key: [values[i] for i in batch] for key, values in rows.items()}, ctx)
               for batch in indices]
    return indices, batches, lengths
