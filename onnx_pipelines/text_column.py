"""Read the items of one text column from what users pass as data: a list, or a ``datasets.Dataset``.

The one rule for it: calibration data (:func:`onnx_pipelines.build_request.calibration_texts`) and dataset
prediction (:func:`onnx_pipelines.pipelines.dataset_prediction.dataset_items`) both read their inputs here,
each raising its own error type with its own fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def column_items(data: Any, column: str, *, what: str, error: type[Exception], column_option: str,
                 column_error: type[Exception] | None = None) -> list[Any]:
    """The items of ``data``: ``data[column]`` of a ``datasets.Dataset``, or the items of a list/iterable.

    Args:
        data: A list (or other iterable) of items, or anything with ``column_names`` (a ``datasets.Dataset``).
        column: The column to read from a dataset.
        what: How to name ``data`` in messages (e.g. ``"calibration_dataset"``).
        error: The exception type to raise.
        column_option: The argument that picks the column (named in the fix).
        column_error: The exception type for a missing column (default: ``error``).

    Raises:
        error: A single string, or a type that holds no items.
        column_error: A dataset without ``column``.
    """
    if isinstance(data, (str, bytes)):
        raise error(f"{what} must be a list of texts or a datasets.Dataset, not a single string.")
    column_names = getattr(data, "column_names", None)
    if column_names is not None:
        if column not in column_names:
            raise (column_error or error)(f"{what} has no column {column!r} (columns: {', '.join(column_names)}); "
                        f"pass {column_option}=...")
        return list(data[column])
    if isinstance(data, Iterable):
        return list(data)
    raise error(f"Cannot read texts from {what} of type {type(data).__name__}: pass a list or a datasets.Dataset.")
