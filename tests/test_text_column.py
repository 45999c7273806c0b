"""text_column.column_items: the one reader of a text column from a list or a datasets.Dataset."""

from __future__ import annotations

import pytest

from onnx_pipelines.errors import DatasetError, InvalidInputError
from onnx_pipelines.text_column import column_items


def test_reads_a_list_and_a_dataset_column() -> None:
    import datasets

    assert column_items(["a", "b"], "text", what="data", error=InvalidInputError, column_option="column") == ["a", "b"]
    rows = datasets.Dataset.from_dict({"body": ["x", "y"], "label": [0, 1]})
    assert column_items(rows, "body", what="data", error=InvalidInputError, column_option="column") == ["x", "y"]


def test_errors_name_the_problem_and_the_fix() -> None:
    import datasets

    with pytest.raises(InvalidInputError, match="not a single string"):
        column_items("one text", "text", what="data", error=InvalidInputError, column_option="column")
    with pytest.raises(InvalidInputError, match="of type int"):
        column_items(3, "text", what="data", error=InvalidInputError, column_option="column")
    rows = datasets.Dataset.from_dict({"body": ["x"]})
    with pytest.raises(DatasetError, match=r"no column 'text' \(columns: body\); pass text_column=\.\.\."):
        column_items(rows, "text", what="data", error=InvalidInputError, column_error=DatasetError,
                     column_option="text_column")
