"""Parity hooks for token classification (NER): token logits, entity agreement, seqeval against gold tags.

Rows are pre-split sentences (a words column, and optionally a tags column with one gold tag per word).
Each word is tagged with the arg-max label of its first sub-token, as the model's reported token
accuracy is measured and as :func:`onnx_pipelines.pipelines.token_classification.tag_words` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from onnx_pipelines.errors import DatasetError
from onnx_pipelines.parity.adapters.base import AdapterContext, MetricSpec, OutputSpec, Predictions, TaskAdapter

#: Batch keys that carry per-row metadata rather than model inputs (the runners feed only model inputs).
WORD_IDS = "word_ids"
NUM_WORDS = "num_words"


class TaggedSentence(tuple):  # type: ignore[type-arg]
    """A sentence's tags (a tuple of strings, as seqeval takes them) compared by its *entities*.

    Two predictions agree when they find the same entities: the same word spans with the same types
    (seqeval's reading of the BIO tags), whatever the tags of the other words.
    """

    @property
    def entities(self) -> frozenset[tuple[str, int, int]]:
        from seqeval.metrics.sequence_labeling import get_entities

        return frozenset((kind, start, end) for kind, start, end in get_entities(list(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaggedSentence):
            return NotImplemented
        return self.entities == other.entities

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash(self.entities)


class TokenClassificationAdapter(TaskAdapter):
    """Pre-split sentences tagged per word (``AutoModelForTokenClassification``).

    Compared: ``logits`` of every real sub-token. Prediction: the sentence's tags (first sub-token per
    word; words cut off by ``max_length`` are ``O``), equal when the entities are (same spans, same
    types). Metrics: seqeval entity F1 (primary), precision and recall, and word accuracy.
    """

    task = "token-classification"
    input_roles = ("tokens",)
    label_role = "tags"
    model_outputs = ("logits",)
    compared = (OutputSpec("logits"),)
    metrics = (
        MetricSpec(name="entity_f1", metric="seqeval", key="overall_f1"),
        MetricSpec(name="entity_precision", metric="seqeval", key="overall_precision"),
        MetricSpec(name="entity_recall", metric="seqeval", key="overall_recall"),
        MetricSpec(name="word_accuracy", metric="seqeval", key="overall_accuracy"),
    )

    def words(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext) -> list[list[str]]:
        """The words of each row, checked to be non-empty lists of strings."""
        column = str(ctx.columns.tokens)
        sentences = []
        for index, words in enumerate(rows[column]):
            if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
                raise DatasetError(
                    f"Row {index} of the {column!r} column is {str(words)[:80]}: each row needs a non-empty list "
                    "of words (strings). Check --tokens-column."
                )
            sentences.append(words)
        return sentences

    def lengths(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext) -> list[int]:
        encoded = ctx.tokenizer(self.words(rows, ctx), is_split_into_words=True, truncation=True,
                                max_length=ctx.max_length)
        return [len(ids) for ids in encoded["input_ids"]]

    def encode(self, rows: Mapping[str, Sequence[Any]], ctx: AdapterContext) -> dict[str, np.ndarray]:
        sentences = self.words(rows, ctx)
        encoded = ctx.tokenizer(sentences, is_split_into_words=True, padding=True, truncation=True,
                                max_length=ctx.max_length, return_tensors="np")
        batch = {key: np.asarray(value, dtype=np.int64) for key, value in encoded.items()}
        batch[WORD_IDS] = np.array(
            [[-1 if w is None else w for w in encoded.word_ids(i)] for i in range(len(sentences))], dtype=np.int64
        )
        batch[NUM_WORDS] = np.array([len(words) for words in sentences], dtype=np.int64)
        return batch

    def split_outputs(self, raw: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray],
                      ctx: AdapterContext) -> list[dict[str, np.ndarray]]:
        logits = np.asarray(raw["logits"], dtype=np.float32)
        per_example = []
        for i in range(len(logits)):
            mask = batch["attention_mask"][i].astype(bool)
            word_ids = batch[WORD_IDS][i]
            first = [p for p in range(len(word_ids)) if word_ids[p] >= 0 and (p == 0 or word_ids[p - 1] != word_ids[p])]
            per_example.append({
                "logits": logits[i][mask],
                "word_logits": logits[i][first],
                "num_words": np.asarray(batch[NUM_WORDS][i]),
            })
        return per_example

    def predict(self, outputs: Sequence[Mapping[str, np.ndarray]], ctx: AdapterContext) -> Predictions:
        id2label = ctx.id2label
        labels, margins, scores = [], [], []
        for output in outputs:
            word_logits = np.asarray(output["word_logits"], dtype=np.float64)
            tags = [id2label.get(int(k), str(k)) for k in word_logits.argmax(-1)] if word_logits.size else []
            tags += ["O"] * (int(output["num_words"]) - len(tags))  # words past max_length
            labels.append(TaggedSentence(tags))
            if word_logits.size:
                shifted = np.exp(word_logits - word_logits.max(-1, keepdims=True))
                probs = np.sort(shifted / shifted.sum(-1, keepdims=True), axis=-1)
                margins.append(float((probs[:, -1] - probs[:, -2]).min()))  # the least sure word decides
                scores.append(float(probs[:, -1].mean()))
            else:
                margins.append(0.0)
                scores.append(0.0)
        return Predictions(labels=labels, margins=np.asarray(margins), scores=np.asarray(scores))

    def references(self, dataset: Any, ctx: AdapterContext) -> list[Any] | None:
        column = ctx.columns.tags
        if column is None:
            return None
        id2label = ctx.id2label
        known = set(id2label.values())
        gold = []
        for index, tags in enumerate(dataset[column]):
            names = [id2label.get(int(t), str(t)) if not isinstance(t, str) else t for t in tags]
            unknown = sorted(set(names) - known)
            if unknown:
                raise DatasetError(
                    f"Row {index} of the {column!r} column has tags {unknown} the model does not know; its labels "
                    f"are {', '.join(id2label.values())}. Check --tags-column."
                )
            gold.append(TaggedSentence(names))
        return gold

    def label_name(self, label: Any, ctx: AdapterContext) -> str:
        entities = sorted(TaggedSentence(label).entities, key=lambda e: (e[1], e[2], e[0]))
        return " ".join(f"{kind}[{start}:{end + 1}]" for kind, start, end in entities) or "(no entities)"

    def describe(self, rows: Mapping[str, Sequence[Any]], index: int, ctx: AdapterContext) -> str:
        return " ".join(str(w) for w in rows[str(ctx.columns.tokens)][index])
