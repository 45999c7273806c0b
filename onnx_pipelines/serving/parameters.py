"""The ``parameters`` object of Hugging Face clients, folded into the flat TEI-shaped request bodies.

``huggingface_hub.InferenceClient`` (and the Hugging Face Inference API it was written for) sends a
task's options inside ``{"inputs": ..., "parameters": {...}}``; text-embeddings-inference (TEI) takes
the same options at the top level of the body. A request model lists, in ``compat_options``, which
names it takes and what each one becomes:

- a field name (``"top_k": "top_k"``): ``parameters.top_k`` is moved to the body's ``top_k``;
- a :class:`Fixed`: an option of TEI / the Inference API that this server always runs one way
  (``truncation_direction``: right). The value it always uses is accepted, at the top level or in
  ``parameters``; any other is refused with the reason, never silently ignored.

Only pydantic is imported here, as in :mod:`onnx_pipelines.serving.schemas`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_core import PydanticCustomError


@dataclass(frozen=True)
class Fixed:
    """An option the server accepts only at the values it always runs with.

    Attributes:
        accepted: The values that mean what the server does anyway (``None``: "not set").
        why: Completes "<name> ... is not supported: <why>"; says what the server does and what to do instead.
    """

    accepted: tuple[Any, ...]
    why: str

    def check(self, name: str, value: Any) -> None:
        """Raise a validation error when ``value`` asks for something other than what the server does."""
        if any(value == ok and type(value) is type(ok) for ok in self.accepted):
            return
        if isinstance(value, str) and any(isinstance(ok, str) and value.lower() == ok.lower() for ok in self.accepted):
            return
        raise PydanticCustomError(
            "unsupported_option", "{name}={value} is not supported: {why}", {"name": name, "value": repr(value),
                                                                           "why": self.why}
        )


#: Every body of a text task takes these (TEI: on /predict, /embed, /embed_all, /rerank, /similarity).
TRUNCATION_DIRECTION = Fixed(("right",), "inputs are cut at their end; omit truncation_direction or send \"right\"")
#: sentence-transformers prompts (TEI's ``prompt_name``): the served models define none.
PROMPT_NAME = Fixed((None,), "this server applies no sentence-transformers prompts; prepend the prompt to your texts")


def fold_parameters(data: Any, options: Mapping[str, str | Fixed], *, wrap_single: bool = False) -> Any:
    """Move ``parameters.*`` into the body and check the fixed options (a pydantic ``mode="before"`` step).

    Args:
        data: The raw body (left as it is when it is not an object, for the field validators to refuse).
        options: What the model takes, as its ``compat_options``.
        wrap_single: Make a single ``inputs`` text a list of one when the body came with ``parameters``:
            the Inference API answers text classification of one text with a list holding one list
            of labels, and ``InferenceClient.text_classification`` reads the answer that way.

    Returns:
        The body without ``parameters`` and without fixed options.

    Raises:
        PydanticCustomError: ``parameters`` is not an object, names an option this endpoint does not
            take, disagrees with the same option given at the top level, or a fixed option asks for
            something the server does not do.

    Example:
        >>> fold_parameters({"inputs": "hi", "parameters": {"top_k": 2}}, {"top_k": "top_k"})
        {'inputs': 'hi', 'top_k': 2}
    """
    if not isinstance(data, dict):
        return data
    body = dict(data)
    for name, option in options.items():  # TEI sends these at the top level
        if isinstance(option, Fixed) and name in body:
            option.check(name, body.pop(name))
    if "parameters" not in body:
        return body
    parameters = body.pop("parameters")
    if parameters is None:
        return body
    if not isinstance(parameters, dict):
        raise PydanticCustomError("parameters_type", "`parameters` must be an object of options")
    unknown = sorted(set(parameters) - set(options))
    if unknown:
        raise PydanticCustomError(
            "unknown_parameters",
            "`parameters` has {unknown}, which this endpoint does not take; it takes {allowed}",
            {"unknown": ", ".join(unknown), "allowed": ", ".join(sorted(options)) or "none"},
        )
    for name, value in parameters.items():
        option = options[name]
        if isinstance(option, Fixed):
            option.check(f"parameters.{name}", value)
        elif value is not None:
            if option in body and body[option] != value:
                raise PydanticCustomError(
                    "conflicting_parameters",
                    "`{field}` and `parameters.{name}` disagree ({a!r} vs {b!r}); send one of them",
                    {"field": option, "name": name, "a": body[option], "b": value},
                )
            body[option] = value
    if wrap_single and isinstance(body.get("inputs"), str):
        body["inputs"] = [body["inputs"]]
    return body
