"""Evaluation datasets: load them through ``datasets`` and check they hold what a task needs.

A source is a local data file, a folder saved with ``save_to_disk``, a folder of data files, or (for
online users) a Hugging Face Hub dataset name. :func:`load_eval_dataset` picks the split, checks the
columns a task needs (mapped by :class:`ColumnMapping`), checks NER rows, and takes the first or a
seeded random subset of rows. :func:`encode_labels` maps a label column to a model's label ids.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from datasets.exceptions import DatasetsError

from onnx_pipelines.errors import DatasetError, InvalidConfigError

# Data file suffix -> (``datasets`` builder, builder arguments).
_FILE_BUILDERS: dict[str, tuple[str, dict[str, str]]] = {
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"sep": "\t"}),
    ".parquet": ("parquet", {}),
}
# What ``datasets`` raises for unreadable, unreachable or malformed data (pyarrow's errors subclass
# ValueError / OSError).
_LOAD_ERRORS = (DatasetsError, OSError, ValueError)


@dataclass(frozen=True)
class ColumnMapping:
    """Which dataset column holds each input of a task (a *role*); ``None`` means not mapped.

    Attributes:
        text: The text to classify.
        text_pair: The second text of sentence-pair tasks.
        label: The class label (a name such as "business", or an id).
        tokens: The list of words of each sentence (NER).
        tags: The list of tags of each sentence, one per word (NER); needs ``tokens``.
        question: The question (extractive QA).
        context: The passage holding the answer (extractive QA).
        answers: The gold answers, SQuAD style (extractive QA); needs ``question`` and ``context``.

    Raises:
        InvalidConfigError: A column name is empty or not a string, or a role is mapped without
            the roles it needs.

    Example:
        >>> ner_columns = ColumnMapping(tokens="tokens", tags="ner_tags", label=None)
    """

    text: str = "text"
    text_pair: str | None = None
    label: str | None = "label"
    tokens: str | None = None
    tags: str | None = None
    question: str | None = None
    context: str | None = None
    answers: str | None = None

    def __post_init__(self) -> None:
        for role in ROLES:
            column = getattr(self, role)
            if column is None and role != "text":
                continue
            if not isinstance(column, str) or not column.strip():
                allowed = "a column name" if role == "text" else "a column name or None"
                raise InvalidConfigError(f"ColumnMapping.{role}={column!r} is not valid: pass {allowed}.")
        if self.tags is not None and self.tokens is None:
            raise InvalidConfigError(
                f"ColumnMapping.tags={self.tags!r} needs the word column too: set tokens (--tokens-column)."
            )
        if self.answers is not None and (self.question is None or self.context is None):
            raise InvalidConfigError(
                f"ColumnMapping.answers={self.answers!r} needs the question and context columns too: "
                "set question and context (--question-column, --context-column)."
            )


ROLES: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(ColumnMapping))
"""The roles a :class:`ColumnMapping` maps, in order; the names ``required`` accepts."""


def load_eval_dataset(
    source: str | os.PathLike[str],
    *,
    split: str | None = None,
    config_name: str | None = None,
    columns: ColumnMapping | None = None,
    required: Sequence[str] = ("text",),
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
) -> datasets.Dataset:
    """Load one split of an evaluation dataset and check it holds the columns a task needs.

    Args:
        source: A data file (.json, .jsonl, .csv, .tsv, .parquet), a folder saved with
            ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``, a folder of data files (split
            by file name, e.g. ``train.jsonl`` and ``test.jsonl``), or a Hub dataset name (needs
            internet access).
        split: The split to use; may be omitted when the source has only one (a single data file
            is one split, named "train").
        config_name: The Hub dataset configuration (or one declared by a data folder's README).
        columns: Which column holds each role; defaults to ``ColumnMapping()``.
        required: The roles (:data:`ROLES`) the task needs; each must be mapped and present.
        limit: Keep only the first ``limit`` rows.
        sample: Keep a random ``sample`` rows (all rows if there are fewer), chosen with ``seed``
            and kept in their original order. Not together with ``limit``.
        seed: The seed of ``sample``.

    Returns:
        The selected rows.

    Raises:
        DatasetError: The source cannot be found or read, the split does not exist, the dataset is
            empty, a required column is missing, or an NER row does not have one tag per word.
        InvalidConfigError: ``required`` names an unknown role, ``limit`` / ``sample`` is not a
            positive integer or both are given, or ``config_name`` is given for a file or saved
            dataset.

    Example:
        >>> ds = load_eval_dataset("../shared/data/bbc-news/test.jsonl", required=("text", "label"))
        >>> ds.num_rows
        448
    """
    columns = columns or ColumnMapping()
    unknown_roles = [role for role in required if role not in ROLES]
    if unknown_roles:
        raise InvalidConfigError(
            f"Unknown required role(s) {unknown_roles}: use names from {', '.join(ROLES)}."
        )
    _check_positive("limit", limit)
    _check_positive("sample", sample)
    if limit is not None and sample is not None:
        raise InvalidConfigError("Pass limit (the first N rows) or sample (N random rows), not both.")

    with _no_progress_bars():  # datasets' 'Generating train split' bars are not ours to print
        data = _load_source(source, split=split, config_name=config_name)
    dataset = _select_split(data, split, source)
    if dataset.num_rows == 0:
        raise DatasetError(
            f"Dataset {os.fspath(source)!r} (split {dataset.split}) has no rows: nothing to evaluate."
        )
    _check_columns(dataset, columns, required, source)

    indices: Sequence[int] = range(dataset.num_rows)
    if limit is not None:
        indices = range(min(limit, dataset.num_rows))
    elif sample is not None and sample < dataset.num_rows:
        indices = sorted(random.Random(seed).sample(range(dataset.num_rows), sample))
    if len(indices) < dataset.num_rows:
        dataset = dataset.select(indices)
    _check_ner_rows(dataset, columns, indices, source)
    return dataset


def encode_labels(dataset: datasets.Dataset, column: str, label2id: Mapping[str, int]) -> list[int]:
    """Map a label column to label ids: names through ``label2id``, ids as they are.

    Args:
        dataset: The dataset.
        column: The label column; its values are label names (str) or label ids (int).
        label2id: The model's label names and ids (``config.label2id``).

    Returns:
        One label id per row.

    Raises:
        DatasetError: The column is missing, or holds names or ids not in ``label2id``.

    Example:
        >>> label2id = {"business": 0, "entertainment": 1, "politics": 2, "sports": 3, "tech": 4}
        >>> encode_labels(ds, "label_name", label2id)[:3]
        [0, 0, 0]
    """
    if column not in dataset.column_names:
        raise DatasetError(
            f"Label column {column!r} not found; columns present: {', '.join(dataset.column_names)}. "
            "Choose the label column with --label-column NAME (ColumnMapping(label=NAME))."
        )
    known_ids = set(label2id.values())
    encoded: list[int] = []
    unknown: dict[str, int] = {}  # repr of an unknown label -> first row holding it
    for row, value in enumerate(dataset[column]):
        if isinstance(value, str) and value in label2id:
            encoded.append(label2id[value])
        elif isinstance(value, int) and not isinstance(value, bool) and value in known_ids:
            encoded.append(value)
        else:
            unknown.setdefault(repr(value), row)
    if unknown:
        found = ", ".join(f"{label} (first at row {row})" for label, row in list(unknown.items())[:10])
        known = ", ".join(f"{name!r}={label_id}" for name, label_id in label2id.items())
        raise DatasetError(
            f"Column {column!r} holds labels the model does not know: {found}. The model's labels are "
            f"{known}. Check --label-column, and that the dataset matches the model."
        )
    return encoded


def _check_positive(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise InvalidConfigError(f"{name}={value!r} is not valid: pass a positive number of rows, or None.")


@contextmanager
def _no_progress_bars() -> Iterator[None]:
    """Turn ``datasets``' own progress bars off for the block (and back on if they were on)."""
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def _load_source(
    source: str | os.PathLike[str], *, split: str | None, config_name: str | None
) -> datasets.Dataset | datasets.DatasetDict:
    path = Path(source).expanduser()
    if path.is_file() or _is_saved_dataset(path):
        if config_name is not None:
            raise InvalidConfigError(
                f"config_name={config_name!r} applies to Hub datasets and data folders, not to {path}: "
                "drop it."
            )
        return _read_file(path) if path.is_file() else _read_saved(path)
    if path.is_dir():
        return _read(f"the data files in folder {path}", str(path), config_name)
    if _looks_local(source):
        raise DatasetError(f"Dataset file or folder not found: {path}. Check the path.")
    try:
        return datasets.load_dataset(source, config_name, split=split)
    except _LOAD_ERRORS as e:
        raise DatasetError(
            f"Could not load {source!r} (config {config_name!r}, split {split!r}) from the Hugging Face "
            f"Hub: {e}. A Hub dataset needs internet access; offline, pass a local data file "
            f"({', '.join(_FILE_BUILDERS)}) or a folder saved with save_to_disk. (No local file or folder "
            f"{str(path)!r} exists either.)"
        ) from e


def _looks_local(source: str | os.PathLike[str]) -> bool:
    """Whether a source that does not exist was meant as a local path rather than a Hub name."""
    if not isinstance(source, str):
        return True
    path = Path(source)
    return (
        path.is_absolute()
        or source.startswith((".", "~"))
        or path.suffix.lower() in _FILE_BUILDERS
        or source.count("/") > 1  # Hub names are "name" or "owner/name"
    )


def _is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def _read_file(path: Path) -> datasets.Dataset | datasets.DatasetDict:
    suffix = path.suffix.lower()
    if suffix not in _FILE_BUILDERS:
        raise DatasetError(
            f"Cannot read {path}: unsupported suffix {suffix!r}. Use one of {', '.join(_FILE_BUILDERS)}, "
            "or a folder saved with save_to_disk."
        )
    if path.stat().st_size == 0:
        raise DatasetError(f"Dataset file {path} is empty: nothing to evaluate.")
    builder, kwargs = _FILE_BUILDERS[suffix]
    return _read(f"{path} as {builder}", builder, None, data_files=str(path), **kwargs)


def _read(
    what: str, path: str, config_name: str | None, **kwargs: Any
) -> datasets.Dataset | datasets.DatasetDict:
    try:
        return datasets.load_dataset(path, config_name, **kwargs)
    except _LOAD_ERRORS as e:
        raise DatasetError(f"Could not read {what}: {_reason(e)}") from e


def _read_saved(path: Path) -> datasets.Dataset | datasets.DatasetDict:
    try:
        data = datasets.load_from_disk(str(path))
    # IndexError: datasets saves an empty dataset without data shards and then fails to load it.
    except (*_LOAD_ERRORS, IndexError) as e:
        raise DatasetError(f"Could not read the dataset saved in {path}: {_reason(e)}") from e
    if isinstance(data, datasets.Dataset):
        # One saved split: name it as it was saved, so that asking for another split fails clearly.
        return datasets.DatasetDict({str(data.split) if data.split is not None else "train": data})
    return data


def _select_split(
    data: datasets.Dataset | datasets.DatasetDict, split: str | None, source: str | os.PathLike[str]
) -> datasets.Dataset:
    if isinstance(data, datasets.Dataset):  # a Hub dataset loaded with split=...
        return data
    names = list(data)
    if split is None and len(names) == 1:
        return data[names[0]]
    if split is None:
        raise DatasetError(
            f"{os.fspath(source)!r} has several splits ({', '.join(names)}): choose one with --split NAME."
        )
    if split not in data:
        raise DatasetError(
            f"Split {split!r} not found in {os.fspath(source)!r}; its splits are: {', '.join(names)}. "
            "Pass one of these with --split (a single data file is one split, named 'train')."
        )
    return data[split]


def _check_columns(
    dataset: datasets.Dataset, columns: ColumnMapping, required: Sequence[str], source: str | os.PathLike[str]
) -> None:
    problems = []
    for role in required:
        column = getattr(columns, role)
        if column is None:
            problems.append(f"no {role} column is mapped (map it with {_flag(role)} NAME)")
        elif column not in dataset.column_names:
            problems.append(f"the {role} column {column!r} is missing (map it with {_flag(role)} NAME)")
    if problems:
        raise DatasetError(
            f"Dataset {os.fspath(source)!r} lacks columns the task needs: {'; '.join(problems)}. Columns "
            f"present: {', '.join(dataset.column_names)}. In Python, pass ColumnMapping(<role>=NAME)."
        )


def _check_ner_rows(
    dataset: datasets.Dataset, columns: ColumnMapping, indices: Sequence[int], source: str | os.PathLike[str]
) -> None:
    present = dataset.column_names
    if columns.tokens is None or columns.tags is None or not {columns.tokens, columns.tags} <= set(present):
        return
    for position, (words, tags) in enumerate(
        zip(dataset[columns.tokens], dataset[columns.tags], strict=True)
    ):
        if not isinstance(words, list) or not isinstance(tags, list) or len(words) != len(tags):
            raise DatasetError(
                f"Row {indices[position]} of {os.fspath(source)!r} does not pair each word with one tag: "
                f"{columns.tokens!r} holds {_describe(words)} and {columns.tags!r} holds {_describe(tags)}. "
                "Fix or drop that row, or check --tokens-column / --tags-column."
            )


def _reason(error: Exception) -> str:
    """An error's message, with its cause's: ``datasets`` hides parse errors behind a generic one."""
    return f"{error} ({error.__cause__})" if error.__cause__ is not None else str(error)


def _flag(role: str) -> str:
    """The command-line flag that maps a role, e.g. ``--text-pair-column``."""
    return f"--{role.replace('_', '-')}-column"


def _describe(value: object) -> str:
    return f"{len(value)} items" if isinstance(value, list) else f"a {type(value).__name__}, not a list"


__all__ = ["ROLES", "ColumnMapping", "encode_labels", "load_eval_dataset"]
