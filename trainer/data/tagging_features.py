"""NER as token tagging and as MRC.

Token tagging (paper 002 §2.1: a softmax layer over the tag set on top of the encoder): sentences - rows of a
``tagged`` shard, or ``schemas.conll.ConllSentence``s - are re-tagged in the chosen scheme (BIOES or BIO),
split into subwords with a fast tokenizer, and each word's label goes on its first subword (-100 on the
others, on special tokens and on padding, so the loss ignores them). Predictions are read back per word
from the first subword and made a valid sequence: ``constrained_decode`` finds the best sequence the scheme
allows (Viterbi over the word log-probabilities with the scheme's transition rules), ``repair_tags`` fixes an
argmax sequence with conlleval's chunk rules.

NER as MRC (paper 001 Table 6): one query per entity type, its label and description; the sentence is the
context; the entities of that type are the answers; at inference every context span with S_ij > 0 is an
entity (``trainer.tasks.span_decoding.positive_spans``), snapped to the words it covers.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterable, Sequence

import torch

from schemas.errors import InputDataError
from schemas.tags import convert_tags, parse_tag, spans_from_tags
from trainer.data.mrc_features import INDEX_DTYPE, pad_id, word_offsets

IGNORE_INDEX = -100
# CoNLL-2002/2003 and the Europarl NER gold standard.
CONLL_TYPES = ("LOC", "MISC", "ORG", "PER")


def label_list(types: Iterable[str], scheme: str = "BIOES") -> list[str]:
    """``O`` then every prefix of the scheme for each type, types sorted (a stable label <-> id mapping)."""
    prefixes = {"BIO": ("B", "I"), "BIOES": ("B", "I", "E", "S")}.get(scheme)
    if prefixes is None:
        raise ValueError(f"cannot tag in scheme {scheme!r}; choose BIO or BIOES")
    return ["O"] + [f"{prefix}-{label}" for label in sorted(set(types)) for prefix in prefixes]


def entity_types(tag_sequences: Iterable[Sequence[str]]) -> list[str]:
    """The entity types a corpus uses."""
    return sorted({parse_tag(tag)[1] for tags in tag_sequences for tag in tags if tag != "O"})


# ---------------------------------------------------------------------------------------------------------
# Token tagging features

@dataclass
class TaggingStats:
    sentences: int = 0
    words: int = 0
    words_truncated: int = 0  # cut off by max_length: not labelled, predicted "O"
    sentences_truncated: int = 0
    words_without_subwords: int = 0  # the tokenizer produced nothing (e.g. a lone control character): [UNK]

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class TaggingFeature:
    sentence_id: str
    input_ids: list[int]
    token_type_ids: list[int] | None
    labels: list[int]  # label id on each word's first subword, IGNORE_INDEX elsewhere
    word_positions: list[int]  # sequence position of each kept word's first subword
    words: int  # words of the sentence (those past word_positions were truncated)


def _row_words_and_tags(row) -> tuple[str, list[str], list[str]]:
    if isinstance(row, dict):
        return str(row.get("id", "")), list(row["tokens"]), list(row.get("tags") or [])
    return str(getattr(row, "index", "")), list(row.tokens), list(row.tags)  # a ConllSentence


class TaggingFeaturizer:
    """Sentences (``tagged`` rows or ``ConllSentence``s) -> ``TaggingFeature``s with first-subword labels.

    ``labels`` is the label list (``label_list``); a sentence's tags are converted to ``scheme`` first, so
    IOB1 or BIO input trains a BIOES head. A tag outside the label list is an error naming the sentence."""

    def __init__(self, tokenizer, labels: Sequence[str], scheme: str = "BIOES", max_length: int = 128):
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"tagging needs a fast tokenizer (word ids); got {type(tokenizer).__name__}")
        if scheme not in ("BIO", "BIOES"):
            raise ValueError(f"cannot tag in scheme {scheme!r}; choose BIO or BIOES")
        if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
            raise ValueError("the tokenizer needs a cls and a sep token")
        if max_length < 3:
            raise ValueError(f"max_length {max_length} leaves no room for a word")
        self.tokenizer, self.scheme, self.max_length = tokenizer, scheme, max_length
        self.labels = list(labels)
        self.label_ids = {label: n for n, label in enumerate(self.labels)}
        self.with_token_types = "token_type_ids" in tokenizer.model_input_names
        self.stats = TaggingStats()

    def __call__(self, rows: Sequence) -> list[TaggingFeature]:
        sentences = [_row_words_and_tags(row) for row in rows]
        encoded = self._encode([words for _, words, _ in sentences])
        return [self._feature(sentence_id, words, tags, encoded["input_ids"][n], encoded.word_ids(n))
                for n, (sentence_id, words, tags) in enumerate(sentences)]

    def _encode(self, word_lists: list[list[str]]):
        """Subwords of every sentence, without special tokens and untruncated (``_feature`` adds both)."""
        encode = dict(is_split_into_words=True, add_special_tokens=False, return_attention_mask=False,
                      return_token_type_ids=False, verbose=False)
        encoded = self.tokenizer(word_lists, **encode)
        # A word the tokenizer reduces to nothing (a control or zero-width character) would have no subword
        # to carry its label: it is replaced by the unknown token, counted.
        fixed, changed = [], False
        for n, words in enumerate(word_lists):
            seen = {w for w in encoded.word_ids(n) if w is not None}
            if len(seen) < len(words):
                self.stats.words_without_subwords += len(words) - len(seen)
                words = [word if w in seen else self.tokenizer.unk_token for w, word in enumerate(words)]
                changed = True
            fixed.append(words)
        return self.tokenizer(fixed, **encode) if changed else encoded

    def _feature(self, sentence_id: str, words: list[str], tags: list[str], subword_ids: list[int],
                 word_ids: list[int | None]) -> TaggingFeature:
        if tags and len(tags) != len(words):
            raise InputDataError(f"sentence {sentence_id!r}: {len(words)} tokens but {len(tags)} tags")
        tags = convert_tags(tags, self.scheme) if tags else []
        # [CLS] subwords [SEP], built here rather than by the tokenizer's post-processor (which a tokenizer
        # trained on the fly may lack), cut to max_length.
        kept = min(len(subword_ids), self.max_length - 2)
        input_ids = [self.tokenizer.cls_token_id, *subword_ids[:kept], self.tokenizer.sep_token_id]
        labels = [IGNORE_INDEX] * len(input_ids)
        positions = []
        for index in range(kept):
            word = word_ids[index]
            if word is None or (index > 0 and word_ids[index - 1] == word):
                continue  # not a word's first subword
            positions.append(index + 1)
            if tags:
                try:
                    labels[index + 1] = self.label_ids[tags[word]]
                except KeyError:
                    raise InputDataError(f"sentence {sentence_id!r}: tag {tags[word]!r} is not in the label set "
                                          f"({', '.join(self.labels)})") from None
        self.stats.sentences += 1
        self.stats.words += len(words)
        self.stats.words_truncated += len(words) - len(positions)
        self.stats.sentences_truncated += len(positions) < len(words)
        token_type_ids = [0] * len(input_ids) if self.with_token_types else None
        return TaggingFeature(sentence_id, input_ids, token_type_ids, labels, positions, len(words))


def collate_tagging(features: Sequence[TaggingFeature], pad_token_id: int) -> dict:
    """Pad to the longest sentence; ``labels`` are IGNORE_INDEX on padding. ``word_positions`` (a list of
    lists) and ``sentence_ids`` travel along for decoding."""
    if not features:
        raise ValueError("cannot collate an empty batch")
    length = max(len(f.input_ids) for f in features)
    size = len(features)
    input_ids = torch.full((size, length), pad_token_id, dtype=INDEX_DTYPE)
    attention_mask = torch.zeros((size, length), dtype=INDEX_DTYPE)
    labels = torch.full((size, length), IGNORE_INDEX, dtype=INDEX_DTYPE)
    for n, feature in enumerate(features):
        width = len(feature.input_ids)
        input_ids[n, :width] = torch.tensor(feature.input_ids, dtype=INDEX_DTYPE)
        attention_mask[n, :width] = 1
        labels[n, :width] = torch.tensor(feature.labels, dtype=INDEX_DTYPE)
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels,
             "word_positions": [f.word_positions for f in features],
             "sentence_ids": [f.sentence_id for f in features]}
    if features[0].token_type_ids is not None:
        batch["token_type_ids"] = torch.zeros((size, length), dtype=INDEX_DTYPE)
    return batch


class TaggingCollator:
    """``collate_fn`` over ``tagged`` rows: featurise, then pad."""

    def __init__(self, tokenizer, labels: Sequence[str], scheme: str = "BIOES", max_length: int = 128):
        self.featurizer = TaggingFeaturizer(tokenizer, labels, scheme, max_length)
        self.pad_token_id = pad_id(tokenizer)

    def __call__(self, rows: Sequence) -> dict:
        return collate_tagging(self.featurizer(rows), self.pad_token_id)


# ---------------------------------------------------------------------------------------------------------
# Decoding


# ---------------------------------------------------------------------------------------------------------
# NER as MRC (paper 001 Table 6)

# The query of each type: its label and its description, as Table 6 of paper 001 writes them.
NER_QUERIES = {
    "ORG": '"ORG". Organization entities are limited to named corporate, governmental, or other '
           "organizational entities.",
    "PER": '"PER". Person entities are named persons or family.',
    "LOC": '"LOC". Location entities are the name of politically or geographically defined locations such '
           "as cities, countries.",
    "MISC": '"MISC". Examples of miscellaneous entities include events, nationalities, products and works '
            "of art.",
}


def ner_mrc_rows(sentence_id: str, lang: str, words: Sequence[str], tags: Sequence[str] | None,
                 types: Sequence[str] = CONLL_TYPES, queries: dict[str, str] | None = None) -> list[dict]:
    """One MRC row per entity type (``id`` = ``<sentence id>/<type>``): the type's query, the sentence as
    context, and the sentence's entities of that type as character-span answers (none without ``tags``)."""
    queries = queries or NER_QUERIES
    missing = [t for t in types if t not in queries]
    if missing:
        raise ValueError(f"no query for entity types {missing}; pass queries")
    context, offsets = word_offsets(words)
    spans = spans_from_tags(list(tags)) if tags else []
    rows = []
    for entity_type in types:
        answers = [{"text": context[offsets[s.start][0]:offsets[s.end - 1][1]], "start": offsets[s.start][0],
                    "end": offsets[s.end - 1][1]} for s in spans if s.label == entity_type]
        rows.append({"id": f"{sentence_id}/{entity_type}", "lang": lang, "query": queries[entity_type],
                     "context": context, "answers": answers, "entity_type": entity_type})
    return rows


