"""Token classification (NER) on an ONNX Runtime model, and word-level tags for scoring against gold tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import TokenClassificationPipeline
from transformers.pipelines.token_classification import AggregationStrategy

from onnx_pipelines.errors import InvalidConfigError, InvalidInputError
from onnx_pipelines.pipelines.base import OnnxPipelineMixin
from onnx_pipelines.pipelines.inputs import normalize_texts

#: transformers' ``aggregation_strategy`` values, all supported.
AGGREGATION_STRATEGIES: tuple[str, ...] = tuple(s.value for s in AggregationStrategy)


class OnnxTokenClassificationPipeline(OnnxPipelineMixin, TokenClassificationPipeline):
    """transformers' ``TokenClassificationPipeline`` with input and option checks.

    Every ``aggregation_strategy`` of transformers works (``none``, ``simple``, ``first``, ``average``,
    ``max``), given at load time (``load_pipeline(..., aggregation_strategy="simple")``) or per call.
    Pre-split words are accepted with ``is_split_into_words=True``; texts longer than the model's window
    are truncated unless ``stride=`` is given, which runs overlapping windows over the whole text.

    Example:
        >>> ner = load_pipeline("token-classification", "conll-ner-minilm",  # doctest: +SKIP
        ...                     aggregation_strategy="simple")
        >>> ner("Angela Merkel visited Paris.")  # doctest: +SKIP
        [{'entity_group': 'PER', 'word': 'angela merkel', 'start': 0, 'end': 13, ...}, ...]
    """

    def _sanitize_parameters(  # type: ignore[override]
        self, aggregation_strategy: Any = None, stride: int | None = None, **kwargs: Any
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        strategy = _check_strategy(aggregation_strategy)
        if stride is not None:
            _check_stride(stride, strategy, int(getattr(self.tokenizer, "model_max_length", 512)))
        try:
            return super()._sanitize_parameters(aggregation_strategy=strategy, stride=stride, **kwargs)
        except ValueError as e:  # transformers' remaining checks (slow tokenizer, ...)
            raise InvalidConfigError(f"Invalid token-classification option: {e}") from e

    def __call__(self, inputs: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("is_split_into_words"):
            inputs = _check_words(inputs)
        else:
            inputs = normalize_texts(inputs, allow_pairs=False)
        return super().__call__(inputs, **kwargs)


def _check_strategy(value: Any) -> AggregationStrategy | None:
    if value is None or isinstance(value, AggregationStrategy):
        return value
    if isinstance(value, str) and value.strip().lower() in AGGREGATION_STRATEGIES:
        return AggregationStrategy(value.strip().lower())
    raise InvalidConfigError(
        f"aggregation_strategy={value!r} is not valid; use one of {', '.join(AGGREGATION_STRATEGIES)}."
    )


def _check_stride(stride: Any, strategy: AggregationStrategy | None, max_length: int) -> None:
    if not isinstance(stride, int) or isinstance(stride, bool) or stride < 0:
        raise InvalidConfigError(f"stride={stride!r} must be a non-negative int (tokens shared by neighbour windows).")
    if stride >= max_length:
        raise InvalidConfigError(f"stride={stride} must be smaller than the model's max length ({max_length}).")
    if strategy in (None, AggregationStrategy.NONE):
        raise InvalidConfigError(
            "stride= runs overlapping windows whose entities are merged, which needs aggregation_strategy "
            "'simple', 'first', 'average' or 'max' (not 'none')."
        )


def _check_words(inputs: Any) -> list[list[str]]:
    """Pre-split input: one list of words, or a list of such lists."""
    if not isinstance(inputs, Sequence) or isinstance(inputs, str) or len(inputs) == 0:
        raise InvalidInputError(
            "With is_split_into_words=True pass a non-empty list of words, or a list of such lists, "
            f"not {type(inputs).__name__ if not isinstance(inputs, Sequence) else repr(inputs)[:60]}."
        )
    batch = [inputs] if all(isinstance(w, str) for w in inputs) else inputs
    checked = []
    for index, words in enumerate(batch):
        if isinstance(words, str) or not isinstance(words, Sequence) or len(words) == 0:
            raise InvalidInputError(f"inputs[{index}] must be a non-empty list of words (strings).")
        for position, word in enumerate(words):
            if not isinstance(word, str) or not word.strip():
                raise InvalidInputError(
                    f"inputs[{index}][{position}] is {word!r}: every word must be a non-empty string."
                )
        checked.append(list(words))
    return checked


def tag_words(pipe: Any, sentences: Sequence[Sequence[str]], *, batch_size: int | None = None) -> list[list[str]]:
    """One predicted tag per word (the tag of the word's first sub-token), for scoring against gold tags.

    Works with any transformers token-classification pipeline with a fast tokenizer (PyTorch or ONNX), so
    both sides of a parity check are tagged the same way. Words cut off by the model's max length are
    tagged ``"O"``.

    Args:
        pipe: A token-classification pipeline.
        sentences: Pre-split sentences (lists of words), e.g. CoNLL ``tokens``.
        batch_size: Sentences per model call (the pipeline's own when ``None``).

    Returns:
        For each sentence, its tags (``"B-PER"``, ``"O"``, ...), as long as the sentence.

    Raises:
        InvalidInputError: If a sentence is empty or holds a non-string or empty word.

    Example:
        >>> tag_words(ner, [["Angela", "Merkel", "visited", "Paris", "."]])  # doctest: +SKIP
        [['B-PER', 'I-PER', 'O', 'B-LOC', 'O']]
    """
    batch = _check_words(sentences)
    kwargs: dict[str, Any] = {"is_split_into_words": True, "aggregation_strategy": "none", "ignore_labels": []}
    if batch_size is not None:
        kwargs["batch_size"] = batch_size
    outputs = pipe(batch, **kwargs)
    return [_first_subtoken_tags(words, tokens) for words, tokens in zip(batch, outputs, strict=True)]


def _first_subtoken_tags(words: list[str], tokens: list[dict[str, Any]]) -> list[str]:
    starts: dict[int, int] = {}
    offset = 0
    for position, word in enumerate(words):  # the pipeline joins pre-split words with one space
        starts[offset] = position
        offset += len(word) + 1
    tags = ["O"] * len(words)
    seen: set[int] = set()
    for token in tokens:
        index = starts.get(int(token["start"]))
        if index is not None and index not in seen:
            seen.add(index)
            tags[index] = str(token["entity"])
    return tags
