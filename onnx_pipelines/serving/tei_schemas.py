"""Bodies of the TEI endpoints that are not a task's own: ``/similarity``, ``/tokenize`` and ``/decode``.

Validated as strictly as :mod:`onnx_pipelines.serving.schemas` (unknown fields refused). Only pydantic is
imported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from onnx_pipelines.serving.parameters import PROMPT_NAME, Fixed
from onnx_pipelines.serving.schemas import Body, TaskRequest


class SimilarityInput(BaseModel):
    """The sentence to compare with, and the sentences to compare."""

    model_config = ConfigDict(extra="forbid")

    source_sentence: StrictStr = Field(examples=["What is Deep Learning?"])
    sentences: list[StrictStr] = Field(min_length=1, examples=[["What is Machine Learning?"]])


class SimilarityRequest(TaskRequest):
    """``POST /similarity`` (sentence-embeddings): the cosine similarity of each sentence to the source."""

    compat_options: ClassVar[Mapping[str, str | Fixed]] = {**TaskRequest.compat_options, "prompt_name": PROMPT_NAME}

    inputs: SimilarityInput


class TokenizeRequest(Body):
    """``POST /tokenize``: the tokens the model would see for each text."""

    compat_options: ClassVar[Mapping[str, str | Fixed]] = {"prompt_name": PROMPT_NAME}

    inputs: StrictStr | list[StrictStr] = Field(description="A text or a list of texts.", examples=["test"])
    add_special_tokens: StrictBool = Field(True, description="Add the model's special tokens ([CLS], [SEP], ...).")


class DecodeRequest(Body):
    """``POST /decode``: the text of token ids."""

    ids: list[StrictInt] | list[list[StrictInt]] = Field(
        min_length=1, description="Token ids, or a list of token id lists.", examples=[[101, 3231, 102]]
    )
    skip_special_tokens: StrictBool = Field(True, description="Leave out special tokens ([CLS], [SEP], ...).")


class SimpleToken(BaseModel):
    """One token of ``/tokenize``; ``start``/``stop`` are character offsets into the text (none for special tokens)."""

    id: int
    text: str
    special: bool
    start: int | None
    stop: int | None
