"""Import labelled CoNLL files as a tagged-sentence dataset (the trainer reads nothing but shards).

    python -m pipelines.import_conll --input 'data/eng.train' --lang en --output DIR \
        [--encoding latin-1] [--tag-column -1] [--tag-scheme BIOES] [Beam options]

Any tag scheme in (IOB1, BIO, BIOES) is re-tagged in ``--tag-scheme``; ``-DOCSTART-`` lines are skipped and
counted; a malformed line stops the run with the file and line.
"""
from __future__ import annotations

import argparse
import os
import sys

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.cli import main_wrapper, parse_args
from pipelines.shards import WriteShards, count, write_dataset_manifest
from schemas.conll import ConllStats, read_conll


def expand_inputs(patterns: list[str]) -> list[str]:
    """Every file matching the patterns (local or any Beam filesystem); a pattern matching none is an error."""
    files = []
    for pattern in patterns:
        matched = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        if not matched:
            raise FileNotFoundError(f"--input {pattern!r} matches no file")
        files += sorted(matched)
    return files


class ReadConllFile(beam.DoFn):
    """A CoNLL file path → one tagged-sentence row per sentence."""

    def __init__(self, lang: str, encoding: str, tag_column: int, tag_scheme: str):
        self.lang, self.encoding, self.tag_column, self.tag_scheme = lang, encoding, tag_column, tag_scheme

    def process(self, path: str):
        corpus = os.path.basename(path)
        stats = ConllStats()
        with FileSystems.open(path) as handle:
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
        count("files_read")
        count("sentences_read", stats.sentences)
        count("tokens_read", stats.tokens)
        count("docstart_lines", stats.documents)
        # Kept (first column as token, last as tag) but worth knowing: the CoNLL-2002 Dutch 0x81 quirk.
        count("lines_with_missing_columns", stats.short_lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.import_conll", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", action="append", required=True, metavar="GLOB",
                        help="CoNLL file(s); repeat or use a glob; local or gs://, s3://, hdfs://")
    parser.add_argument("--lang", required=True, help="language code of the tokens")
    parser.add_argument("--output", required=True, metavar="DIR", help="dataset directory to write")
    parser.add_argument("--encoding", default="utf-8", help="file encoding (CoNLL-2002 is latin-1)")
    parser.add_argument("--tag-column", type=int, default=-1, help="column of the tag (default: the last)")
    parser.add_argument("--tag-scheme", choices=("BIOES", "BIO"), default="BIOES", help="output tag scheme")
    parser.add_argument("--num-shards", type=int, default=0, help="number of shards (0: the runner decides)")
    return parser


def run(argv: list[str] | None = None):
    args, options = parse_args(build_parser(), argv)
    files = expand_inputs(args.input)
    pipeline = beam.Pipeline(options=options)
    (pipeline
     | "Files" >> beam.Create(files)
     | "Reshuffle" >> beam.Reshuffle()  # one file per worker when there are many
     | "ReadConll" >> beam.ParDo(ReadConllFile(args.lang, args.encoding, args.tag_column, args.tag_scheme))
     | "Write" >> WriteShards(args.output, "tagged", num_shards=args.num_shards))
    config = {"lang": args.lang, "encoding": args.encoding, "tag_column": args.tag_column,
              "tag_scheme": args.tag_scheme}
    return write_dataset_manifest(pipeline.run(), args.output, "tagged", config, files)


if __name__ == "__main__":
    sys.exit(main_wrapper(run))
