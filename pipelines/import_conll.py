"""Import labelled CoNLL files as a tagged-sentence dataset (the trainer reads nothing but shards).

    python -m pipelines.import_conll --input 'data/eng.train' --lang en --output DIR \
        [--encoding latin-1] [--tag-column -1] [--tag-scheme BIOES] [Beam options]

Any tag scheme in (IOB1, BIO, BIOES) is re-tagged in ``--tag-scheme``; ``-DOCSTART-`` lines are skipped and
counted; a malformed line, or a file without a sentence, stops the run with the file and line.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from functools import partial

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.cli import main_wrapper, parse_args
from pipelines.config_arguments import add_config_arguments, config_values, flag
from pipelines.publish import add_overwrite_argument, publishing
from pipelines.shards import CountingDoFn, WriteShards, count, write_dataset_manifest
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.import_conll", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", action="append", required=True, metavar="GLOB",
                        help="CoNLL file(s), plain, .gz or .bz2; repeat or use a glob; local or gs://, s3://, hdfs://")
    parser.add_argument("--lang", required=True, help="language code of the tokens")
    parser.add_argument("--output", required=True, metavar="DIR", help="dataset directory to write")
    add_config_arguments(parser, ImportConllConfig)  # --encoding, ... (defaults and help: ImportConllConfig)
    add_overwrite_argument(parser)
    return parser


@dataclass
class ImportConllConfig:
    """Everything the graph needs, resolved on the launching machine: ``inputs`` are the matched files (Beam
    filesystem paths, so a worker opens them itself), nothing else of the launcher travels. Each option's default
    and help are written here once: the command's flags are made from these fields."""
    inputs: list[str]
    lang: str
    output: str
    encoding: str = flag("utf-8", "file encoding (CoNLL-2002 is latin-1)", show_default=False)
    tag_column: int = flag(-1, "column of the tag (default: the last)")
    tag_scheme: str = flag("BIOES", "output tag scheme", choices=("BIOES", "BIO"), show_default=False)
    num_shards: int = flag(0, "number of shards (0: the runner decides)", show_default=False)
    overwrite: bool = False  # not part of the graph: whether a finished dataset in ``output`` may be replaced

    def manifest_config(self) -> dict:
        """What the manifest records as the run's configuration (inputs and output are recorded apart)."""
        return {"lang": self.lang, "encoding": self.encoding, "tag_column": self.tag_column,
                "tag_scheme": self.tag_scheme}


def configure(argv: list[str] | None = None) -> tuple[ImportConllConfig, PipelineOptions]:
    """The command line → the graph's configuration (input globs expanded here) and Beam's options."""
    args, options = parse_args(build_parser(), argv)
    config = ImportConllConfig(inputs=expand_inputs(args.input), lang=args.lang, output=args.output,
                               overwrite=args.overwrite, **config_values(args, ImportConllConfig))
    return config, options


def build_pipeline(pipeline: beam.Pipeline, config: ImportConllConfig) -> None:
    """Apply the import graph to ``pipeline`` (nothing runs: the caller runs it, or only inspects it)."""
    (pipeline
     | "Files" >> beam.Create(config.inputs)
     | "Reshuffle" >> beam.Reshuffle()  # one file per worker when there are many
     | "ReadConll" >> beam.ParDo(ReadConllFile(config.lang, config.encoding, config.tag_column,
                                               config.tag_scheme))
     | "Write" >> WriteShards(config.output, "tagged", num_shards=config.num_shards))


def run(argv: list[str] | None = None):
    config, options = configure(argv)
    with publishing([config.output], config.overwrite) as claimed:
        publication = claimed[config.output]
        pipeline = beam.Pipeline(options=options)
        build_pipeline(pipeline, config)
        return publication.publish(write_dataset_manifest(pipeline.run(), publication.staging, "tagged",
                                                          config.manifest_config(), config.inputs))


if __name__ == "__main__":
    sys.exit(main_wrapper(run))
