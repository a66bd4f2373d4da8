"""Label projection (paper 002, §2.2): a labelled source-language set and its translations → a pseudo-labelled
``tagged`` dataset per target language, and scoring projected tags against gold.

    python -m pipelines.project_labels --source eng.train --src-lang en \\
        --translations train.de.txt --tgt-lang de [--translations train.es.txt --tgt-lang es ...] \\
        --output DIR [--method cluster|span|word] [--conflict coverage] [--pretokenized] \\
        [--extra-parallel wmt.en wmt.de [de]] [--conll-out 'DIR/{lang}.conll'] [Beam options]
    python -m pipelines.project_labels evaluate --predicted F_OR_DIR --gold F [--json F]

Source: CoNLL columns (``--tag-column``, default the last; ``--encoding``, e.g. latin-1 for CoNLL-2002;
``-DOCSTART-`` lines skipped; IOB1, BIO or BIOES tags, read with conlleval's rules, ``--input-scheme`` to insist
on one). Translations: one sentence per line in source order, UTF-8; words from the foundation's tokeniser for
the target language, or ``--pretokenized`` whitespace-separated tokens kept exactly. Every target language
is a (``--translations``, ``--tgt-lang``) pair, given in the same order, and becomes the dataset
``OUTPUT/<lang>`` (shards + manifest). An empty translation line is a counted drop; a line count that differs
from the source's sentence count stops the run before it starts.

Alignment: eflomal (or ``--aligner fast_align|giza``) on the source words and the translation words (as
written, or ``--lowercase-alignment``), symmetrised with ``--heuristic`` (default grow-diag-final-and, the best
for projection over all gold pairs, docs/project_labels.md); the alignment flags are the same as ``pipelines.clism``'s;
``--extra-parallel SRC TGT [LANG]`` adds tokenised parallel text (Moses escapes such as ``&apos;`` undone;
empty, over-long and length-mismatched pairs counted and skipped) that only helps the aligner.

Projection: ``--method cluster`` (default: span-to-span without far stray links), ``span`` (paper 002's
span-to-span, eq. 2) or ``word`` (word-to-word baseline); overlapping
projected spans are resolved by ``--conflict`` (coverage: keep the span whose words are best linked to its own
source span; shorter; longer; first; drop: lose all overlapping spans). Tags regenerated in
``--output-scheme`` (BIOES default, or BIO).
"""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

# Only what the command line needs: the readers, the scorer and the Beam graph import Beam, so they are imported
# once the arguments parsed, and --help or a wrong flag answers at once.
from pipelines.align.options import add_alignment_arguments, alignment_from_args
from pipelines.cli import main_wrapper, parse_args
from pipelines.config_arguments import add_config_arguments, config_values
from pipelines.project_labels.config import ExtraFilter, ExtraParallel, ProjectionConfig, Target
from pipelines.publish import add_overwrite_argument, publishing
from schemas import Manifest
from schemas.errors import InputDataError, UsageError
from schemas.storage import join

if TYPE_CHECKING:
    from pipelines.project_labels import evaluate as evaluation


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.project_labels", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--source", required=True, metavar="CONLL", help="labelled source sentences (CoNLL columns)")
    add("--src-lang", required=True, help="language of the source")
    add("--translations", action="append", required=True, metavar="FILE",
        help="translations, one sentence per line in source order; repeat with --tgt-lang for each language")
    add("--tgt-lang", action="append", required=True, metavar="LANG",
        help="language of the matching --translations (same order)")
    add("--output", required=True, metavar="DIR", help="datasets are written to DIR/<lang>")
    add_config_arguments(parser, ProjectionConfig)  # --method, --seed, ... (defaults and help: ProjectionConfig)
    add("--extra-parallel", action="append", nargs="+", default=[], metavar="FILE",
        help="SRC TGT [LANG]: tokenised parallel text that helps the aligner (LANG needed with several targets)")
    add_config_arguments(parser, ExtraFilter)  # --extra-max-words, --extra-max-ratio
    add("--conll-out", metavar="FILE", help="also write CoNLL; '{lang}' in FILE is replaced (needed for several)")
    add_alignment_arguments(parser, "project_labels")  # --links-file lines: 'LANG:INDEX<TAB>i-j ...'
    add("--links-out", metavar="TSV", help="write the links used, in --links-file format (re-project without "
        "aligning again)")
    add_overwrite_argument(parser)
    return parser


def config_from_args(args: argparse.Namespace) -> ProjectionConfig:
    if len(args.translations) != len(args.tgt_lang):
        raise UsageError(f"{len(args.translations)} --translations but {len(args.tgt_lang)} --tgt-lang: give one "
                         "language per translations file, in the same order")
    targets = tuple(Target(lang, path) for lang, path in zip(args.tgt_lang, args.translations))
    extras = []
    for values in args.extra_parallel:
        if len(values) == 2 and len(targets) == 1:
            values = [*values, targets[0].lang]
        if len(values) != 3 or values[2] not in args.tgt_lang:
            raise UsageError(f"--extra-parallel {' '.join(values)}: expected SRC TGT and, with several target "
                             f"languages, one of {', '.join(args.tgt_lang)}")
        extras.append(ExtraParallel(*values))
    if args.conll_out and len(targets) > 1 and "{lang}" not in args.conll_out:
        raise UsageError("--conll-out needs '{lang}' in its name when there are several target languages")
    return ProjectionConfig(
        source=args.source, src_lang=args.src_lang, targets=targets, output=args.output,
        extra_parallel=tuple(extras), extra_filter=ExtraFilter(**config_values(args, ExtraFilter)),
        alignment=alignment_from_args(args), links_out=args.links_out, conll_out=args.conll_out,
        **config_values(args, ProjectionConfig))


def check_inputs(config: ProjectionConfig) -> None:
    """Fail before the pipeline starts when the files cannot be parallel (one pass over each file)."""
    from pipelines.project_labels.translations import count_lines, count_sentences

    sentences = count_sentences(config.source, config.encoding, config.tag_column)
    for target in config.targets:
        lines = count_lines(target.translations)
        if lines != sentences:
            raise InputDataError(f"{target.translations} has {lines} lines but {config.source} has {sentences} "
                                 "sentences: translations must be one line per source sentence, in order")
    for extra in config.extra_parallel:
        n_src, n_tgt = count_lines(extra.src), count_lines(extra.tgt)
        if n_src != n_tgt:
            raise InputDataError(f"--extra-parallel files must be parallel by line: {extra.src} has {n_src} lines, "
                                 f"{extra.tgt} has {n_tgt}")


def run(argv: list[str] | None = None) -> Manifest | None:
    args, options = parse_args(build_parser(), argv)
    config = config_from_args(args)
    check_inputs(config)
    import apache_beam as beam

    from pipelines.project_labels.pipeline import build_pipeline, language_counters
    from pipelines.shards import COUNTS_FILE, read_counts, write_dataset_manifest

    # One dataset per language, each claimed (every claim before the run starts) and published on its own.
    with publishing([config.output_dir(target.lang) for target in config.targets], args.overwrite) as claimed:
        pipeline = beam.Pipeline(options=options)
        build_pipeline(pipeline, config)
        result = pipeline.run()
        result.wait_until_finish()
        # One run, one counts file: every language's shards have the run's counts beside them.
        counters = read_counts(join(claimed[config.output_dir(config.targets[0].lang)].staging, COUNTS_FILE))
        manifests = []
        for target in config.targets:
            directory = config.output_dir(target.lang)
            inputs = [config.source, target.translations] + [f for e in config.extra_parallel
                                                             if e.lang == target.lang for f in (e.src, e.tgt)]
            manifest_config = {**config.to_dict(), "tgt_lang": target.lang, "tag_scheme": config.output_scheme}
            # One run writes every language: each manifest keeps its own language's counters.
            staged = write_dataset_manifest(result, claimed[directory].staging, "tagged", manifest_config, inputs,
                                            counters=language_counters(counters, target.lang, config))
            manifest = claimed[directory].publish(staged)
            manifests.append(manifest)
            if len(config.targets) > 1:
                print(f"{target.lang}: wrote {manifest.row_count} rows to {directory}; dropped: "
                      f"{', '.join(f'{k} {v}' for k, v in manifest.dropped.items()) or 'none'}")
    return manifests[0] if len(manifests) == 1 else None


def build_evaluate_parser() -> argparse.ArgumentParser:
    from pipelines.project_labels import evaluate as evaluation  # its docstring is the help

    parser = argparse.ArgumentParser(prog="python -m pipelines.project_labels evaluate",
                                     description=evaluation.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--predicted", required=True, help="projected tags: a CoNLL file or a tagged dataset directory")
    add("--gold", required=True, help="gold CoNLL file of the same target sentences")
    add("--gold-encoding", default="utf-8")
    add("--gold-tag-column", type=int, default=-1)
    add("--predicted-encoding", default="utf-8")
    add("--predicted-tag-column", type=int, default=-1)
    add("--json", metavar="FILE", help="also write the scores as JSON")
    return parser


def evaluate(argv: list[str] | None = None) -> evaluation.Scores:
    args = build_evaluate_parser().parse_args(argv)
    from pipelines.project_labels import evaluate as evaluation

    scores = evaluation.score(args.predicted, args.gold, args.gold_encoding, args.gold_tag_column,
                              args.predicted_encoding, args.predicted_tag_column)
    print(scores.table())
    if args.json:
        evaluation.write_json(scores, args.json)
    return scores


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["evaluate"]:
        return main_wrapper(evaluate, given[1:])
    # argv stays None for a command: main_wrapper then keeps the run's log quiet until the process exits (Beam
    # logs its service shutdown after the run has returned).
    return main_wrapper(run, argv)


if __name__ == "__main__":
    sys.exit(main())
