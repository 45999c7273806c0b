"""Pick the rows that calibrate static-int8 variants, preferring rows the evaluation never sees.

Calibrating on the rows you then score flatters the quantized model. In order of preference:

1. ``calibration-data``: a separate file the user gives (a seeded sample of it);
2. ``held-out-rows``: rows of the evaluation split whose text is not among the evaluated rows (when
   ``limit`` / ``sample`` leave enough of them);
3. ``evaluated-rows``: a seeded sample of the whole split, overlapping the evaluated rows; the
   report says so and counts the overlap.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from onnx_pipelines.config import CalibrationMethod
from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.eval_data import ColumnMapping, load_eval_dataset
from onnx_pipelines.parity.results import Calibration


@dataclass(frozen=True)
class CalibrationSettings:
    """How static-int8 variants (``int8-static``, ``O2+int8-static`` ...) are calibrated.

    Attributes:
        method: ``minmax``, ``entropy`` or ``percentile`` (99.999th).
        samples: Rows used to calibrate.
        data: A separate calibration source (file, saved dataset or hub name) with the same text
            column; ``None`` samples the evaluation split.
        split: Split of ``data``, when it has several.

    Raises:
        InvalidConfigError: Unknown method, or ``samples`` is not a positive integer.
    """

    method: str = CalibrationMethod.MINMAX.value
    samples: int = 128
    data: str | os.PathLike[str] | None = None
    split: str | None = None

    def __post_init__(self) -> None:
        try:
            CalibrationMethod(self.method)
        except ValueError as e:
            allowed = ", ".join(m.value for m in CalibrationMethod)
            raise InvalidConfigError(f"calibration method {self.method!r} is not valid; use one of {allowed}.") from e
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise InvalidConfigError(f"calibration samples={self.samples!r} is not valid: pass a positive integer.")


def choose_calibration_texts(settings: CalibrationSettings, *, pool: Any, columns: ColumnMapping,
                             evaluated_texts: Sequence[str], seed: int) -> tuple[list[str], Calibration]:
    """The calibration texts and a record of where they came from.

    Args:
        settings: The calibration settings.
        pool: The whole evaluation split (a ``datasets.Dataset``), used when ``settings.data`` is ``None``.
        columns: Column mapping; the text column is read (text pairs calibrate on their first text).
        evaluated_texts: Texts of the evaluated rows, to keep calibration disjoint from them.
        seed: Seed of the random sample.

    Raises:
        DatasetError: The calibration data cannot be loaded or lacks the text column.
    """
    evaluated = set(evaluated_texts)
    if settings.data is not None:
        data = load_eval_dataset(settings.data, split=settings.split,
                                 columns=ColumnMapping(text=columns.text, label=None), required=("text",))
        texts = _sample([str(t) for t in data[columns.text]], settings.samples, seed)
        overlap = sum(t in evaluated for t in texts)
        where = f"the separate calibration data {os.fspath(settings.data)!r}"
        description = f"Calibrated ({settings.method}) on {len(texts)} rows of {where}"
        description += f"; {overlap} of them also appear among the evaluated rows." if overlap else \
            ", disjoint from the evaluated rows."
        return texts, Calibration(settings.method, len(texts), "calibration-data", overlap, seed, description)
    all_texts = [str(t) for t in pool[columns.text]]
    held_out = [t for t in all_texts if t not in evaluated]
    if len(held_out) >= settings.samples:
        texts = _sample(held_out, settings.samples, seed)
        description = (
            f"Calibrated ({settings.method}) on a seeded sample (seed {seed}) of {len(texts)} rows of the "
            f"evaluation split that are not evaluated (disjoint). Pass --calibration-data to calibrate on "
            "a separate file."
        )
        return texts, Calibration(settings.method, len(texts), "held-out-rows", 0, seed, description)
    texts = _sample(all_texts, settings.samples, seed)
    overlap = sum(t in evaluated for t in texts)
    description = (
        f"Calibrated ({settings.method}) on a seeded sample (seed {seed}) of {len(texts)} rows of the evaluation "
        f"split; {overlap} of them are also evaluated, which can flatter int8-static. Pass --calibration-data "
        "FILE (e.g. your training split) to calibrate on separate rows."
    )
    return texts, Calibration(settings.method, len(texts), "evaluated-rows", overlap, seed, description)


def _sample(texts: list[str], count: int, seed: int) -> list[str]:
    if len(texts) <= count:
        return list(texts)
    return [texts[i] for i in sorted(random.Random(seed).sample(range(len(texts)), count))]
