"""Zero-shot classification with an NLI (entailment) sequence-classification model on ONNX Runtime."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import ZeroShotClassificationPipeline

from onnx_pipelines.errors import InvalidInputError, InvalidModelError
from onnx_pipelines.pipelines.base import OnnxPipelineMixin
from onnx_pipelines.pipelines.inputs import normalize_texts

DEFAULT_HYPOTHESIS_TEMPLATE = "This example is {}."


def entailment_index(id2label: dict[Any, str]) -> int:
    """The class index whose label starts with ``entail`` (case-insensitive).

    Raises:
        InvalidModelError: If no label does; zero-shot classification needs an NLI head.
    """
    for index, label in sorted((int(k), str(v)) for k, v in (id2label or {}).items()):
        if label.lower().startswith("entail"):
            return index
    labels = ", ".join(str(v) for v in (id2label or {}).values()) or "none"
    raise InvalidModelError(
        f"Zero-shot classification needs an NLI model with an 'entailment' label in config.id2label; this "
        f"model's labels are: {labels}. Use a model fine-tuned on NLI (MNLI, XNLI, ...), or set id2label "
        "in config.json if its labels are only unnamed (LABEL_0, ...)."
    )


def check_nli_config(config: dict[str, Any]) -> None:
    """Raise :class:`InvalidModelError` unless a ``config.json`` names an entailment label (before export)."""
    entailment_index(config.get("id2label") or {})


class OnnxZeroShotClassificationPipeline(OnnxPipelineMixin, ZeroShotClassificationPipeline):
    """transformers' ``ZeroShotClassificationPipeline`` with checks for the model's labels and the inputs.

    The entailment class is found in ``config.id2label`` when the pipeline is built; a model without one
    is rejected with :class:`~onnx_pipelines.errors.InvalidModelError` (transformers would only warn and
    then score with the last class).

    Example:
        >>> zs = load_pipeline("zero-shot-classification", "path/to/nli-model")  # doctest: +SKIP
        >>> zs("Shares rose 5%", candidate_labels=["business", "sport"])  # doctest: +SKIP
        {'sequence': 'Shares rose 5%', 'labels': ['business', 'sport'], 'scores': [0.9, 0.1]}
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        model = kwargs.get("model", args[0] if args else None)
        # Checked before transformers' __init__, which only logs a warning and scores with class -1.
        self._entailment_id = entailment_index(getattr(getattr(model, "config", None), "id2label", None) or {})
        super().__init__(*args, **kwargs)

    @property
    def entailment_id(self) -> int:  # type: ignore[override]
        return self._entailment_id

    def __call__(self, sequences: Any = None, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if args:
            if len(args) > 1 or "candidate_labels" in kwargs:
                raise InvalidInputError("Pass candidate labels once: zs(text, candidate_labels=[...]).")
            kwargs["candidate_labels"] = args[0]
        if "candidate_labels" not in kwargs:
            raise InvalidInputError(
                "No candidate_labels: pass the labels to choose from, e.g. candidate_labels=['sport', 'politics']."
            )
        kwargs["candidate_labels"] = check_candidate_labels(kwargs["candidate_labels"])
        check_hypothesis_template(kwargs.get("hypothesis_template", DEFAULT_HYPOTHESIS_TEMPLATE))
        texts: Any = normalize_texts(sequences, allow_pairs=False)
        return super().__call__(texts, **kwargs)


def check_candidate_labels(labels: Any) -> list[str]:
    """Candidate labels as a list of non-empty strings (a comma-separated string is split, as transformers does).

    Raises:
        InvalidInputError: If there are none, or one is not a non-empty string, or one repeats.
    """
    if isinstance(labels, str):
        labels = [label.strip() for label in labels.split(",") if label.strip()]
    if not isinstance(labels, Sequence) or not labels:
        raise InvalidInputError("candidate_labels is empty: pass at least one label, e.g. ['sport', 'politics'].")
    for index, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip():
            raise InvalidInputError(f"candidate_labels[{index}] is {label!r}: labels must be non-empty strings.")
    if len(set(labels)) != len(labels):
        raise InvalidInputError(f"candidate_labels {list(labels)} repeat a label: give each label once.")
    return list(labels)


def check_hypothesis_template(template: Any) -> str:
    """The template, if it has a ``{}`` for the label.

    Raises:
        InvalidInputError: If it is not a string with a ``{}`` placeholder.
    """
    try:
        usable = isinstance(template, str) and template.format("X") != template
    except (IndexError, KeyError, ValueError):  # "{0} {1}", "{label}", unbalanced braces
        usable = False
    if not usable:
        raise InvalidInputError(
            f"hypothesis_template={template!r} needs one '{{}}' where the label goes, e.g. 'This text is about {{}}.'."
        )
    return str(template)
