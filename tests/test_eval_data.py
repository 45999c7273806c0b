"""Tests of onnx_pipelines.eval_data on the real datasets in ../shared/data."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import datasets
import pytest

from onnx_pipelines.errors import DatasetError, InvalidConfigError
from onnx_pipelines.eval_data import ROLES, ColumnMapping, encode_labels, load_eval_dataset
from tests.fresh_process import run_fresh_python

NER_COLUMNS = ColumnMapping(tokens="tokens", tags="ner_tags", label=None)
NER_REQUIRED = ("tokens", "tags")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bbc_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "bbc-news"


@pytest.fixture(scope="module")
def bbc_test_rows(bbc_dir: Path) -> list[dict[str, Any]]:
    return _read_jsonl(bbc_dir / "test.jsonl")


@pytest.fixture(scope="module")
def conll_rows(shared_dir: Path) -> list[dict[str, Any]]:
    return _read_jsonl(shared_dir / "data" / "conll-sample" / "test.jsonl")


@pytest.fixture(scope="module")
def bbc_label2id(shared_dir: Path) -> dict[str, int]:
    config = json.loads((shared_dir / "models" / "bbc-news-minilm" / "config.json").read_text())
    return dict(config["label2id"])


# --- ColumnMapping ---------------------------------------------------------------------------------


def test_column_mapping_defaults_and_frozen() -> None:
    columns = ColumnMapping()
    assert (columns.text, columns.label, columns.tokens, columns.answers) == ("text", "label", None, None)
    assert ROLES == tuple(field.name for field in dataclasses.fields(ColumnMapping))
    with pytest.raises(dataclasses.FrozenInstanceError):
        columns.text = "body"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"text": None}, r"ColumnMapping.text=None .* pass a column name\."),
        ({"label": ""}, r"ColumnMapping.label='' .* a column name or None"),
        ({"tokens": 3}, r"ColumnMapping.tokens=3"),
        ({"tags": "ner_tags"}, r"tags='ner_tags' needs the word column.*--tokens-column"),
        ({"answers": "answers", "question": "question"}, r"needs the question and context.*--context-column"),
    ],
)
def test_column_mapping_rejects_invalid_mappings(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidConfigError, match=match):
        ColumnMapping(**kwargs)


# --- sources ---------------------------------------------------------------------------------------


def test_jsonl_file_bbc(bbc_dir: Path, bbc_test_rows: list[dict[str, Any]]) -> None:
    dataset = load_eval_dataset(bbc_dir / "test.jsonl", required=("text", "label"))
    assert isinstance(dataset, datasets.Dataset)
    assert dataset.num_rows == len(bbc_test_rows) == 448
    assert dataset.column_names == ["id", "text", "label", "label_name"]
    assert list(dataset["id"]) == [row["id"] for row in bbc_test_rows]
    # a str path and the single split's name work too
    same = load_eval_dataset(str(bbc_dir / "test.jsonl"), split="train")
    assert list(same["label"]) == [row["label"] for row in bbc_test_rows]


def test_jsonl_file_conll_ner(shared_dir: Path, conll_rows: list[dict[str, Any]]) -> None:
    dataset = load_eval_dataset(
        shared_dir / "data" / "conll-sample" / "test.jsonl", columns=NER_COLUMNS, required=NER_REQUIRED
    )
    assert dataset.num_rows == len(conll_rows) == 46
    assert list(dataset["tokens"]) == [row["tokens"] for row in conll_rows]
    assert list(dataset["ner_tags"]) == [row["ner_tags"] for row in conll_rows]


def test_folder_of_data_files_needs_a_split(bbc_dir: Path, bbc_test_rows: list[dict[str, Any]]) -> None:
    dataset = load_eval_dataset(bbc_dir, split="test")
    assert list(dataset["id"]) == [row["id"] for row in bbc_test_rows]
    with pytest.raises(DatasetError, match=r"several splits \(train, test\).*--split"):
        load_eval_dataset(bbc_dir)
    with pytest.raises(DatasetError, match=r"Split 'validation' not found.*splits are: train, test"):
        load_eval_dataset(bbc_dir, split="validation")


def test_single_file_has_one_split_named_train(bbc_dir: Path) -> None:
    with pytest.raises(DatasetError, match=r"Split 'test' not found.*splits are: train.*named 'train'"):
        load_eval_dataset(bbc_dir / "test.jsonl", split="test")


def _bbc_subset(bbc_dir: Path, rows: int = 25) -> datasets.Dataset:
    return load_eval_dataset(bbc_dir / "test.jsonl", limit=rows)


def test_csv_tsv_and_parquet_files(
    tmp_path: Path, bbc_dir: Path, bbc_test_rows: list[dict[str, Any]]
) -> None:
    subset = _bbc_subset(bbc_dir)
    subset.to_csv(tmp_path / "bbc.csv", index=False)
    subset.to_parquet(tmp_path / "bbc.parquet")
    with (tmp_path / "bbc.tsv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=subset.column_names, delimiter="\t")
        writer.writeheader()
        writer.writerows(bbc_test_rows[:25])
    for name in ("bbc.csv", "bbc.tsv", "bbc.parquet"):
        dataset = load_eval_dataset(tmp_path / name, required=("text", "label"))
        assert dataset.num_rows == 25, name
        assert list(dataset["text"]) == [row["text"] for row in bbc_test_rows[:25]], name
        assert list(dataset["label"]) == [row["label"] for row in bbc_test_rows[:25]], name


def test_saved_to_disk_dataset_and_dataset_dict(tmp_path: Path, bbc_dir: Path, conll_rows: list[Any]) -> None:
    subset = _bbc_subset(bbc_dir)
    subset.save_to_disk(tmp_path / "one")
    loaded = load_eval_dataset(tmp_path / "one")
    assert list(loaded["id"]) == list(subset["id"])

    ner = datasets.Dataset.from_list(conll_rows)
    datasets.DatasetDict({"train": ner.select(range(10)), "test": ner}).save_to_disk(tmp_path / "dict")
    test = load_eval_dataset(tmp_path / "dict", split="test", columns=NER_COLUMNS, required=NER_REQUIRED)
    assert list(test["tokens"]) == [row["tokens"] for row in conll_rows]
    with pytest.raises(DatasetError, match=r"several splits \(train, test\)"):
        load_eval_dataset(tmp_path / "dict")
    with pytest.raises(DatasetError, match=r"Split 'dev' not found.*train, test"):
        load_eval_dataset(tmp_path / "dict", split="dev")


def test_saved_split_keeps_its_name(tmp_path: Path, bbc_dir: Path) -> None:
    test_split = datasets.load_dataset("json", data_files={"test": str(bbc_dir / "test.jsonl")}, split="test")
    test_split.select(range(5)).save_to_disk(tmp_path / "test-split")
    assert load_eval_dataset(tmp_path / "test-split", split="test").num_rows == 5
    with pytest.raises(DatasetError, match=r"Split 'train' not found.*splits are: test"):
        load_eval_dataset(tmp_path / "test-split", split="train")


def test_qa_columns(tmp_path: Path) -> None:
    rows = [
        {
            "id": "q1",
            "question": "Where is the Eiffel Tower?",
            "context": "The Eiffel Tower is in Paris.",
            "answers": {"text": ["Paris"], "answer_start": [23]},
        }
    ]
    columns = ColumnMapping(question="question", context="context", answers="answers", label=None)
    dataset = load_eval_dataset(
        _write_jsonl(tmp_path / "qa.jsonl", rows),
        columns=columns,
        required=("question", "context", "answers"),
    )
    assert dataset[0]["answers"] == {"text": ["Paris"], "answer_start": [23]}


# --- bad inputs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["missing.jsonl", "missing-folder"])
def test_missing_file_or_folder_names_the_path(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with pytest.raises(DatasetError, match="not found") as excinfo:
        load_eval_dataset(str(path))
    assert str(path) in str(excinfo.value)


def test_unsupported_suffix(shared_dir: Path) -> None:
    with pytest.raises(DatasetError, match=r"unsupported suffix '\.md'.*\.jsonl"):
        load_eval_dataset(shared_dir / "README.md")


def test_missing_column_names_it_the_columns_present_and_the_flag(bbc_dir: Path) -> None:
    with pytest.raises(DatasetError) as excinfo:
        load_eval_dataset(
            bbc_dir / "test.jsonl", columns=ColumnMapping(text="body"), required=("text", "label")
        )
    message = str(excinfo.value)
    assert "the text column 'body' is missing" in message
    assert "--text-column" in message
    assert "Columns present: id, text, label, label_name" in message
    assert "label" not in message.split("Columns present")[0]  # the label column is there


def test_unmapped_required_role(shared_dir: Path) -> None:
    with pytest.raises(
        DatasetError, match=r"no tokens column is mapped.*--tokens-column.*present: tokens, ner_tags"
    ):
        load_eval_dataset(shared_dir / "data" / "conll-sample" / "test.jsonl", required=NER_REQUIRED)


def test_unknown_required_role(bbc_dir: Path) -> None:
    with pytest.raises(InvalidConfigError, match=r"Unknown required role.*'labels'.*text, text_pair, label"):
        load_eval_dataset(bbc_dir / "test.jsonl", required=("text", "labels"))


def test_config_name_is_rejected_for_a_file(bbc_dir: Path) -> None:
    with pytest.raises(InvalidConfigError, match="config_name='default' applies to Hub datasets"):
        load_eval_dataset(bbc_dir / "test.jsonl", config_name="default")


def test_empty_file_and_empty_saved_dataset(tmp_path: Path, bbc_dir: Path) -> None:
    (tmp_path / "empty.jsonl").touch()
    with pytest.raises(DatasetError, match="is empty"):
        load_eval_dataset(tmp_path / "empty.jsonl")
    no_rows = _bbc_subset(bbc_dir).select([])
    no_rows.save_to_disk(tmp_path / "no-rows", num_shards=1)
    with pytest.raises(DatasetError, match="has no rows"):
        load_eval_dataset(tmp_path / "no-rows")
    # saved with the default sharding, an empty dataset has no data file, and datasets cannot load it
    no_rows.save_to_disk(tmp_path / "no-shards")
    with pytest.raises(DatasetError, match="Could not read the dataset saved in"):
        load_eval_dataset(tmp_path / "no-shards")


def test_malformed_jsonl_reports_the_parse_error(tmp_path: Path, bbc_dir: Path) -> None:
    lines = (bbc_dir / "test.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    lines[1] = lines[1][:200]  # a truncated record
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"Could not read .*bad\.jsonl as json.*JSON parse error"):
        load_eval_dataset(bad)


def test_ner_row_with_mismatched_lengths_is_named(tmp_path: Path, conll_rows: list[dict[str, Any]]) -> None:
    rows = [dict(row) for row in conll_rows]
    rows[5]["ner_tags"] = rows[5]["ner_tags"][:-1]
    path = _write_jsonl(tmp_path / "ner.jsonl", rows)
    with pytest.raises(
        DatasetError, match=r"Row 5 of .* 'tokens' holds \d+ items and 'ner_tags' holds \d+ items"
    ):
        load_eval_dataset(path, columns=NER_COLUMNS, required=NER_REQUIRED)
    # rows that limit leaves out are not checked
    assert load_eval_dataset(path, columns=NER_COLUMNS, required=NER_REQUIRED, limit=5).num_rows == 5


def test_ner_row_index_is_the_source_row_when_sampling(
    tmp_path: Path, conll_rows: list[dict[str, Any]]
) -> None:
    rows = [{"id": i, **row} for i, row in enumerate(conll_rows)]
    good = _write_jsonl(tmp_path / "good.jsonl", rows)
    sampled = list(
        load_eval_dataset(good, columns=NER_COLUMNS, required=NER_REQUIRED, sample=20, seed=3)["id"]
    )
    broken_row = sampled[7]
    rows[broken_row]["tokens"] = "not a list"
    bad = _write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DatasetError, match=rf"Row {broken_row} of .*a str, not a list"):
        load_eval_dataset(bad, columns=NER_COLUMNS, required=NER_REQUIRED, sample=20, seed=3)


# --- limit and sample ------------------------------------------------------------------------------


def test_limit_takes_the_first_rows(bbc_dir: Path, bbc_test_rows: list[dict[str, Any]]) -> None:
    dataset = load_eval_dataset(bbc_dir / "test.jsonl", limit=10)
    assert list(dataset["id"]) == [row["id"] for row in bbc_test_rows[:10]]
    assert load_eval_dataset(bbc_dir / "test.jsonl", limit=10_000).num_rows == 448


def test_sample_is_seeded_ordered_and_deterministic(
    bbc_dir: Path, bbc_test_rows: list[dict[str, Any]]
) -> None:
    order = {row["id"]: i for i, row in enumerate(bbc_test_rows)}
    first = list(load_eval_dataset(bbc_dir / "test.jsonl", sample=30, seed=7)["id"])
    again = list(load_eval_dataset(bbc_dir / "test.jsonl", sample=30, seed=7)["id"])
    other = list(load_eval_dataset(bbc_dir / "test.jsonl", sample=30, seed=8)["id"])
    assert first == again
    assert first != other
    assert len(set(first)) == 30
    assert [order[row_id] for row_id in first] == sorted(order[row_id] for row_id in first)
    assert first != [row["id"] for row in bbc_test_rows[:30]]  # not just the head
    everything = load_eval_dataset(bbc_dir / "test.jsonl", sample=1000)
    assert list(everything["id"]) == [row["id"] for row in bbc_test_rows]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"limit": 0}, "limit=0 is not valid"),
        ({"sample": -3}, "sample=-3 is not valid"),
        ({"limit": True}, "limit=True is not valid"),
        ({"limit": 5, "sample": 5}, "not both"),
    ],
)
def test_bad_limit_or_sample(bbc_dir: Path, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidConfigError, match=match):
        load_eval_dataset(bbc_dir / "test.jsonl", **kwargs)


# --- encode_labels ---------------------------------------------------------------------------------


def test_encode_labels_maps_names_and_keeps_ids(
    bbc_dir: Path, bbc_test_rows: list[dict[str, Any]], bbc_label2id: dict[str, int]
) -> None:
    dataset = load_eval_dataset(bbc_dir / "test.jsonl")
    expected = [row["label"] for row in bbc_test_rows]
    assert encode_labels(dataset, "label_name", bbc_label2id) == expected
    assert encode_labels(dataset, "label", bbc_label2id) == expected
    assert set(expected) == {0, 1, 2, 3, 4}


def test_encode_labels_unknown_labels(bbc_dir: Path, bbc_label2id: dict[str, int]) -> None:
    dataset = load_eval_dataset(bbc_dir / "test.jsonl", limit=4)
    names = dataset.map(
        lambda row, i: {"label_name": "sport" if i == 2 else row["label_name"]}, with_indices=True
    )
    with pytest.raises(DatasetError, match=r"does not know: 'sport' \(first at row 2\).*'sports'=3"):
        encode_labels(names, "label_name", bbc_label2id)
    ids = dataset.map(lambda row: {"label": 7})
    with pytest.raises(DatasetError, match=r"does not know: 7 \(first at row 0\)"):
        encode_labels(ids, "label", bbc_label2id)
    with pytest.raises(DatasetError, match=r"Label column 'category' not found.*label_name.*--label-column"):
        encode_labels(dataset, "category", bbc_label2id)


# --- Hub names -------------------------------------------------------------------------------------

_HUB_SCRIPT = """
from onnx_pipelines.eval_data import load_eval_dataset
from onnx_pipelines.errors import DatasetError

try:
    load_eval_dataset("someone/no-such-dataset", config_name="plain", split="test")
except DatasetError as e:
    print(e)
"""


def test_hub_name_offline_raises_dataset_error(tmp_path: Path) -> None:
    # A fresh process: huggingface_hub reads HF_HUB_OFFLINE at import (without it, datasets retries
    # the unreachable Hub for about 20 seconds before giving up).
    completed = run_fresh_python(_HUB_SCRIPT, tmp_path, hub_offline=True)
    assert completed.returncode == 0, completed.stderr
    message = completed.stdout
    assert "Could not load 'someone/no-such-dataset' (config 'plain', split 'test')" in message
    assert "needs internet access" in message
    assert "pass a local data file" in message


def test_loading_a_new_file_prints_no_progress_bar_of_datasets(tmp_path: Path,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    """datasets draws 'Generating train split' the first time it reads a file: not ours to print."""
    data = tmp_path / "fresh.jsonl"
    data.write_text("".join(json.dumps({"text": f"row {i}", "label": 0}) + "\n" for i in range(5)))
    assert not datasets.are_progress_bars_disabled()
    rows = load_eval_dataset(data, columns=ColumnMapping(label=None), required=("text",))
    assert len(rows) == 5
    captured = capfd.readouterr()
    assert "Generating" not in captured.err + captured.out
    assert not datasets.are_progress_bars_disabled()  # restored for the caller's own use
