"""Shared helpers of the CLISM tests (no tests here): CLISM rows built from the Europarl parallel NER gold
standard, written as valid ``clism`` shards, until the CLISM pipeline produces real ones.

Sentence k of ``en-europarl.test.conll02`` translates sentence k of ``de-europarl.test.conll02``, and both
sides carry gold entities. Every English entity becomes one [QUE]; its answer is the German entity of the same
type in the same order. A pair whose entity counts per type differ between the sides (or that has none) is
skipped, since the pairing would be a guess."""
from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import KINDS, Manifest, ShardInfo, write_manifest
from schemas.conll import read_conll
from schemas.tags import spans_from_tags

QUE = "[QUE]"


def _join(tokens: list[str]) -> tuple[str, list[dict]]:
    """Tokens joined by single spaces, and each token's character offsets."""
    words, position = [], 0
    for token in tokens:
        words.append({"start": position, "end": position + len(token)})
        position += len(token) + 1
    return " ".join(tokens), words


def europarl_clism_rows(data_dir: Path, limit: int | None = None) -> list[dict]:
    ner = data_dir / "ner"
    english = list(read_conll(ner / "en-europarl.test.conll02", tag_scheme=None))
    german = list(read_conll(ner / "de-europarl.test.conll02", tag_scheme=None))
    assert len(english) == len(german), "the Europarl NER files are parallel by sentence"
    rows = []
    for en, de in zip(english, german):
        en_spans, de_spans = spans_from_tags(en.tags), spans_from_tags(de.tags)
        if not en_spans or Counter(s.label for s in en_spans) != Counter(s.label for s in de_spans):
            continue
        source, source_words = _join(en.tokens)
        target, target_words = _join(de.tokens)
        german_by_type = defaultdict(list)
        for span in de_spans:
            german_by_type[span.label].append(span)
        taken = Counter()
        pieces, cursor, source_spans, answers = [], 0, [], []
        for span in en_spans:
            start, end = source_words[span.start]["start"], source_words[span.end - 1]["end"]
            pieces += [source[cursor:start], QUE]
            cursor = end
            source_spans.append({"text": source[start:end], "start": start, "end": end, "label": span.label})
            answer = german_by_type[span.label][taken[span.label]]
            taken[span.label] += 1
            a_start, a_end = target_words[answer.start]["start"], target_words[answer.end - 1]["end"]
            answers.append({"text": target[a_start:a_end], "start": a_start, "end": a_end})
        rows.append({
            "id": f"europarl-en-de-{en.index}", "src_lang": "en", "tgt_lang": "de",
            "masked_source": "".join(pieces) + source[cursor:], "source": source, "target": target,
            "que_token": QUE, "source_spans": source_spans, "answers": answers, "source_words": source_words,
            "target_words": target_words, "alignment": [], "corpus": "europarl-ner-gold", "line": en.index})
        if limit is not None and len(rows) == limit:
            break
    return rows


def write_clism_dataset(directory: Path, shards: list[list[dict]], row_group_size: int | None = None) -> Path:
    """A valid CLISM dataset directory (shards + manifest)."""
    kind = KINDS["clism"]
    directory.mkdir(parents=True, exist_ok=True)
    infos = []
    for n, rows in enumerate(shards):
        name = f"part-{n:05d}-of-{len(shards):05d}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=kind.schema_with_metadata()), directory / name,
                       row_group_size=row_group_size)
        infos.append(ShardInfo(name, len(rows)))
    write_manifest(directory, Manifest(kind="clism", schema_version=kind.version, command=["test"], config={},
                                       code_version="test", input_files=["europarl-ner-gold"], shards=infos))
    return directory


def clism_texts(rows: list[dict]) -> list[str]:
    """Texts a test tokenizer learns its vocabulary from."""
    return [row["source"] for row in rows] + [row["target"] for row in rows]
