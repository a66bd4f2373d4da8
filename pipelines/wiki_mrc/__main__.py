"""MediaWiki XML dumps → mPMR MRC triplets (paper 001, §2.2 and Appendix A.1), as Parquet shards + manifest.

    python -m pipelines.wiki_mrc --input 'DUMP_GLOB' --lang en --output DIR [options] [Beam options]

Inputs: ``*-pages-articles*.xml`` dumps, plain, .bz2, .xz or .gz, local or on any Beam filesystem (gs://,
s3://, hdfs://). A multistream dump with its ``-index.txt.bz2`` beside it is read as one work unit per bz2
stream. A truncated or malformed dump keeps the pages read before the fault; the fault is reported with file
and position (and listed in DIR/_dump_faults.txt); with ``--strict`` the run then fails (exit status 1) and
publishes nothing: what was in DIR before stays as it was.

Languages: ``--lang`` is the wiki's language (titles, disambiguation rules, link trails, the mention floor:
10 for English, 5 for others). Words come from the tokenizer of ``--tokenizer-lang`` (default: ``--lang``);
a language outside the 24 mPMR languages needs it explicitly, e.g. ``--lang bg --tokenizer-lang ru``.
The entity's names are masked in the query as ``--lang``'s row of ``title_masking.py`` says (a language outside
that table takes the row of ``--tokenizer-lang``); ``--title-masking`` overrides the rule.

Beam options (``--runner``, ``--project``, ``--temp_location``, ``--direct_num_workers`` ...) pass through.
"""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

# Only what the command line needs: the Beam graph (pipeline.py) and the dump reader import Beam and spaCy, so
# they are imported once the arguments parsed, and --help or a wrong flag answers at once.
from pipelines.cli import main_wrapper, parse_args
from pipelines.config_arguments import add_config_arguments, config_values
from pipelines.publish import add_overwrite_argument, publishing
from pipelines.tokenize import SUPPORTED_LANGUAGES
from pipelines.wiki.titles import NamespaceTable
from pipelines.wiki_mrc.config import MrcConfig
from pipelines.worker_tuning import fix_mmap_threshold
from schemas.errors import UsageError, UserError
from schemas.storage import join

if TYPE_CHECKING:
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.wiki_mrc.pipeline import MrcJob


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.wiki_mrc", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--input", action="append", required=True, metavar="GLOB",
        help="dump file(s); repeat or use a glob; index files matched by the glob are skipped")
    add("--lang", required=True, help="language code of the wiki (en, vi, ...)")
    add("--output", required=True, metavar="DIR", help="dataset directory to write")
    add("--tokenizer-lang", default=None, metavar="LANG",
        help=f"word tokenizer to use (default: --lang); one of {' '.join(SUPPORTED_LANGUAGES)}")
    add_config_arguments(parser, MrcConfig)
    add("--target-unit-mb", type=float, default=0,
        help="merge consecutive streams of a multistream dump into units of about this many MB (0: one per stream)")
    add("--num-shards", type=int, default=0, help="number of shards (0: the runner decides)")
    add("--strict", action="store_true", help="fail (exit status 1) when a dump has a fault")
    add_overwrite_argument(parser)
    return parser


def configure(argv: list[str] | None = None) -> tuple[MrcJob, PipelineOptions]:
    """The command line → the job (dump units listed and each file's <siteinfo> read here, on the launching
    machine) and Beam's options."""
    args, options = parse_args(build_parser(), argv)
    from pipelines.wiki.dump import list_units, read_siteinfo
    from pipelines.wiki_mrc.pipeline import MrcJob

    tokenizer_lang = args.tokenizer_lang or args.lang
    if tokenizer_lang not in SUPPORTED_LANGUAGES:
        raise UsageError(f"no word tokenizer for {tokenizer_lang!r}: pass --tokenizer-lang with one of "
                         f"{', '.join(SUPPORTED_LANGUAGES)} (e.g. ru for Bulgarian, a Cyrillic language with spaces)")
    config = MrcConfig(lang=args.lang, tokenizer_lang=tokenizer_lang, **config_values(args, MrcConfig))
    units = []
    for pattern in args.input:
        units += list_units(pattern, target_unit_bytes=int(args.target_unit_mb * 2**20))
    files = sorted({unit.path for unit in units})
    if not files:
        raise FileNotFoundError(f"--input {args.input!r} matches no dump (only index files?)")
    tables = {path: NamespaceTable.from_siteinfo(read_siteinfo(path), args.lang) for path in files}
    job = MrcJob(config, units, tables, args.output, args.num_shards, strict=args.strict,
                 overwrite=args.overwrite)
    return job, options


def run(argv: list[str] | None = None):
    job, options = configure(argv)
    import apache_beam as beam

    from pipelines.shards import write_dataset_manifest
    from pipelines.wiki_mrc.pipeline import FAULTS_FILE, build_pipeline

    fix_mmap_threshold()  # a local runner holds every shuffle in this process (see pipelines.worker_tuning)
    with publishing([job.output], job.overwrite) as claimed:
        publication = claimed[job.output]
        pipeline = beam.Pipeline(options=options)
        build_pipeline(pipeline, job)
        result = pipeline.run()
        result.wait_until_finish()
        faults = read_faults(publication.staging)
        if faults:
            kept = "nothing is published (--strict)" if job.strict else \
                f"listed in {join(job.output, FAULTS_FILE)}"
            print(f"warning: {len(faults)} dump fault(s); the pages before each fault were kept ({kept}):",
                  file=sys.stderr)
            for line in faults:
                print(f"  {line}", file=sys.stderr)
            if job.strict:  # before publishing: the folder keeps what it held
                raise DumpFaultError(f"{len(faults)} dump fault(s), the first: {faults[0]}")
        return publication.publish(write_dataset_manifest(result, publication.staging, "mrc",
                                                          job.config.to_dict(), job.input_files))


class DumpFaultError(UserError):
    pass


def read_faults(output: str) -> list[str]:
    """The fault descriptions a run wrote (sorted: the order workers found them in is not stable)."""
    from apache_beam.io.filesystems import FileSystems

    from pipelines.wiki_mrc.pipeline import FAULTS_FILE

    path = join(output, FAULTS_FILE)
    if not FileSystems.exists(path):
        return []
    with FileSystems.open(path) as handle:
        return sorted(line for line in handle.read().decode("utf-8").splitlines() if line.strip())


def main(argv: list[str] | None = None) -> int:
    return main_wrapper(run, argv)


if __name__ == "__main__":
    sys.exit(main())
