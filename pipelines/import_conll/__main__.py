"""Import labelled CoNLL files as a tagged-sentence dataset (the trainer reads nothing but shards).

    python -m pipelines.import_conll --input 'data/eng.train' --lang en --output DIR \
        [--encoding latin-1] [--tag-column -1] [--tag-scheme BIOES] [Beam options]

Any tag scheme in (IOB1, BIO, BIOES) is re-tagged in ``--tag-scheme``; ``-DOCSTART-`` lines are skipped and
counted; a malformed line, or a file without a sentence, stops the run with the file and line.
"""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from pipelines.cli import main_wrapper, parse_args
from pipelines.config_arguments import add_config_arguments, config_values
from pipelines.import_conll.config import ImportConllConfig
from pipelines.publish import add_overwrite_argument, publishing

if TYPE_CHECKING:
    from apache_beam.options.pipeline_options import PipelineOptions


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


def configure(argv: list[str] | None = None) -> tuple[ImportConllConfig, PipelineOptions]:
    """The command line → the graph's configuration (input globs expanded here) and Beam's options."""
    args, options = parse_args(build_parser(), argv)
    from pipelines.import_conll.pipeline import expand_inputs  # Beam: only once the command line is good

    config = ImportConllConfig(inputs=expand_inputs(args.input), lang=args.lang, output=args.output,
                               overwrite=args.overwrite, **config_values(args, ImportConllConfig))
    return config, options


def run(argv: list[str] | None = None):
    config, options = configure(argv)
    import apache_beam as beam

    from pipelines.import_conll.pipeline import build_pipeline
    from pipelines.shards import write_dataset_manifest

    with publishing([config.output], config.overwrite) as claimed:
        publication = claimed[config.output]
        pipeline = beam.Pipeline(options=options)
        build_pipeline(pipeline, config)
        return publication.publish(write_dataset_manifest(pipeline.run(), publication.staging, "tagged",
                                                          config.manifest_config(), config.inputs))


def main(argv: list[str] | None = None) -> int:
    return main_wrapper(run, argv)


if __name__ == "__main__":
    sys.exit(main())
