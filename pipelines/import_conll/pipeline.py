"""The import's Beam graph: CoNLL files (any Beam filesystem) → one tagged-sentence row per sentence → shards.
The command line is ``__main__.py``; the options are ``config.py``."""
from __future__ import annotations

import os
from functools import partial

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.import_conll.config import ImportConllConfig
from pipelines.shards import CountingDoFn, WriteShards, count
from schemas.conll import ConllError, ConllStats, open_conll_file, read_conll


def expand_inputs(patterns: list[str]) -> list[str]:
    """Every file matching the patterns (local or any Beam filesystem); a pattern matching none is an error."""
    files = []
    for pattern in patterns:
        matched = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        if not matched:
            raise FileNotFoundError(f"--input {pattern!r} matches no file")
        files += sorted(matched)
    return files


# CoNLL files are opened uncompressed and decompressed by schemas.conll, which reports a cut .gz/.bz2 (Beam's
# own reader stops at the cut as if the file ended there).
_STORED_BYTES = partial(FileSystems.open, compression_type=CompressionTypes.UNCOMPRESSED)


class ReadConllFile(CountingDoFn):
    """A CoNLL file path → one tagged-sentence row per sentence."""

    def __init__(self, lang: str, encoding: str, tag_column: int, tag_scheme: str):
        self.lang, self.encoding, self.tag_column, self.tag_scheme = lang, encoding, tag_column, tag_scheme

    def process(self, path: str):
        corpus = os.path.basename(path)
        stats = ConllStats()
        with open_conll_file(path, _STORED_BYTES) as handle:
            for sentence in read_conll(handle, tag_column=self.tag_column, encoding=self.encoding,
                                       tag_scheme=self.tag_scheme, name=path, stats=stats):
                yield {
                    "id": f"{corpus}:{sentence.index}",
                    "lang": self.lang,
                    "tokens": sentence.tokens,
                    "tags": sentence.tags,
                    "corpus": corpus,
                    "sentence_index": sentence.index,
                    "source_id": None,
                    "source_lang": None,
                    "projection": None,
                }
        if not stats.sentences:  # a wrong --input would otherwise give an empty dataset that looks finished
            raise ConllError(f"{path}:1: no sentence in the file (it is empty, or holds only blank and "
                             "-DOCSTART- lines)")
        count("files_read")
        count("sentences_read", stats.sentences)
        count("tokens_read", stats.tokens)
        count("docstart_lines", stats.documents)
        # Kept (first column as token, last as tag) but worth knowing: the CoNLL-2002 Dutch 0x81 quirk.
        count("lines_with_missing_columns", stats.short_lines)
        # Kept whole (columns split at tabs and spaces only) but worth knowing: U+00A0, U+3000, U+2028, zero-width.
        count("tokens_with_unicode_space", stats.tokens_with_unicode_space)


def build_pipeline(pipeline: beam.Pipeline, config: ImportConllConfig) -> None:
    """Apply the import graph to ``pipeline`` (nothing runs: the caller runs it, or only inspects it)."""
    (pipeline
     | "Files" >> beam.Create(config.inputs)
     | "Reshuffle" >> beam.Reshuffle()  # one file per worker when there are many
     | "ReadConll" >> beam.ParDo(ReadConllFile(config.lang, config.encoding, config.tag_column,
                                               config.tag_scheme))
     | "Write" >> WriteShards(config.output, "tagged", num_shards=config.num_shards))

