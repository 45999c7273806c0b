"""The model object a ``transformers`` pipeline holds when a :class:`ModelRunner` (not Optimum) runs the graph.

Our pipeline classes were written against Optimum's ``ORTModelFor...``: transformers' pipeline code reads
``model.config``, ``model.device`` and ``model.can_generate()``, and calls ``model(**inputs)`` with torch
tensors, reading outputs by name (``outputs["logits"]``, ``outputs.last_hidden_state``). :class:`RunnerModel`
gives exactly that on top of any runner (OpenVINO here), so the same pipeline classes run on either runtime.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class RunnerOutput(dict):  # type: ignore[type-arg]
    """Named outputs readable as ``out["logits"]``, ``out.logits`` or ``out[0]``, like transformers' ModelOutput."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int):
            return list(self.values())[key]
        return super().__getitem__(key)

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(self.values())


class RunnerModel:
    """A runner dressed as the torch model a ``transformers.Pipeline`` expects.

    Args:
        runner: A :class:`~onnx_pipelines.session_runner.ModelRunner` (``run(encoded, output_names)``).
        config: The model's ``transformers`` config (labels, max positions).
        name_or_path: The artifact folder (what ``model_save_dir`` is on Optimum models).

    Example:
        >>> model = RunnerModel(open_openvino_runner(path / "model.onnx"), AutoConfig.from_pretrained(path),
        ...                     path)  # doctest: +SKIP
        >>> model(**tokenizer(["a text"], return_tensors="pt"))["logits"].shape  # doctest: +SKIP
        torch.Size([1, 5])
    """

    main_input_name = "input_ids"

    def __init__(self, runner: Any, config: Any, name_or_path: Any = None) -> None:
        import torch

        self.runner = runner
        self.config = config
        self.model_save_dir = name_or_path
        self.device = torch.device("cpu")
        self.dtype = torch.float32

    def __call__(self, **inputs: Any) -> RunnerOutput:
        import torch

        outputs = self.runner.run(inputs)
        return RunnerOutput({name: torch.from_numpy(np.asarray(value)) for name, value in outputs.items()})

    forward = __call__

    def can_generate(self) -> bool:
        return False

    def to(self, *_: Any, **__: Any) -> RunnerModel:
        """CPU only: nothing to move."""
        return self

    def eval(self) -> RunnerModel:
        return self

    def __repr__(self) -> str:
        return f"RunnerModel({type(self.runner).__name__}, {self.model_save_dir})"

    @classmethod
    def for_config(cls, runner: Any, config: Any, name_or_path: Any = None) -> RunnerModel:
        """A :class:`RunnerModel` whose class name is the architecture the graph was exported from.

        transformers' pipelines log an error for model classes outside their task's list (Optimum registers
        its ``ORTModelFor...`` names there); a subclass named ``BertForSequenceClassification`` is the
        honest name of what the graph computes and keeps that log quiet without touching transformers.
        """
        architectures = getattr(config, "architectures", None) or []
        if not architectures:
            return cls(runner, config, name_or_path)
        named = type(str(architectures[0]), (cls,), {"__module__": cls.__module__, "__doc__": cls.__doc__})
        return named(runner, config, name_or_path)


__all__ = ["RunnerModel", "RunnerOutput"]
