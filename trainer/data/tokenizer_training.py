"""A small WordPiece tokenizer trained on the text columns of shards, for tiny from-scratch models (the demo,
tests, smoke runs on a new corpus). Real pretraining starts from XLM-R's own tokenizer instead.

Training is deterministic: the same texts give the same vocabulary, piece for piece and id for id. (The
``tokenizers`` library's trainers break ties between equally frequent merges in hash-map order, which
changes from process to process, so their vocabularies differ between runs and between ranks.) The
algorithm is the one HF's WordPiece trainer runs: BPE merges over the words of the corpus, with
non-initial pieces written ``##piece``, the most frequent pair merged first and ties broken by the pair's
text. Inference is WordPiece's greedy longest match.
"""
from __future__ import annotations

import heapq
from collections import Counter
from typing import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from schemas.errors import InputDataError
from schemas import open_dataset

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CONTINUATION = "##"

# Text columns of each shard kind that a tokenizer should learn from.
TEXT_COLUMNS = {
    "mrc": ["query", "context"],
    "clism": ["source", "target"],
    "tagged": ["tokens"],
}


def _merge(left: str, right: str) -> str:
    return left + right[len(CONTINUATION):] if right.startswith(CONTINUATION) else left + right


def wordpiece_vocabulary(word_counts: Counter, vocab_size: int, special_tokens: list[str] = SPECIAL_TOKENS,
                         min_frequency: int = 2) -> list[str]:
    """Pieces in id order: the special tokens, every character (initial and ``##`` form), then merges in the
    order they were learnt, until ``vocab_size`` pieces or no pair occurs ``min_frequency`` times."""
    words = sorted(word_counts)
    counts = [word_counts[w] for w in words]
    symbols = [[w[0]] + [CONTINUATION + ch for ch in w[1:]] for w in words]
    vocab = list(special_tokens)
    alphabet = sorted({s for word in symbols for s in word})
    vocab += [s for s in alphabet if s not in vocab]
    known = set(vocab)

    pair_counts: Counter = Counter()
    where: dict[tuple[str, str], set[int]] = {}
    for index, word in enumerate(symbols):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += counts[index]
            where.setdefault(pair, set()).add(index)
    # Max-heap by count, ties by the pair's text; entries go stale when counts change and are re-checked.
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    while len(vocab) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative:
            continue  # stale
        if -negative < min_frequency:
            break
        merged = _merge(*pair)
        changed: Counter = Counter()
        for index in sorted(where.pop(pair, ())):
            old = symbols[index]
            new, position = [], 0
            while position < len(old):
                if position + 1 < len(old) and (old[position], old[position + 1]) == pair:
                    new.append(merged)
                    position += 2
                else:
                    new.append(old[position])
                    position += 1
            for old_pair in zip(old, old[1:]):
                changed[old_pair] -= counts[index]
            for new_pair in zip(new, new[1:]):
                changed[new_pair] += counts[index]
                where.setdefault(new_pair, set()).add(index)
            symbols[index] = new
        for changed_pair, delta in changed.items():
            if delta:
                pair_counts[changed_pair] += delta
                heapq.heappush(heap, (-pair_counts[changed_pair], changed_pair))
        pair_counts.pop(pair, None)
        if merged not in known:
            vocab.append(merged)
            known.add(merged)
    return vocab


def train_wordpiece(texts: Iterable[str], vocab_size: int, lowercase: bool = True,
                    max_word_types: int = 200_000) -> PreTrainedTokenizerFast:
    """A BERT-style fast tokenizer (``[CLS] a [SEP] b [SEP]`` template, token type ids) trained on ``texts``."""
    normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts: Counter = Counter()
    for text in texts:
        counts.update(piece for piece, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    if not counts:
        raise InputDataError("no text to train a tokenizer on")
    if len(counts) > max_word_types:
        # Bounded memory on a large corpus; rare words still decompose into the characters kept below.
        frequent = Counter(dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:max_word_types]))
        for word in counts:
            if word not in frequent:
                frequent.update({ch: counts[word] for ch in word})
        counts = frequent
    vocab = wordpiece_vocabulary(counts, vocab_size)
    tokenizer = Tokenizer(models.WordPiece({piece: n for n, piece in enumerate(vocab)}, unk_token="[UNK]",
                                           continuing_subword_prefix=CONTINUATION, max_input_chars_per_word=100))
    tokenizer.normalizer, tokenizer.pre_tokenizer = normalizer, pre_tokenizer
    tokenizer.decoder = decoders.WordPiece(prefix=CONTINUATION)
    # BERT's template ([CLS] A [SEP] B [SEP], segments 0/1). BertProcessing rather than an equivalent
    # TemplateProcessing: post-processing separately encoded sentences (what the CLISM featurizer does) with
    # TemplateProcessing loses the first sentence's sequence ids (tokenizers 0.22).
    tokenizer.post_processor = processors.BertProcessing(("[SEP]", vocab.index("[SEP]")),
                                                         ("[CLS]", vocab.index("[CLS]")))
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"])


def shard_texts(directories: Iterable[str], max_rows: int | None = None) -> Iterator[str]:
    """The text columns of the rows of ``directories`` (at most ``max_rows`` rows from each), in shard order."""
    for directory in directories:
        dataset = open_dataset(directory)
        columns = TEXT_COLUMNS.get(dataset.kind.name)
        if columns is None:
            raise InputDataError(f"{directory}: no text columns known for kind {dataset.kind.name!r}")
        rows = 0
        for batch in dataset.iter_batches(columns=columns):
            for row in batch.to_pylist():
                for column in columns:
                    value = row[column]
                    yield " ".join(value) if isinstance(value, list) else value
                rows += 1
                if max_rows is not None and rows >= max_rows:
                    break
            if max_rows is not None and rows >= max_rows:
                break


def train_tokenizer_on_shards(directories: Iterable[str], vocab_size: int, max_rows: int | None = 100_000,
                              lowercase: bool = True) -> PreTrainedTokenizerFast:
    """``train_wordpiece`` over the text columns of the shards of ``directories``."""
    return train_wordpiece(shard_texts(directories, max_rows), vocab_size, lowercase=lowercase)
