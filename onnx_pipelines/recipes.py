"""Recipe files: one resolved build request saved as JSON, to build exactly the same variant again.

A recipe is :meth:`~onnx_pipelines.build_request.BuildRequest.to_dict` under a small header::

    {"format": "onnx-pipelines-recipe", "version": 1, "notes": {...}, "request": {...}}

``notes`` is free-form (``tune`` writes what it measured there); ``request`` is resolved again by
:meth:`BuildRequest.from_dict`, so a recipe goes through the same resolution, build chain and cache keys
as every other entry point: the same recipe reuses the cached artifact, and two recipes that differ in
any build setting (per-channel, pinned ``fp32_nodes``, calibration texts ...) build different ones.

Recipes are read by ``load_pipeline(recipe=PATH)``, ``serve --recipe``, ``export --recipe``, and as the
variant ``recipe:PATH`` by ``parity`` and ``bench``.

Example:
    >>> request = resolve_build_request("text-classification", "models/bbc", optimize="O2",
    ...                                 quantize="dynamic")  # doctest: +SKIP
    >>> save_recipe(request, "bbc.recipe.json", notes={"why": "fastest within 0.5 points"})  # doctest: +SKIP
    >>> pipe = load_pipeline(recipe="bbc.recipe.json")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onnx_pipelines.build_request import REQUEST_FORMAT, BuildRequest
from onnx_pipelines.errors import InvalidConfigError

if TYPE_CHECKING:
    from onnx_pipelines.config import Variant

#: The ``format`` value of every recipe file.
RECIPE_FORMAT = "onnx-pipelines-recipe"
#: Version of the recipe header (the request inside carries its own ``format``).
RECIPE_VERSION = 1
#: How a recipe is named where a variant is expected (``parity --variants recipe:PATH``).
RECIPE_PREFIX = "recipe:"


def recipe_dict(request: BuildRequest, *, notes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document of a recipe for ``request``.

    Raises:
        InvalidConfigError: The request was built from an Optimum config object (it has no name to save).
    """
    return {"format": RECIPE_FORMAT, "version": RECIPE_VERSION, "notes": dict(notes or {}),
            "request": request.to_dict()}


def save_recipe(request: BuildRequest, path: str | os.PathLike[str], *,
                notes: Mapping[str, Any] | None = None) -> Path:
    """Write ``request`` as a recipe file (atomically: a reader never sees half a file).

    Args:
        request: The resolved request (:func:`~onnx_pipelines.build_request.resolve_build_request`).
        path: Where to write it (parent folders are created).
        notes: JSON-safe facts to keep beside the request, e.g. what ``tune`` measured.

    Returns:
        The written path.

    Raises:
        InvalidConfigError: The request cannot be saved, or ``notes`` is not JSON-safe.
    """
    target = Path(path).expanduser()
    try:
        text = json.dumps(recipe_dict(request, notes=notes), indent=2, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidConfigError(f"Recipe notes must be JSON-safe (str, numbers, lists, dicts): {e}") from e
    write_text_atomically(target, text + "\n")
    return target


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary sibling and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_recipe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a recipe file's header; returns the whole document (``notes``, ``request``).

    Raises:
        InvalidConfigError: A missing file, bad JSON, or not a recipe of a known version.
    """
    source = Path(path).expanduser()
    if not source.is_file():
        raise InvalidConfigError(
            f"Recipe {str(source)!r} does not exist. Pass the recipe.json written by `onnx-pipelines tune` (in its "
            "--output folder) or by onnx_pipelines.recipes.save_recipe()."
        )
    try:
        data = json.loads(source.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidConfigError(f"Recipe {str(source)!r} is not valid JSON ({e}); write it again with "
                                 "save_recipe() or `onnx-pipelines tune`.") from e
    if not isinstance(data, dict) or data.get("format") != RECIPE_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise InvalidConfigError(
            f"{str(source)!r} is not an onnx-pipelines recipe (format {found!r}, expected {RECIPE_FORMAT!r}). "
            "A recipe is the recipe.json written by `onnx-pipelines tune` or save_recipe()."
        )
    if data.get("version") != RECIPE_VERSION or not isinstance(data.get("request"), dict):
        raise InvalidConfigError(
            f"Recipe {str(source)!r} has version {data.get('version')!r} (this onnx-pipelines reads version "
            f"{RECIPE_VERSION} with a 'request' object): upgrade onnx-pipelines or run tune again."
        )
    if data["request"].get("format") != REQUEST_FORMAT:
        raise InvalidConfigError(
            f"Recipe {str(source)!r} holds a build request of format {data['request'].get('format')!r}; this "
            f"version reads format {REQUEST_FORMAT}. Run tune again to write a new recipe."
        )
    return data


def load_recipe(path: str | os.PathLike[str], model: str | os.PathLike[str] | None = None, *,
                provider: str | None = None, intra_op_threads: int | None = None) -> BuildRequest:
    """Resolve a recipe file into a build request.

    Args:
        path: The recipe file.
        model: Build the recipe's variant of this model folder instead of the one it names (a copy of the
            tuned model, or the same model moved elsewhere).
        provider: Run on this provider instead of the recipe's.
        intra_op_threads: Use this many ONNX Runtime threads instead of the recipe's.

    Returns:
        The resolved request (resolved as every other entry point resolves one).

    Raises:
        InvalidConfigError: The file is missing, not JSON, not a recipe, or names a model folder that no
            longer exists (pass ``model=``); plus whatever
            :func:`~onnx_pipelines.build_request.resolve_build_request` raises for its values.
    """
    data = read_recipe(path)
    request = dict(data["request"])
    if model is not None:
        request["model"], request["revision"] = os.fspath(model), None
    elif _is_missing_folder(str(request.get("model", ""))):
        raise InvalidConfigError(
            f"Recipe {os.fspath(path)!r} was made for the model folder {request.get('model')!r}, which no longer "
            "exists. Pass the model to build it for: load_pipeline(recipe=..., model=FOLDER), or --model/MODEL on "
            "the command line."
        )
    if provider is not None:
        request["provider"] = provider
    if intra_op_threads is not None:
        request["intra_op_threads"] = intra_op_threads
    return BuildRequest.from_dict(request)


def _is_missing_folder(model: str) -> bool:
    """Whether the recipe's model is a local path (not a hub id) that is gone."""
    path = Path(model).expanduser()
    looks_local = path.is_absolute() or model.startswith((".", "~")) or model.count("/") > 1
    return looks_local and not path.exists()


def recipe_variant(path: str | os.PathLike[str]) -> Variant:
    """The variant a recipe builds (``O2+int8-dynamic``, ``openvino:int8`` ...), read without resolving it."""
    from onnx_pipelines.config import Variant

    request = read_recipe(path)["request"]
    quantize = request.get("quantize") or {}
    runtime = request.get("runtime") or "onnxruntime"
    if runtime == "openvino":
        return Variant(runtime="openvino", precision=request.get("precision") or "fp32")
    return Variant(optimize=request.get("optimize"), quantize=quantize.get("mode"))


def recipe_task(path: str | os.PathLike[str]) -> str:
    """The task a recipe builds for (canonical name)."""
    return str(read_recipe(path)["request"]["task"])


def recipe_model(path: str | os.PathLike[str]) -> str:
    """The model (folder or hub id) a recipe names."""
    return str(read_recipe(path)["request"]["model"])


def is_recipe_spec(text: str) -> bool:
    """Whether a variant string names a recipe (``recipe:PATH``)."""
    return text.strip().lower().startswith(RECIPE_PREFIX)


def recipe_spec_path(text: str) -> Path:
    """The path in a ``recipe:PATH`` variant string.

    Raises:
        InvalidConfigError: ``recipe:`` without a path.
    """
    path = text.strip()[len(RECIPE_PREFIX):].strip()
    if not path:
        raise InvalidConfigError("Variant 'recipe:' needs a path: recipe:tune-out/recipe.json.")
    return Path(path).expanduser()


__all__ = [
    "RECIPE_FORMAT",
    "RECIPE_PREFIX",
    "RECIPE_VERSION",
    "is_recipe_spec",
    "load_recipe",
    "read_recipe",
    "recipe_dict",
    "recipe_model",
    "recipe_spec_path",
    "recipe_task",
    "recipe_variant",
    "save_recipe",
]
