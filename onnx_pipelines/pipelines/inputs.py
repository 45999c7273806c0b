"""Validation of inference inputs, with messages that say what is wrong and how to fix it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from onnx_pipelines.errors import InvalidInputError

TextPair = dict[str, str]


@dataclass(frozen=True, eq=False)
class Encoded:
    """An input already tokenized by the pipeline's own tokenizer, untruncated and within the model's limit.

    The server tokenizes each input once to count its tokens (for the batch budget and the length limit)
    and hands the pipeline that same encoding, so it is not tokenized a second time. Pipelines whose model
    input is the text's own encoding (text classification, sentence embeddings, feature extraction) run it
    as it is; the others read ``text`` / ``text_pair``.

    Attributes:
        text: The text (the first of a pair).
        text_pair: The second text of a pair, or ``None``.
        features: The tokenizer's output for this one input: ``input_ids``, ``attention_mask`` and, where the
            tokenizer makes them, ``token_type_ids``, as lists of ints.
    """

    text: str
    text_pair: str | None
    features: Mapping[str, Sequence[int]]

    @property
    def length(self) -> int:
        """Tokens, special tokens included."""
        return len(self.features["input_ids"])


def pad_encoded(tokenizer: Any, items: Sequence[Encoded], return_tensors: str = "np") -> Any:
    """Pad the encodings of ``items`` into one batch, as the tokenizer pads its own output."""
    return tokenizer.pad([dict(item.features) for item in items], padding=True, return_tensors=return_tensors)


def _check_text(value: Any, where: str) -> str:
    if value is None:
        raise InvalidInputError(f"{where} is None: pass a non-empty string.")
    if not isinstance(value, str):
        raise InvalidInputError(f"{where} is a {type(value).__name__}, not a string: pass text as str.")
    if not value.strip():
        raise InvalidInputError(f"{where} is an empty string: pass non-empty text (or drop the item).")
    return value


def _check_pair(value: Any, where: str) -> TextPair:
    if isinstance(value, dict):
        unknown = set(value) - {"text", "text_pair"}
        if "text" not in value or unknown:
            raise InvalidInputError(
                f"{where} is a dict with keys {sorted(value)}; a text pair needs exactly 'text' and 'text_pair'."
            )
        pair = {"text": _check_text(value["text"], f"{where}['text']")}
        if value.get("text_pair") is not None:
            pair["text_pair"] = _check_text(value["text_pair"], f"{where}['text_pair']")
        return pair
    if len(value) != 2:
        raise InvalidInputError(f"{where} has {len(value)} items; a text pair is [text, text_pair].")
    return {"text": _check_text(value[0], f"{where}[0]"), "text_pair": _check_text(value[1], f"{where}[1]")}


def normalize_texts(inputs: Any, *, allow_pairs: bool) -> str | TextPair | list[str | TextPair]:
    """Check inference inputs; turn ``[text, text_pair]`` lists into transformers' pair dicts.

    Accepted: a string, a list of strings, and where ``allow_pairs``: ``{"text", "text_pair"}`` dicts or
    ``[text, text_pair]`` lists, alone or in a list.

    Raises:
        InvalidInputError: For ``None``, empty strings, empty lists and items of other types; the
            message names the offending item.
    """
    if inputs is None:
        raise InvalidInputError("inputs is None: pass a string or a non-empty list of strings.")
    if isinstance(inputs, Encoded):
        return inputs  # type: ignore[return-value]  # checked when it was encoded
    if isinstance(inputs, str):
        return _check_text(inputs, "The input")
    if allow_pairs and isinstance(inputs, dict):
        return _check_pair(inputs, "The input")
    if not isinstance(inputs, Sequence) or isinstance(inputs, (bytes, bytearray)):
        raise InvalidInputError(
            f"inputs is a {type(inputs).__name__}: pass a string or a list of strings"
            + (" (or text pairs)." if allow_pairs else ".")
        )
    if len(inputs) == 0:
        raise InvalidInputError("inputs is an empty list: pass at least one text.")
    # A flat list of strings is always that many texts, never silently one pair: pairs are nested.
    items: list[str | TextPair] = []
    for index, item in enumerate(inputs):
        where = f"inputs[{index}]"
        if isinstance(item, Encoded):
            items.append(item)  # type: ignore[arg-type]  # checked when it was encoded
        elif allow_pairs and isinstance(item, (dict, list, tuple)):
            items.append(_check_pair(item, where))
        else:
            items.append(_check_text(item, where))
    return items


def is_stream(inputs: Any) -> bool:
    """Generators and torch datasets (e.g. transformers' ``KeyDataset``) stream through unchecked."""
    if isinstance(inputs, Iterator):
        return True
    try:
        from torch.utils.data import Dataset
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(inputs, Dataset)
