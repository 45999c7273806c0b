import shutil

import pytest

from onnx_pipelines.errors import InvalidModelError, ModelNotFoundError
from onnx_pipelines.model_source import resolve_model


def test_resolves_a_real_model_folder(bbc_model):
    source = resolve_model(bbc_model)
    assert source.path == bbc_model.resolve()
    assert source.has_torch_weights and source.onnx_file is None
    assert source.name == "bbc-news-minilm"
    assert len(source.content_hash()) == 64


@pytest.mark.parametrize("value", [None, "", "   "])
def test_no_model(value):
    with pytest.raises(ModelNotFoundError, match="No model given"):
        resolve_model(value)


def test_missing_path_names_it(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ModelNotFoundError, match="does not exist") as info:
        resolve_model(str(missing))
    assert str(missing) in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidModelError, match="no config.json"):
        resolve_model(tmp_path)


def test_file_instead_of_folder(tmp_path):
    file = tmp_path / "config.json"
    file.write_text("{}")
    with pytest.raises(InvalidModelError, match="is a file"):
        resolve_model(file)


def test_missing_weights_and_tokenizer(tmp_path, bbc_model):
    shutil.copy(bbc_model / "config.json", tmp_path / "config.json")
    with pytest.raises(InvalidModelError, match="no weights"):
        resolve_model(tmp_path)
    (tmp_path / "model.safetensors").symlink_to(bbc_model / "model.safetensors")
    with pytest.raises(InvalidModelError, match="no tokenizer"):
        resolve_model(tmp_path)


def test_broken_config_json(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InvalidModelError, match="not valid JSON"):
        resolve_model(tmp_path)


def test_content_hash_follows_the_content(tmp_path, tiny_classifier):
    copy = tmp_path / "m"
    shutil.copytree(tiny_classifier, copy)
    before = resolve_model(copy).content_hash()
    assert resolve_model(copy).content_hash() == before
    config = (copy / "config.json").read_text()
    (copy / "config.json").write_text(config.replace('"neg"', '"negative"'))
    assert resolve_model(copy).content_hash() != before
