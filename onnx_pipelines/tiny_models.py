"""Tiny random-weight models of each encoder family, built offline from a config and a real tokenizer.

The support matrix (:mod:`onnx_pipelines.support_matrix`) exports these through every variant. Weights
are random (seeded), so outputs carry no meaning, but every family's graph, inputs and tokenizer are its
own: the tokenizer is *trained* on a few hundred real sentences with the ``tokenizers`` library, in the
family's kind (WordPiece, byte-level BPE or SentencePiece-style Unigram) with the family's special tokens
and pair template, and wrapped in the family's fast tokenizer class, so which inputs it produces
(``token_type_ids`` or not) is the family's own. WordPiece families reuse the all-MiniLM-L6-v2 vocabulary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Our task name -> the transformers class-name suffix of its head ("" for the bare encoder).
HEADS: dict[str, str] = {
    "text-classification": "ForSequenceClassification",
    "token-classification": "ForTokenClassification",
    "question-answering": "ForQuestionAnswering",
    "sentence-embeddings": "Model",
}
LABELS = {0: "business", 1: "sport", 2: "tech"}
NER_LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-ORG", 4: "I-ORG"}
#: The size every family shares: 2 layers, hidden 32, 2 heads, feed-forward 64.
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
UNIGRAM_VOCAB = 800
INIT_RANGE = 0.2
BPE_VOCAB = 800


@dataclass(frozen=True)
class Family:
    """One encoder family: its model type, classes, tokenizer kind and config.

    Attributes:
        model_type: ``config.model_type``.
        class_prefix: transformers class prefix, e.g. ``"Roberta"`` (``RobertaForSequenceClassification``).
        tokenizer_class: The family's fast tokenizer class name.
        tokenizer_kind: ``"wordpiece"`` (MiniLM's vocabulary), ``"bpe"`` (byte-level BPE) or ``"unigram"``.
        config: Extra config fields (beyond :data:`TINY`).
        specials: Special tokens ``(cls, sep, pad, unk, mask)``.
        pair_sep: How a pair is joined: ``"bert"`` (``[CLS] a [SEP] b [SEP]`` with type ids 0/1) or
            ``"roberta"`` (``<s> a </s></s> b </s>``).
        heads: The heads transformers has for the family (keys of :data:`HEADS`).
    """

    model_type: str
    class_prefix: str
    tokenizer_class: str
    tokenizer_kind: str
    config: dict[str, Any] = field(default_factory=dict)
    specials: tuple[str, str, str, str, str] = ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]")
    pair_sep: str = "bert"
    heads: tuple[str, ...] = tuple(HEADS)


_ROBERTA_SPECIALS = ("<s>", "</s>", "<pad>", "<unk>", "<mask>")
_ROBERTA_POSITIONS = {"max_position_embeddings": 514, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}

FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in (
        Family("bert", "Bert", "BertTokenizerFast", "wordpiece", {"max_position_embeddings": 512}),
        Family("distilbert", "DistilBert", "DistilBertTokenizerFast", "wordpiece",
               {"dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 64, "max_position_embeddings": 512}),
        Family("roberta", "Roberta", "RobertaTokenizerFast", "bpe", _ROBERTA_POSITIONS,
               _ROBERTA_SPECIALS, "roberta"),
        Family("xlm-roberta", "XLMRoberta", "XLMRobertaTokenizerFast", "unigram", _ROBERTA_POSITIONS,
               _ROBERTA_SPECIALS, "roberta"),
        Family("camembert", "Camembert", "CamembertTokenizerFast", "unigram", _ROBERTA_POSITIONS,
               _ROBERTA_SPECIALS, "roberta"),
        Family("deberta-v2", "DebertaV2", "DebertaV2TokenizerFast", "unigram",
               {"max_position_embeddings": 512, "relative_attention": True, "position_buckets": 64,
                "pos_att_type": ["p2c", "c2p"], "position_biased_input": False, "max_relative_positions": -1}),
        Family("electra", "Electra", "ElectraTokenizerFast", "wordpiece",
               {"embedding_size": 32, "max_position_embeddings": 512}),
        Family("mpnet", "MPNet", "MPNetTokenizerFast", "wordpiece", {"max_position_embeddings": 514},
               ("<s>", "</s>", "<pad>", "[UNK]", "<mask>"), "roberta"),
        Family("albert", "Albert", "AlbertTokenizerFast", "unigram",
               {"embedding_size": 32, "max_position_embeddings": 512}),
        Family("modernbert", "ModernBert", "PreTrainedTokenizerFast", "bpe",
               {"max_position_embeddings": 512, "global_attn_every_n_layers": 2, "local_attention": 64,
                "pad_token_id": 2, "cls_token_id": 0, "sep_token_id": 1, "bos_token_id": 0, "eos_token_id": 1},
               heads=("text-classification", "token-classification", "question-answering",
                      "sentence-embeddings")),
    )
}


def training_sentences(jsonl: Path, limit: int = 400) -> list[str]:
    """The first ``limit`` non-empty paragraphs of a JSON-lines file with a ``text`` field (BBC News)."""
    sentences: list[str] = []
    with jsonl.open() as handle:
        for line in handle:
            for paragraph in json.loads(line)["text"].split("\n"):
                if paragraph.strip():
                    sentences.append(paragraph.strip())
            if len(sentences) >= limit:
                break
    return sentences[:limit]


def build_tokenizer(family: Family, folder: Path, texts: Sequence[str], wordpiece_vocab: Path | None) -> Any:
    """Train (or, for WordPiece, load) the family's tokenizer and save it into ``folder``.

    Args:
        family: The family.
        folder: Where the tokenizer files go.
        texts: Training sentences (BPE and Unigram).
        wordpiece_vocab: A ``vocab.txt`` (all-MiniLM-L6-v2's) for WordPiece families.

    Returns:
        The saved ``transformers`` fast tokenizer.
    """
    import transformers

    cls_token, sep_token, pad_token, unk_token, mask_token = family.specials
    specials: dict[str, Any] = dict(cls_token=cls_token, sep_token=sep_token, pad_token=pad_token,
                                    unk_token=unk_token, mask_token=mask_token)
    tokenizer_class = getattr(transformers, family.tokenizer_class)
    if family.tokenizer_kind == "wordpiece":
        if wordpiece_vocab is None:
            raise ValueError(f"{family.model_type} uses WordPiece: pass wordpiece_vocab (a vocab.txt).")
        if family.pair_sep == "roberta":  # MPNet: BERT's vocabulary with <s> </s> specials
            specials.update(bos_token=cls_token, eos_token=sep_token)
        tokenizer = tokenizer_class(vocab_file=str(wordpiece_vocab), do_lower_case=True, **specials)
    else:
        backend = _train_backend(family, texts)
        if family.pair_sep == "roberta":
            specials.update(bos_token=cls_token, eos_token=sep_token)
        if family.model_type == "modernbert":  # ModernBERT's tokenizer gives no token_type_ids
            specials["model_input_names"] = ["input_ids", "attention_mask"]
        tokenizer = tokenizer_class(tokenizer_object=backend, **specials)
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(folder)
    return tokenizer


def _train_backend(family: Family, texts: Sequence[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    cls_token, sep_token, pad_token, unk_token, mask_token = family.specials
    order = [cls_token, pad_token, sep_token, unk_token, mask_token]
    if family.model_type == "modernbert":
        order = [cls_token, sep_token, pad_token, unk_token, mask_token]
    if family.tokenizer_kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=None))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer: Any = trainers.BpeTrainer(vocab_size=BPE_VOCAB, special_tokens=order,
                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.normalizer = normalizers.Sequence([normalizers.Nmt(), normalizers.NFKC()])
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=UNIGRAM_VOCAB, special_tokens=order, unk_token=unk_token)
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id(cls_token), tokenizer.token_to_id(sep_token)
    if family.pair_sep == "roberta":
        pair = f"{cls_token} $A {sep_token} {sep_token} $B {sep_token}"
    else:
        pair = f"{cls_token} $A:0 {sep_token}:0 $B:1 {sep_token}:1"
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls_token} $A {sep_token}", pair=pair,
        special_tokens=[(cls_token, cls_id), (sep_token, sep_id)],
    )
    return tokenizer


def head_class_name(family: Family, task: str) -> str:
    """The transformers class of ``family``'s head for ``task``, e.g. ``RobertaForQuestionAnswering``."""
    return f"{family.class_prefix}{HEADS[task]}"


def build_tiny_model(family: Family, task: str, folder: Path, *, texts: Sequence[str],
                     wordpiece_vocab: Path | None = None, seed: int = 0) -> Path:
    """Build a tiny random-weight ``family`` model with ``task``'s head into ``folder`` (idempotent).

    Returns:
        ``folder``, holding ``config.json``, ``model.safetensors`` and the tokenizer.
    """
    import torch
    import transformers

    if (folder / "model.safetensors").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(family, folder, texts, wordpiece_vocab)
    # Wider than transformers' 0.02 default, so logits are O(1) and a 1e-4 tolerance means something.
    config_class = transformers.AutoConfig.for_model(family.model_type).__class__
    fields: dict[str, Any] = {**TINY, "vocab_size": len(tokenizer), "initializer_range": INIT_RANGE,
                              **family.config}
    if task == "text-classification":
        fields.update(num_labels=len(LABELS), id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    elif task == "token-classification":
        fields.update(num_labels=len(NER_LABELS), id2label=NER_LABELS,
                      label2id={v: k for k, v in NER_LABELS.items()})
    if family.model_type != "modernbert":
        fields.setdefault("pad_token_id", tokenizer.pad_token_id)
    config = config_class(**fields)
    config.architectures = [head_class_name(family, task)]
    torch.manual_seed(seed)
    model = getattr(transformers, head_class_name(family, task))(config).eval()
    model.save_pretrained(folder)
    return folder
