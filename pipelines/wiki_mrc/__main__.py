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

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.cli import main_wrapper, parse_args
from pipelines.publish import add_overwrite_argument, publishing
from pipelines.shards import write_dataset_manifest
from pipelines.tokenize import SUPPORTED_LANGUAGES
from pipelines.wiki.dump import list_units, read_siteinfo
from pipelines.wiki.parser_process import DEFAULT_MAX_MEMORY_MB
from pipelines.wiki.titles import NamespaceTable
from pipelines.wiki.wikitext import DEFAULT_MAX_CHARS
from pipelines.wiki_mrc import examples as ex
from pipelines.wiki_mrc.pipeline import FAULTS_FILE, MrcConfig, MrcJob, build_pipeline
from pipelines.wiki_mrc.redirects import DEFAULT_MAX_HOPS
from pipelines.wiki_mrc.title_masking import RULE_NAMES
from pipelines.worker_tuning import fix_mmap_threshold
from schemas.errors import UsageError, UserError
from schemas.storage import join

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
    add("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    add("--query-words", type=int, default=ex.QUERY_WORDS, metavar="Q", help="query length in words (paper: 50)")
    add("--context-words", type=int, default=ex.CONTEXT_WORDS, metavar="C",
        help="context length in words (paper: 200)")
    add("--max-answerable", type=int, default=ex.MAX_ANSWERABLE,
        help="answerable examples per entity (paper: 10)")
    add("--max-unanswerable", type=int, default=ex.MAX_UNANSWERABLE,
        help="unanswerable examples per entity (paper: 10)")
    add("--min-mentions", type=int, default=0,
        help="drop entities linked fewer times (paper: 10 for English, 5 for other languages; 0 = that)")
    add("--min-article-words", type=int, default=ex.MIN_ARTICLE_WORDS,
        help="skip articles with fewer words (default 21: articles of 20 words or fewer are skipped)")
    add("--mask-token", default=ex.MASK_TOKEN, help="what the entity's names become in the query (default [MASK])")
    add("--title-masking", choices=RULE_NAMES, default=None,
        help="how a query word carries the entity's name: as the whole word (word), as its start (prefix), after "
             "proclitics too (clitic), anywhere (substring); default: the language's row of "
             "pipelines/wiki_mrc/title_masking.py (the README lists it)")
    add("--answer-position", choices=tuple(ex.ANSWER_POSITIONS), default=ex.DEFAULT_ANSWER_POSITION,
        help="where the answer sits in its context: stochastic (xi ~ U{0..C} words before it, the paper's) or "
             "centre (C/2 words on each side: the ablation of paper 001's Table 2)")
    add("--max-redirect-hops", type=int, default=DEFAULT_MAX_HOPS,
        help=f"longest redirect chain followed (default {DEFAULT_MAX_HOPS})")
    add("--bucket-articles", type=int, default=16,
        help="articles per bucket on average: the candidates for an unrelated (unanswerable) context")
    add("--parse-timeout", type=float, default=30.0, metavar="SECONDS",
        help="skip a page whose wikitext takes longer to parse (0: parse inline, no bound)")
    add("--parse-memory-mb", type=int, default=DEFAULT_MAX_MEMORY_MB, metavar="MB",
        help=f"skip a page whose parse needs more address space than this (default {DEFAULT_MAX_MEMORY_MB}; "
             "0: no ceiling; applies with --parse-timeout, whose child process it bounds)")
    add("--max-page-chars", type=int, default=DEFAULT_MAX_CHARS, help="skip pages with more wikitext")
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
    tokenizer_lang = args.tokenizer_lang or args.lang
    if tokenizer_lang not in SUPPORTED_LANGUAGES:
        raise UsageError(f"no word tokenizer for {tokenizer_lang!r}: pass --tokenizer-lang with one of "
                         f"{', '.join(SUPPORTED_LANGUAGES)} (e.g. ru for Bulgarian, a Cyrillic language with spaces)")
    config = MrcConfig(
        lang=args.lang, tokenizer_lang=tokenizer_lang, seed=args.seed, query_words=args.query_words,
        context_words=args.context_words, max_answerable=args.max_answerable,
        max_unanswerable=args.max_unanswerable, min_mentions=args.min_mentions,
        min_article_words=args.min_article_words, mask_token=args.mask_token,
        max_redirect_hops=args.max_redirect_hops, bucket_articles=args.bucket_articles,
        parse_memory_mb=args.parse_memory_mb,
        parse_timeout_s=args.parse_timeout, max_page_chars=args.max_page_chars,
        title_masking=args.title_masking or "", answer_position=args.answer_position)
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
    path = join(output, FAULTS_FILE)
    if not FileSystems.exists(path):
        return []
    with FileSystems.open(path) as handle:
        return sorted(line for line in handle.read().decode("utf-8").splitlines() if line.strip())


def main(argv: list[str] | None = None) -> int:
    return main_wrapper(run, argv)


if __name__ == "__main__":
    sys.exit(main())
