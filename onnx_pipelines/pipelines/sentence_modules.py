"""Read a sentence-transformers ``modules.json`` into what the ONNX pipeline reproduces, or refuse it.

The ONNX graph is the ``Transformer`` module; after it this library reproduces ``Pooling`` (one mode),
``Dense`` layers (weights read from the module folder) and ``Normalize``, in that order, as
``SentenceTransformer.encode`` applies them. Any other module (``LayerNorm``, ``CNN``, ``LSTM``,
``WeightedLayerPooling``, custom code ...) or a pooling config that concatenates several modes is refused
with an :class:`~onnx_pipelines.errors.InvalidModelError` naming it, never silently skipped.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onnx_pipelines.errors import InvalidModelError

#: ``1_Pooling/config.json`` keys -> our pooling mode names.
POOLING_KEYS: dict[str, str] = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_lasttoken": "lasttoken",
    "pooling_mode_weightedmean_tokens": "weightedmean",
}
#: sentence-transformers >= 5 ``"pooling_mode"`` names that differ from ours.
POOLING_NAMES: dict[str, str] = {"mean_sqrt_len_tokens": "mean_sqrt_len"}
#: Activation functions a Dense module may name (``torch.nn`` classes without parameters).
DENSE_ACTIVATIONS: frozenset[str] = frozenset({"Tanh", "Identity", "ReLU", "GELU", "Sigmoid", "SiLU"})


@dataclass(frozen=True)
class DenseLayer:
    """A sentence-transformers ``Dense`` module: ``activation(x @ weight.T + bias)``.

    Attributes:
        weight: ``(out_features, in_features)`` float32 tensor.
        bias: ``(out_features,)`` tensor or ``None``.
        activation: A ``torch.nn`` activation module.
        path: The module folder it was read from (what two layers compare by).
    """

    weight: Any = field(compare=False, repr=False)
    bias: Any = field(compare=False, repr=False)
    activation: Any = field(compare=False)
    path: str = ""

    def __call__(self, vectors: Any) -> Any:
        import torch

        out = torch.nn.functional.linear(vectors.to(self.weight.dtype), self.weight, self.bias)
        return self.activation(out)


@dataclass(frozen=True)
class SentenceModules:
    """What follows the transformer in a sentence-transformers model."""

    pooling: str = "mean"
    dense: tuple[DenseLayer, ...] = ()
    normalize: bool = False


def read_modules(folder: Path) -> SentenceModules:
    """Parse ``folder/modules.json`` (mean pooling, nothing else, when there is none).

    Raises:
        InvalidModelError: For a module or pooling config this library cannot reproduce exactly.
    """
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return SentenceModules()
    pooling, normalize = "mean", False
    dense: list[DenseLayer] = []
    for index, module in enumerate(json.loads(modules_file.read_text())):
        kind = str(module.get("type", ""))
        path = folder / str(module.get("path", ""))
        name = kind.rsplit(".", 1)[-1]
        if name == "Transformer" and index == 0:
            continue
        if name == "Pooling" and not dense and not normalize:
            pooling = pooling_mode(path / "config.json")
        elif name == "Dense" and not normalize:
            dense.append(read_dense(path))
        elif name == "Normalize":
            normalize = True
        else:
            raise InvalidModelError(
                f"{modules_file} has module {index} {kind!r} (path {module.get('path')!r}) after "
                f"{'Normalize' if normalize else 'the modules before it'}: the ONNX pipeline reproduces only "
                "Transformer -> Pooling -> Dense... -> Normalize. Export the model without it, or use "
                "sentence-transformers' own ONNX backend for it."
            )
    return SentenceModules(pooling=pooling, dense=tuple(dense), normalize=normalize)


def pooling_mode(config_path: Path) -> str:
    """The one pooling mode ``1_Pooling/config.json`` enables (``mean`` when the file is absent).

    Raises:
        InvalidModelError: When several modes are enabled (sentence-transformers concatenates them), or
            only modes this library does not reproduce.
    """
    if not config_path.is_file():
        return "mean"
    config = json.loads(config_path.read_text())
    if "pooling_mode" in config:  # sentence-transformers >= 5: "pooling_mode": "cls" (or a list of modes)
        named = config["pooling_mode"]
        names = [named] if isinstance(named, str) else list(named or [])
        enabled = [POOLING_NAMES.get(str(name), str(name)) for name in names]
    else:
        enabled = [mode for key, mode in POOLING_KEYS.items() if config.get(key)]
    if len(enabled) != 1 or enabled[0] == "weightedmean":
        raise InvalidModelError(
            f"{config_path} enables pooling {enabled or 'none'}: the ONNX pipeline reproduces exactly one of "
            "cls, mean, max, mean_sqrt_len, lasttoken (sentence-transformers concatenates several modes)."
        )
    return enabled[0]


def read_dense(folder: Path) -> DenseLayer:
    """Load a ``Dense`` module folder (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``).

    Raises:
        InvalidModelError: Missing files, or an activation outside :data:`DENSE_ACTIVATIONS`.
    """
    import torch

    config_file = folder / "config.json"
    if not config_file.is_file():
        raise InvalidModelError(f"Dense module {folder} has no config.json.")
    config = json.loads(config_file.read_text())
    activation_path = str(config.get("activation_function") or "torch.nn.modules.linear.Identity")
    module_name, _, class_name = activation_path.rpartition(".")
    if not module_name.startswith("torch.nn") or class_name not in DENSE_ACTIVATIONS:
        raise InvalidModelError(
            f"Dense module {folder} uses activation {activation_path!r}; supported: "
            f"{', '.join(sorted(DENSE_ACTIVATIONS))} (torch.nn)."
        )
    activation = getattr(importlib.import_module(module_name), class_name)()
    if (folder / "model.safetensors").is_file():
        from safetensors.torch import load_file

        state = load_file(str(folder / "model.safetensors"))
    elif (folder / "pytorch_model.bin").is_file():
        state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise InvalidModelError(f"Dense module {folder} has no model.safetensors or pytorch_model.bin.")
    weight = state["linear.weight"].float()
    bias = state.get("linear.bias")
    expected = (int(config["out_features"]), int(config["in_features"]))
    if tuple(weight.shape) != expected:
        raise InvalidModelError(f"Dense module {folder}: weight shape {tuple(weight.shape)} != {expected}.")
    return DenseLayer(weight, bias.float() if bias is not None else None, activation, str(folder))
