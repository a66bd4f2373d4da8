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
entity (``trainer.qa_decoding.positive_spans``), snapped to the words it covers.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from schemas.tags import Span, convert_tags, parse_tag, spans_from_tags, tags_from_spans
from trainer.mrc_features import INDEX_DTYPE, MRCFeature
from trainer.qa_decoding import positive_spans

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
            raise ValueError(f"sentence {sentence_id!r}: {len(words)} tokens but {len(tags)} tags")
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
                    raise ValueError(f"sentence {sentence_id!r}: tag {tags[word]!r} is not in the label set "
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
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def __call__(self, rows: Sequence) -> dict:
        return collate_tagging(self.featurizer(rows), self.pad_token_id)


class TokenTagger(nn.Module):
    """Softmax tagger: dropout and a linear layer over the token states; cross-entropy on labelled
    positions (paper 002 eq. 1)."""

    def __init__(self, encoder: PreTrainedModel, num_labels: int, dropout: float | None = None):
        super().__init__()
        self.encoder = encoder
        if dropout is None:
            dropout = getattr(encoder.config, "hidden_dropout_prob", 0.1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_labels)
        nn.init.normal_(self.classifier.weight, std=getattr(encoder.config, "initializer_range", 0.02))
        nn.init.zeros_(self.classifier.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **_extras) -> dict:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**inputs).last_hidden_state
        logits = self.classifier(self.dropout(hidden))
        output = {"logits": logits}
        if labels is not None:
            output["loss"] = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                             labels.to(logits.device).reshape(-1), ignore_index=IGNORE_INDEX)
        return output


# ---------------------------------------------------------------------------------------------------------
# Decoding

def allowed_transitions(labels: Sequence[str], scheme: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(start, transition, end)`` bool arrays: which label may begin a sentence, follow another, end one."""
    parsed = [parse_tag(label) for label in labels]
    size = len(labels)

    def may_follow(prev, cur) -> bool:
        (pp, pl), (cp, cl) = prev, cur
        inside = cp in ("I", "E")
        if scheme == "BIO":
            return not inside or (pp in ("B", "I") and pl == cl)
        open_before = pp in ("B", "I")
        if open_before:  # B-X or I-X must continue with I-X or E-X
            return inside and pl == cl
        return not inside

    start = np.array([p[0] not in ("I", "E") for p in parsed])
    end = np.array([scheme == "BIO" or p[0] not in ("B", "I") for p in parsed])
    transition = np.array([[may_follow(parsed[i], parsed[j]) for j in range(size)] for i in range(size)])
    return start, transition, end


def constrained_decode(log_probs: np.ndarray, labels: Sequence[str], scheme: str = "BIOES") -> list[str]:
    """The most probable tag sequence the scheme allows (Viterbi over per-word log-probabilities)."""
    log_probs = np.asarray(log_probs, dtype=np.float64)
    if log_probs.shape[0] == 0:
        return []
    start, transition, end = allowed_transitions(labels, scheme)
    penalty = np.where(transition, 0.0, -np.inf)
    score = np.where(start, log_probs[0], -np.inf)
    back = []
    for row in log_probs[1:]:
        candidates = score[:, None] + penalty  # [previous, current]
        best = candidates.argmax(axis=0)
        back.append(best)
        score = candidates[best, np.arange(len(labels))] + row
    score = np.where(end, score, -np.inf)
    path = [int(score.argmax())]
    for best in reversed(back):
        path.append(int(best[path[-1]]))
    return [labels[n] for n in reversed(path)]


def repair_tags(tags: Sequence[str], scheme: str = "BIOES") -> list[str]:
    """A valid sequence in ``scheme`` with the entities conlleval reads from ``tags`` (e.g. ``I-PER`` after
    ``O`` opens an entity; ``B-PER`` alone in BIOES becomes ``S-PER``)."""
    return convert_tags(list(tags), scheme)


def decode_sentence(logits: np.ndarray | torch.Tensor, word_positions: Sequence[int], words: int,
                    labels: Sequence[str], scheme: str = "BIOES", constrained: bool = True) -> list[str]:
    """Word tags of one sentence from its ``[L, num_labels]`` logits; truncated words are ``O``."""
    logits = torch.as_tensor(logits).float()
    word_logits = logits[list(word_positions)] if word_positions else logits[:0]
    if constrained:
        tags = constrained_decode(torch.log_softmax(word_logits, dim=-1).numpy(), labels, scheme)
    else:
        tags = repair_tags([labels[n] for n in word_logits.argmax(dim=-1).tolist()], scheme)
    tags += ["O"] * (words - len(tags))
    return tags


def decode_batch(logits: torch.Tensor, batch: dict, labels: Sequence[str], scheme: str = "BIOES",
                 constrained: bool = True, words: Sequence[int] | None = None) -> list[list[str]]:
    """Word tags for every sentence of a ``collate_tagging`` batch (``words``: sentence lengths, by default
    the number of kept words)."""
    positions = batch["word_positions"]
    words = words or [len(p) for p in positions]
    return [decode_sentence(logits[n].detach().cpu(), positions[n], words[n], labels, scheme, constrained)
            for n in range(len(positions))]


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


def word_offsets(words: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """The sentence as text (words joined by single spaces) and each word's character span in it."""
    offsets, position = [], 0
    for word in words:
        offsets.append((position, position + len(word)))
        position += len(word) + 1
    return " ".join(words), offsets


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


def chars_to_words(start: int, end: int, offsets: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """Words ``[first, last)`` overlapping characters ``[start, end)``, or None."""
    covered = [n for n, (word_start, word_end) in enumerate(offsets) if word_start < end and start < word_end]
    return (covered[0], covered[-1] + 1) if covered else None


def decode_ner_mrc(type_scores: Sequence[tuple[str, np.ndarray, MRCFeature]], words: Sequence[str],
                   threshold: float = 0.0, max_span_length: int | None = None) -> list[Span]:
    """Entities of one sentence from the extractor's scores of its per-type queries: every span with
    S_ij > ``threshold`` (paper 001 Table 6), snapped to words; overlapping spans (within or across types)
    are resolved greedily by score so the result is a valid tagging."""
    context, offsets = word_offsets(words)
    candidates = []
    for entity_type, scores, feature in type_scores:
        for start, end, score in positive_spans(scores, feature, threshold, max_span_length, context):
            word_span = chars_to_words(start, end, offsets)
            if word_span is not None:
                candidates.append((score, word_span[0], word_span[1], entity_type))
    taken = [False] * len(words)
    entities = []
    for score, first, last, entity_type in sorted(candidates, key=lambda c: (-c[0], c[1], c[2], c[3])):
        if any(taken[first:last]):
            continue
        taken[first:last] = [True] * (last - first)
        entities.append(Span(first, last, entity_type))
    return sorted(entities)


def ner_mrc_tags(entities: Sequence[Span], words: int, scheme: str = "BIOES") -> list[str]:
    """Tags of the decoded entities, for ``metrics.entity_scores`` or CoNLL output."""
    return tags_from_spans(words, list(entities), scheme)


@torch.no_grad()
def predict_tags(model: nn.Module, tokenizer, sentences: Sequence, labels: Sequence[str], scheme: str = "BIOES",
                 max_length: int = 128, batch_size: int = 32, constrained: bool = True,
                 device: torch.device | str | None = None) -> list[list[str]]:
    """Word tags for every sentence (``tagged`` rows or ``ConllSentence``s) from a ``TokenTagger``, in
    evaluation mode; score them with ``metrics.entity_scores`` against the gold tags."""
    collator = TaggingCollator(tokenizer, labels, scheme, max_length)
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    predicted = []
    try:
        for start in range(0, len(sentences), batch_size):
            chunk = sentences[start:start + batch_size]
            batch = collator(chunk)
            tensors = {k: v.to(device) for k, v in batch.items() if isinstance(v, torch.Tensor) and k != "labels"}
            logits = model(**tensors)["logits"]
            words = [len(_row_words_and_tags(row)[1]) for row in chunk]
            predicted += decode_batch(logits, batch, labels, scheme, constrained, words)
    finally:
        model.train(was_training)
    return predicted
