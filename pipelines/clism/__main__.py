"""Parallel sentences → CLISM [QUE] span pairs (paper 000, §3.1, §4.1, Appendix B), as Parquet shards + manifest.

One language pair:
    python -m pipelines.clism --src train.en --tgt train.vi --src-lang en --tgt-lang vi \\
        --ner-model en_core_web_sm --output DIR [options] [Beam options]
    ... --tsv pairs.tsv ...            (source<TAB>target per line)
    ... --joint pairs.txt ...          (source ||| target per line)
    ... --source-spans gold.en.conll --tgt gold.de.txt ...   (gold source spans, no NER needed)

Several language pairs in one run: repeat --corpus LANGS FORMAT PATH... [name=NAME], FORMAT one of
    lines SRC TGT | tsv FILE | joint FILE | conll SPANS_CONLL TGT
e.g. --corpus en-ar lines t.ara-eng.eng t.ara-eng.ara --corpus en-vi tsv envi.tsv
Extra unlabelled parallel text that only helps estimate the alignment model (no rows): --extra, same shape.

Source spans: named entities of a spaCy pipeline (--ner-model NAME_OR_PATH, or LANG=NAME_OR_PATH per source
language), or gold spans (conll corpora: any BIO/IOB1/BIOES tags). Appendix B filters: spans made only of
stop words (or punctuation) are dropped, spans are whole words, at most --max-span-words (10) words; a sentence
with no span left is dropped. spaCy models cannot be downloaded by the pipeline: run
`python -m spacy download en_core_web_sm` on a connected machine (or in the worker image), then pass
--ner-model en_core_web_sm, or a model directory.

Alignment: eflomal by default, one model per language pair over all its usable pairs (a model from a sample,
then batches aligned in parallel, see pipelines/align/transforms.py); --aligner fast_align|giza (GIZA++, or
MGIZA++ when GIZA++ is not installed; --aligner-bin DIR finds their programs), or --links-file FILE with
precomputed links, one line `ID<TAB>i-j i-j ...` per pair (ID = SRC-TGT:CORPUS:LINE, line 0-based; from a
line-aligned Pharaoh file: awk '{print "en-de:NAME:" NR-1 "\\t" $0}' links.txt). A span maps to the target
words from the first to the last one linked to it, far stray links left out (alignment.span_mapping.
map_target_span); a span with no link is dropped.

Input hygiene, each counted in the manifest: HTML character references are unescaped (--no-html-unescape to
keep them); empty sentences and sentences over --max-words words or --max-chars characters are dropped, never
cut; files of different lengths or malformed TSV/joint lines stop the run with file and line unless
--on-length-mismatch truncate / --on-malformed skip. Moses-tokenised input: --pretokenized (words = the
whitespace-separated tokens; also what --links-file must index).

Beam options (--runner, --project, --temp_location, --direct_num_workers ...) pass through.
"""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

# Only what the command line needs: the input readers, the span finder and the Beam graph import Beam (and
# spaCy), so they are imported once the arguments parsed, and --help or a wrong flag answers at once.
from pipelines.align.options import add_alignment_arguments, alignment_from_args
from pipelines.cli import main_wrapper, parse_args
from pipelines.clism.config import ClismConfig
from pipelines.config_arguments import add_config_arguments, config_values
from pipelines.publish import add_overwrite_argument, publishing
from schemas.errors import UsageError

if TYPE_CHECKING:
    from pipelines.clism.parallel_input import CorpusSpec


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.clism", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    one = parser.add_argument_group("one language pair")
    one.add_argument("--src", metavar="FILE", help="source sentences, one per line")
    one.add_argument("--tgt", metavar="FILE", help="target sentences, parallel by line (also with --source-spans)")
    one.add_argument("--tsv", metavar="FILE", help="source<TAB>target per line")
    one.add_argument("--joint", metavar="FILE", help="source ||| target per line")
    one.add_argument("--source-spans", metavar="CONLL",
                     help="gold source sentences with spans (CoNLL/BIO); sentence k pairs with line k of --tgt")
    one.add_argument("--src-lang", help="source language code (en)")
    one.add_argument("--tgt-lang", help="target language code (vi)")
    one.add_argument("--name", default="", help="corpus name in ids and rows (default: the first file's name)")
    add("--corpus", action="append", nargs="+", default=[], metavar="ARG",
        help="LANGS FORMAT PATH... [name=NAME]: one corpus of a multi-pair run (repeat)")
    add("--extra", action="append", nargs="+", default=[], metavar="ARG",
        help="LANGS FORMAT PATH... : unlabelled parallel text that only helps the alignment model (repeat)")
    add("--output", required=True, metavar="DIR", help="dataset directory to write")
    add("--ner-model", action="append", default=[], metavar="[LANG=]MODEL",
        help="spaCy pipeline name or directory for source NER (repeat LANG=MODEL for several source languages)")
    add("--entity-labels", default=None, metavar="A,B",
        help="keep only spans of these types (e.g. PERSON,ORG,GPE; default: all)")
    add_config_arguments(parser, ClismConfig)  # --max-span-words, --seed, ... (defaults and help: ClismConfig)
    add_alignment_arguments(parser, "clism")
    add_overwrite_argument(parser)
    return parser


def corpora_from_args(args: argparse.Namespace) -> list[CorpusSpec]:
    """The corpora named by the one-pair flags and by --corpus / --extra."""
    from pipelines.clism.parallel_input import CorpusSpec, parse_corpus_spec

    corpora = [parse_corpus_spec(tokens) for tokens in args.corpus]
    corpora += [parse_corpus_spec(tokens, align_only=True) for tokens in args.extra]
    one_pair = [flag for flag in ("src", "tsv", "joint", "source_spans") if getattr(args, flag)]
    if len(one_pair) > 1:
        raise UsageError("give one of --src/--tgt, --tsv, --joint and --source-spans/--tgt (or use --corpus)")
    if not one_pair:
        if args.tgt:
            raise UsageError("--tgt needs --src or --source-spans")
        return corpora
    if not args.src_lang or not args.tgt_lang:
        raise UsageError("--src-lang and --tgt-lang are required with --src/--tsv/--joint/--source-spans")
    flag = one_pair[0]
    if flag in ("src", "source_spans") and not args.tgt:
        raise UsageError(f"--{flag.replace('_', '-')} needs --tgt")
    if flag in ("tsv", "joint") and args.tgt:
        raise UsageError(f"--tgt does not go with --{flag}")
    format_, paths = {"src": ("lines", (args.src, args.tgt)), "tsv": ("tsv", (args.tsv,)),
                      "joint": ("joint", (args.joint,)),
                      "source_spans": ("conll", (args.source_spans, args.tgt))}[flag]
    return [CorpusSpec(args.src_lang, args.tgt_lang, format_, paths, args.name)] + corpora


def config_from_args(args: argparse.Namespace) -> ClismConfig:
    from pipelines.clism.spans import parse_ner_models

    labels = tuple(label for label in args.entity_labels.split(",") if label) if args.entity_labels else None
    return ClismConfig(corpora=corpora_from_args(args), output=args.output, ner_models=parse_ner_models(args.ner_model),
                       entity_labels=labels, alignment=alignment_from_args(args),
                       **config_values(args, ClismConfig))


def check_inputs(config: ClismConfig) -> None:
    """Every input file exists (local or on a Beam filesystem): fail before any worker starts."""
    from apache_beam.io.filesystems import FileSystems

    for path in config.input_files():
        if not FileSystems.exists(path):
            raise FileNotFoundError(f"{path}: no such file")


def run(argv: list[str] | None = None):
    args, options = parse_args(build_parser(), argv)
    config = config_from_args(args)
    check_inputs(config)
    import apache_beam as beam

    from pipelines.clism.pipeline import build_pipeline
    from pipelines.shards import write_dataset_manifest

    with publishing([config.output], args.overwrite) as claimed:
        publication = claimed[config.output]
        pipeline = beam.Pipeline(options=options)
        build_pipeline(pipeline, config)
        return publication.publish(write_dataset_manifest(pipeline.run(), publication.staging, "clism",
                                                          config.to_dict(), config.input_files()))


def main(argv: list[str] | None = None) -> int:
    return main_wrapper(run, argv)


if __name__ == "__main__":
    sys.exit(main())
