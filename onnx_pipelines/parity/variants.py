"""What a variant to evaluate can be: a named recipe (``O2+int8-dynamic``) or a pre-exported ONNX model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from onnx_pipelines.config import Variant
from onnx_pipelines.errors import InvalidConfigError, InvalidModelError, ModelNotFoundError
from onnx_pipelines.recipes import is_recipe_spec, recipe_spec_path
from onnx_pipelines.tasks import TaskSpec


@dataclass(frozen=True)
class VariantSpec:
    """One variant of a parity run.

    Attributes:
        name: How reports name it: the canonical variant name, or the path as given.
        variant: The recipe built from the PyTorch model (``None`` for a pre-exported model).
        path: Folder of a pre-exported model (``None`` for a recipe).
        model_file: The graph file in ``path``.
        recipe: A recipe file (``recipe:PATH``): ``variant`` is what it builds, and the recipe's own settings
            (calibration texts included) build it, for the run's model.
    """

    name: str
    variant: Variant | None = None
    path: Path | None = None
    model_file: str | None = None
    recipe: Path | None = None


def parse_variant_specs(variants: str | Sequence[str | Variant | os.PathLike[str]],
                        task: TaskSpec) -> list[VariantSpec]:
    """Parse variant names and pre-exported model paths, keeping order and dropping repeats.

    ``recipe:PATH`` names a recipe file (:mod:`onnx_pipelines.recipes`). Any other string is a path when it
    names an existing file or folder, ends in ``.onnx``, or contains a path separator; anything else must be a
    variant name (``fp32``, ``O2``, ``int8-static``, ...).

    Raises:
        InvalidConfigError: An unknown variant name, or no variants.
        ModelNotFoundError, InvalidModelError, TaskMismatchError, CorruptModelError: A pre-exported
            model that is missing, incomplete, for another task, or not valid ONNX.
    """
    items = variants.split(",") if isinstance(variants, str) else list(variants)
    specs: dict[str, VariantSpec] = {}
    for item in items:
        if isinstance(item, Variant):
            spec = VariantSpec(item.name, variant=item)
        elif isinstance(item, str) and is_recipe_spec(item):
            spec = _recipe(recipe_spec_path(item), task)
        elif isinstance(item, os.PathLike) or _looks_like_path(str(item)):
            spec = _pre_exported(Path(os.fspath(item)).expanduser(), str(item).strip(), task)
        else:
            variant = Variant.parse(str(item))
            spec = VariantSpec(variant.name, variant=variant)
        specs.setdefault(spec.name, spec)
    if not specs:
        raise InvalidConfigError("No variants given; use e.g. --variants fp32,O2,O2+int8-dynamic.")
    return list(specs.values())


def _recipe(path: Path, task: TaskSpec) -> VariantSpec:
    from onnx_pipelines.recipes import RECIPE_PREFIX, recipe_task, recipe_variant
    from onnx_pipelines.tasks import get_task

    named = get_task(recipe_task(path)).name
    if named != task.name:
        raise InvalidConfigError(f"Recipe {str(path)!r} builds {named!r}, but this run evaluates {task.name!r}: "
                                 "pass a recipe tuned for this task.")
    return VariantSpec(f"{RECIPE_PREFIX}{path}", variant=recipe_variant(path), recipe=path.resolve())


def _looks_like_path(text: str) -> bool:
    text = text.strip()
    return bool(text) and (text.endswith(".onnx") or os.sep in text or "/" in text or Path(text).exists())


def _pre_exported(path: Path, name: str, task: TaskSpec) -> VariantSpec:
    from onnx_pipelines.artifacts import check_onnx_file
    from onnx_pipelines.export import check_head
    from onnx_pipelines.model_source import ModelSource, check_model_folder

    if not path.exists():
        raise ModelNotFoundError(
            f"Variant {name!r} looks like a path but does not exist. Pass a folder holding model.onnx, config.json "
            "and the tokenizer, an .onnx file inside such a folder, or a variant name such as O2+int8-dynamic."
        )
    folder = path if path.is_dir() else path.parent
    check_model_folder(folder)
    model_file = path.name if path.is_file() else None
    if model_file is None:
        onnx_file = ModelSource(path=folder).onnx_file
        if onnx_file is None:
            raise InvalidModelError(
                f"Variant folder {str(folder)!r} holds no model.onnx (or several .onnx files): pass the .onnx file."
            )
        model_file = onnx_file.name
    check_head(ModelSource(path=folder).config(), task, folder)
    check_onnx_file(folder / model_file)
    return VariantSpec(name=name, path=folder.resolve(), model_file=model_file)
