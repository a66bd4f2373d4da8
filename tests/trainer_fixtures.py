"""Shared helpers of the trainer tests (no tests here): MRC shards written from real XQuAD data, and tiny
tokenizers whose vocabularies are learnt on the fly from that data, so nothing is downloaded."""
import json
import math
import socket
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from schemas import KINDS, Manifest, ShardInfo, write_manifest


def xquad_rows(data_dir: Path, lang: str = "en", limit: int | None = None,
               unanswerable_every: int = 0) -> list[dict]:
    """XQuAD questions as MRC rows (question -> query). With ``unanswerable_every`` = k, every k-th row pairs
    its question with a paragraph of another article and has no answers."""
    data = json.loads((data_dir / "qa" / "xquad" / f"xquad.{lang}.json").read_text(encoding="utf-8"))["data"]
    rows = []
    for article_index, article in enumerate(data):
        other = data[(article_index + 1) % len(data)]["paragraphs"][0]["context"]
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                unanswerable = unanswerable_every and len(rows) % unanswerable_every == unanswerable_every - 1
                answers = [] if unanswerable else [
                    {"text": a["text"], "start": a["answer_start"], "end": a["answer_start"] + len(a["text"])}
                    for a in qa["answers"]]
                rows.append({
                    "id": f"{lang}-{qa['id']}", "lang": lang, "query": qa["question"],
                    "context": other if unanswerable else context, "answers": answers,
                    # Wiki provenance does not exist for XQuAD: placeholders.
                    "entity": article["title"], "entity_page_id": article_index,
                    "anchor_text": answers[0]["text"] if answers else "", "context_title": article["title"],
                    "context_page_id": article_index, "mention_index": 0 if answers else -1,
                    "source_file": f"xquad.{lang}.json"})
                if limit is not None and len(rows) == limit:
                    return rows
    return rows


def write_mrc_dataset(directory: Path, shards: list[list[dict]], row_group_size: int | None = None) -> Path:
    """A valid MRC dataset directory (shards + manifest), optionally with small row groups."""
    directory.mkdir(parents=True, exist_ok=True)
    infos = []
    for n, rows in enumerate(shards):
        name = f"part-{n:05d}-of-{len(shards):05d}.parquet"
        table = pa.Table.from_pylist(rows, schema=KINDS["mrc"].schema_with_metadata())
        pq.write_table(table, directory / name, row_group_size=row_group_size)
        infos.append(ShardInfo(name, len(rows)))
    write_manifest(directory, Manifest(kind="mrc", schema_version=KINDS["mrc"].version, command=["test"],
                                       config={}, code_version="test", input_files=["xquad"], shards=infos))
    return directory


def _frequencies(texts: list[str], normalizer, pre_tokenizer) -> Counter:
    words = Counter()
    for text in texts:
        words.update(piece for piece, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    return words


# The vocabularies are built from counts here rather than with tokenizers' trainers, whose tie-breaking
# varies from run to run (hash-map order): a test's tokenisation, and so its numbers, must not.
def wordpiece_tokenizer(texts: list[str], vocab_size: int = 3000) -> PreTrainedTokenizerFast:
    """A BERT-like tokenizer (lower-casing WordPiece): every character seen, alone and as a ``##``
    continuation, plus the most frequent words of ``texts``."""
    normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    words = _frequencies(texts, normalizer, pre_tokenizer)
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    characters = sorted({ch for word in words for ch in word})
    pieces = special + characters + ["##" + ch for ch in characters]
    frequent = sorted((w for w in words if len(w) > 1), key=lambda w: (-words[w], w))
    pieces += frequent[:max(vocab_size - len(pieces), 0)]
    tokenizer = Tokenizer(models.WordPiece({piece: n for n, piece in enumerate(pieces)}, unk_token="[UNK]"))
    tokenizer.normalizer, tokenizer.pre_tokenizer, tokenizer.decoder = normalizer, pre_tokenizer, decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"])


def unigram_tokenizer(texts: list[str], vocab_size: int = 3000) -> PreTrainedTokenizerFast:
    """An XLM-R-like tokenizer (SentencePiece-style Unigram with '▁' word markers): every character seen
    plus the most frequent '▁'-words of ``texts``, scored by their log frequency."""
    normalizer, pre_tokenizer = normalizers.NFKC(), pre_tokenizers.Metaspace()
    words = _frequencies(texts, normalizer, pre_tokenizer)
    characters = Counter()
    for word, count in words.items():
        characters.update({ch: count for ch in word})
    total = sum(words.values()) + sum(characters.values())
    special = ["<pad>", "<s>", "</s>", "<unk>", "<mask>"]
    frequent = sorted((w for w in words if len(w) > 1), key=lambda w: (-words[w], w))
    frequent = frequent[:max(vocab_size - len(special) - len(characters), 0)]
    # Characters score below any word, so a known word is one piece.
    vocab = [(piece, 0.0) for piece in special]
    vocab += [(w, math.log(words[w] / total)) for w in frequent]
    vocab += [(ch, math.log(characters[ch] / total) - 10.0) for ch in sorted(characters)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=special.index("<unk>")))
    tokenizer.normalizer, tokenizer.pre_tokenizer, tokenizer.decoder = normalizer, pre_tokenizer, decoders.Metaspace()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>",
                                   cls_token="<s>", sep_token="</s>", mask_token="<mask>",
                                   model_input_names=["input_ids", "attention_mask"])


def training_texts(rows: list[dict]) -> list[str]:
    return sorted({row["context"] for row in rows}) + [row["query"] for row in rows]


def fit_one_batch(model, batch: dict, steps: int, lr: float = 3e-3) -> list[float]:
    """Adam steps on one batch (``model(**batch)["loss"]``); the loss of every step, to show a head can learn."""
    import torch
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = model(**batch)["loss"]
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def free_port() -> int:
    """A free local TCP port for a test's process group (MASTER_PORT)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
