"""One way to feed a model session: export validation, the parity evaluator and the pipelines all use it.

A :class:`ModelRunner` takes tokenizer output (numpy arrays, torch tensors or lists) and returns named numpy
outputs. It feeds exactly the inputs the graph declares, in the integer type the graph declares, and
zero-fills ``token_type_ids`` when the graph wants it and the tokenizer gave none (what Optimum's
``ORTModel`` does). Extra keys in the input (an adapter's word ids, offsets) are ignored. The protocol
does not assume ONNX Runtime: another runtime plugs in as another ``ModelRunner``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from onnx_pipelines.errors import InvalidModelError
from onnx_pipelines.runtime import RuntimeSettings

_NUMPY_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(float)": np.float32,
                "tensor(float16)": np.float16, "tensor(bool)": np.bool_}


@runtime_checkable
class ModelRunner(Protocol):
    """A loaded model graph that maps named inputs to named outputs."""

    @property
    def input_names(self) -> tuple[str, ...]:
        """The inputs the graph declares."""
        ...

    @property
    def output_names(self) -> tuple[str, ...]:
        """The outputs the graph declares."""
        ...

    def run(self, encoded: Mapping[str, Any], output_names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Run one batch and return the requested outputs (all when ``None``) by name."""
        ...


class OrtRunner:
    """An ``onnxruntime.InferenceSession`` behind the :class:`ModelRunner` protocol.

    Args:
        session: The session to feed.

    Example:
        >>> runner = open_runner(Path("artifact/model.onnx"), RuntimeSettings(provider="cpu"))  # doctest: +SKIP
        >>> runner.run(tokenizer(["a text"], return_tensors="np"), ["logits"])["logits"].shape  # doctest: +SKIP
        (1, 5)
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self._inputs = [(i.name, _NUMPY_TYPES.get(i.type, np.int64)) for i in session.get_inputs()]
        self._outputs = tuple(o.name for o in session.get_outputs())

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self._inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return self._outputs

    def feed(self, encoded: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The session's input feed built from tokenizer output.

        Raises:
            InvalidModelError: The graph wants an input the tokenizer did not produce.
        """
        feed: dict[str, np.ndarray] = {}
        for name, dtype in self._inputs:
            value = encoded.get(name)
            if value is None and name == "token_type_ids" and "input_ids" in encoded:
                value = np.zeros_like(_as_numpy(encoded["input_ids"]))
            if value is None:
                raise InvalidModelError(
                    f"The ONNX graph expects input {name!r}, which the tokenizer does not produce (it gave "
                    f"{', '.join(sorted(encoded)) or 'nothing'}). The graph and the tokenizer do not belong "
                    "together: export the model again from its own folder."
                )
            array = _as_numpy(value)
            feed[name] = array if array.dtype == dtype else array.astype(dtype)
        return feed

    def run(self, encoded: Mapping[str, Any], output_names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Run one batch.

        Raises:
            InvalidModelError: A requested output the graph does not have, or a missing input.
        """
        names = list(output_names) if output_names is not None else list(self._outputs)
        unknown = [name for name in names if name not in self._outputs]
        if unknown:
            raise InvalidModelError(f"The ONNX graph has no output {unknown}; its outputs are {list(self._outputs)}.")
        values = self.session.run(names, self.feed(encoded))
        return dict(zip(names, values, strict=True))


def open_runner(model_path: Path, runtime: RuntimeSettings | None = None) -> OrtRunner:
    """Open a graph file in a session configured by ``runtime`` (default: CPU, ORT's thread defaults).

    Args:
        model_path: The ``.onnx`` file.
        runtime: Session settings; ``runtime.provider`` names the execution provider.

    Returns:
        The runner.
    """
    import onnxruntime

    from onnx_pipelines.runtime import resolve_provider

    runtime = runtime or RuntimeSettings(provider="cpu")
    provider = resolve_provider(runtime.provider)
    session = onnxruntime.InferenceSession(str(model_path), sess_options=runtime.session_options(provider),
                                           providers=[provider])
    return OrtRunner(session)


class TorchRunner:
    """A PyTorch ``transformers`` model in eval mode behind the :class:`ModelRunner` protocol (the reference).

    Feeds the keyword arguments the model's ``forward`` takes from the same tokenizer output (numpy or
    torch), and returns float32 numpy outputs.

    Args:
        model: A ``transformers`` ``PreTrainedModel``.
        output_names: The outputs it is expected to return (checked on each call).
    """

    def __init__(self, model: Any, output_names: Sequence[str] = ()) -> None:
        import inspect

        self.model = model.eval()
        self.model_class = type(model).__name__
        self._outputs = tuple(output_names)
        self._inputs = tuple(inspect.signature(model.forward).parameters)

    @classmethod
    def from_pretrained(cls, torch_class: Any, model_path: Path, output_names: Sequence[str] = ()) -> TorchRunner:
        """Load ``torch_class`` (an ``AutoModelFor...``) from a folder, through ``loaders.load_torch_model``."""
        from onnx_pipelines.loaders import load_torch_model

        return cls(load_torch_model(torch_class, model_path), output_names)

    @property
    def input_names(self) -> tuple[str, ...]:
        return self._inputs

    @property
    def output_names(self) -> tuple[str, ...]:
        return self._outputs

    @property
    def threads(self) -> int:
        """PyTorch's intra-op threads."""
        import torch

        return int(torch.get_num_threads())

    def run(self, encoded: Mapping[str, Any], output_names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Run one batch under ``torch.inference_mode``.

        Raises:
            InvalidModelError: The model returned none of a requested output.
        """
        import torch

        names = list(output_names) if output_names is not None else list(self._outputs)
        feed = {key: torch.as_tensor(np.ascontiguousarray(_as_numpy(value)))
                for key, value in encoded.items() if key in self._inputs}
        with torch.inference_mode():
            outputs = self.model(**feed)
        missing = [name for name in names if name not in outputs]
        if missing:
            raise InvalidModelError(
                f"The PyTorch model {self.model_class} returned no {missing}; its outputs are {list(outputs)}."
            )
        return {name: outputs[name].detach().float().numpy() for name in names}


def _as_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)
