"""Bad model folders are answered with library errors that name the file and the fix."""

import argparse
import shutil

import pytest

from onnx_pipelines.errors import InvalidModelError
from onnx_pipelines.loaders import check_torch_weights, load_tokenizer, load_torch_model
from onnx_pipelines.model_source import resolve_model

TOKENIZER = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def _copy(bbc_model, folder, names):
    folder.mkdir()
    for name in names:
        shutil.copy(bbc_model / name, folder / name)
    return folder


def test_truncated_tokenizer_json_is_named(bbc_model, tmp_path):
    folder = _copy(bbc_model, tmp_path / "m", ("config.json", *TOKENIZER))
    (folder / "model.safetensors").symlink_to(bbc_model / "model.safetensors")
    (folder / "tokenizer.json").write_bytes((bbc_model / "tokenizer.json").read_bytes()[:100])
    with pytest.raises(InvalidModelError, match=r"tokenizer\.json' is not valid JSON .*save_pretrained"):
        resolve_model(folder)  # before any export starts
    with pytest.raises(InvalidModelError, match=r"tokenizer\.json' is not valid JSON") as info:
        load_tokenizer(folder)
    assert "EOF while parsing" in str(info.value.__cause__)  # what transformers alone would have said


def test_good_tokenizer_loads(bbc_model):
    assert load_tokenizer(bbc_model)("Shares rose")["input_ids"][0] == 101  # [CLS]


@pytest.fixture()
def pickled_folder(bbc_model, tmp_path):
    import torch

    folder = _copy(bbc_model, tmp_path / "pickled", ("config.json", *TOKENIZER))
    torch.save({"classifier.bias": torch.zeros(5), "training_args": argparse.Namespace(lr=1e-4)},
               folder / "pytorch_model.bin")
    return folder


def test_pickled_weights_that_weights_only_refuses_are_named(pickled_folder):
    from transformers import AutoModelForSequenceClassification

    with pytest.raises(InvalidModelError, match=r"pytorch_model\.bin' cannot be loaded safely") as info:
        resolve_model(pickled_folder)  # not "No module named 'tensorflow'" from Optimum's TF fallback
    assert "argparse.Namespace" in str(info.value) and "model.safetensors" in str(info.value)
    with pytest.raises(InvalidModelError, match="weights_only=True"):
        load_torch_model(AutoModelForSequenceClassification, pickled_folder)


def test_plain_tensor_checkpoint_passes(pickled_folder, tiny_classifier):
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.save({"classifier.bias": torch.zeros(5)}, pickled_folder / "pytorch_model.bin")
    check_torch_weights(pickled_folder)
    model = load_torch_model(AutoModelForSequenceClassification, tiny_classifier)
    assert not model.training and model.config.num_labels == 3
