"""Command line: ``python -m alignment {align,priors,symmetrize,evaluate} ...``.

Bad input ends with one ``error: FILE, line N: ...`` line on stderr and exit status 1 (2 for bad usage),
never a traceback: these commands are run on user files, and the file and line are what a user needs.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from . import (ALIGNERS, DEFAULT_ALIGNER, DEFAULT_HEURISTIC, HEURISTICS, AlignmentError, canonical_aligner,
               make_aligner, read_gold, read_joint, read_links, read_parallel, score_alignments, sentence_lengths,
               symmetrize_all, write_links)
from .external import BIN_ENV
from .corpus import check_parallel
from .gold_convention import detect_gold_convention
from .eflomal_aligner import priors_from_links


def _add_input(p: argparse.ArgumentParser, required: bool = True) -> None:
    g = p.add_argument_group("input (tokenised, one sentence pair per line)")
    g.add_argument("--src", help="source-side file")
    g.add_argument("--tgt", help="target-side file, parallel to --src by line")
    g.add_argument("-i", "--input", help="one 'source ||| target' file instead of --src/--tgt")
    p.set_defaults(_input_required=required)


def _read_pairs(args, allow_empty: bool):
    if args.input and (args.src or args.tgt):
        raise SystemExit("error: give either --input or --src/--tgt, not both")
    if args.input:
        return read_joint(args.input, allow_empty=allow_empty)
    if args.src and args.tgt:
        return read_parallel(args.src, args.tgt, allow_empty=allow_empty)
    if args.src or args.tgt or args._input_required:
        raise SystemExit("error: give --src and --tgt, or --input")
    return None


def _eflomal_options(args) -> dict:
    opts = {"n_samplers": args.samplers, "model": args.model}
    if args.priors:
        opts["priors"] = args.priors
    return opts


def _program_options(args) -> dict:
    return {"binary": args.aligner_bin, "threads": args.threads}


def _precomputed_options(args) -> dict:
    if not args.links:
        raise SystemExit("error: --aligner precomputed needs --links FILE (and optionally --links-rev FILE)")
    return {"forward_path": args.links, "reverse_path": args.links_rev, "one_based": args.links_one_based}


# Which command-line options each registered aligner takes (alignment.registry names them all).
OPTIONS_FROM_ARGS = {"eflomal": _eflomal_options, "fast_align": _program_options, "giza": _program_options,
                     "mgiza": _program_options, "precomputed": _precomputed_options}


def _aligner_options(args) -> dict:
    return OPTIONS_FROM_ARGS[canonical_aligner(args.aligner)](args)


def _write_output(path: str, links, one_based: bool) -> None:
    """Pharaoh links to ``path``, or to standard output for ``-``."""
    if path == "-":
        write_links(sys.stdout, links, one_based=one_based)
        return
    with open(path, "w", encoding="utf-8") as out:
        write_links(out, links, one_based=one_based)


def cmd_align(args) -> None:
    pairs = _read_pairs(args, args.allow_empty)
    aligner = make_aligner(args.aligner, **_aligner_options(args))
    fwd, rev = aligner.align_directional(pairs)
    _write_output(args.out, symmetrize_all(fwd, rev, args.symmetrize), args.one_based_out)
    if args.out_fwd:
        write_links(args.out_fwd, fwd, one_based=args.one_based_out)
    if args.out_rev:
        write_links(args.out_rev, rev, one_based=args.one_based_out)
    if args.write_priors:
        with open(args.write_priors, "wb") as f:
            f.write(priors_from_links(pairs, fwd, rev))


def cmd_symmetrize(args) -> None:
    fwd = read_links(args.fwd, args.one_based)
    rev = read_links(args.rev, args.one_based)
    check_parallel(args.fwd, len(fwd), args.rev, len(rev))
    _write_output(args.out, symmetrize_all(fwd, rev, args.heuristic), args.one_based)


def _gold_one_based(args, lengths) -> bool:
    """The gold file's index base: as told, else as its own indices show (``gold_convention``); a file that
    does not show it stops the command rather than be scored shifted by one."""
    if args.gold_base is not None:
        return args.gold_base == "one"
    found = detect_gold_convention(args.gold, lengths)
    if found.one_based is None:
        raise AlignmentError(f"{args.gold}: cannot tell whether the gold links are 0- or 1-based ({found.evidence}); "
                             "pass --zero-based or --one-based")
    print(f"{args.gold}: read as {found.evidence}", file=sys.stderr)
    return found.one_based


def cmd_evaluate(args) -> None:
    pairs = _read_pairs(args, allow_empty=True)
    lengths = None if pairs is None else sentence_lengths(pairs)
    gold = read_gold(args.gold, one_based=_gold_one_based(args, lengths), lengths=lengths)
    pred = read_links(args.pred, one_based=args.pred_one_based, lengths=lengths)
    check_parallel(args.gold, len(gold), args.pred, len(pred))
    scores = score_alignments(pred, gold)
    if args.json:
        print(json.dumps(scores.as_dict()))
    else:
        print(f"precision {scores.precision:.4f}\nrecall    {scores.recall:.4f}\nAER       {scores.aer:.4f}\n"
              f"({scores.n_predicted} predicted, {scores.n_sure} sure gold links, {len(gold)} sentence pairs)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m alignment", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("align", help="word-align sentence pairs, write symmetrised Pharaoh links")
    _add_input(p)
    p.add_argument("--aligner", default=DEFAULT_ALIGNER, choices=ALIGNERS.names(),
                   help="; ".join(f"{entry.name}: {entry.summary}" for entry in ALIGNERS.entries()))
    p.add_argument("--symmetrize", default=DEFAULT_HEURISTIC, choices=HEURISTICS)
    p.add_argument("--out", default="-", help="symmetrised links (Pharaoh, 0-based); '-' = stdout")
    p.add_argument("--out-fwd", help="also write forward links here")
    p.add_argument("--out-rev", help="also write reverse links here")
    p.add_argument("--one-based-out", action="store_true", help="write 1-based links")
    p.add_argument("--allow-empty", action="store_true",
                   help="accept pairs with an empty side (they get an empty links line) instead of failing")
    g = p.add_argument_group("eflomal")
    g.add_argument("--priors", help="eflomal priors file (from `priors` or --write-priors)")
    g.add_argument("--write-priors", help="write eflomal priors estimated from this alignment here")
    g.add_argument("--samplers", type=int, default=6, help="independent samplers (default 6)")
    g.add_argument("--model", type=int, default=3, choices=(1, 2, 3), help="1 IBM1, 2 +HMM, 3 +fertility")
    g = p.add_argument_group("fast_align / giza / mgiza")
    g.add_argument("--aligner-bin", "--binary", metavar="DIR",
                   help=f"the aligner program, or the folder holding it and its companions (default: ${BIN_ENV}, "
                        "then PATH)")
    g.add_argument("--threads", type=int, default=None,
                   help="mgiza's -ncpus (default 1) / fast_align's OpenMP threads (default: all)")
    g = p.add_argument_group("precomputed")
    g.add_argument("--links", help="Pharaoh links computed elsewhere (forward, or already symmetrised)")
    g.add_argument("--links-rev", help="reverse links, if --links holds forward links")
    g.add_argument("--links-one-based", action="store_true", help="--links files are 1-based")
    p.set_defaults(func=cmd_align)

    p = sub.add_parser("priors", help="estimate eflomal priors on a (large) sample, for aligning shards")
    _add_input(p)
    p.add_argument("--out", required=True, help="priors file to write")
    p.add_argument("--samplers", type=int, default=6)
    p.add_argument("--allow-empty", action="store_true")
    p.set_defaults(func=lambda a: _cmd_priors(a))

    p = sub.add_parser("symmetrize", help="symmetrise forward and reverse links (like atools -c)")
    p.add_argument("--fwd", required=True)
    p.add_argument("--rev", required=True)
    p.add_argument("--heuristic", default=DEFAULT_HEURISTIC, choices=HEURISTICS)
    p.add_argument("--one-based", action="store_true", help="links are 1-based (input and output)")
    p.add_argument("--out", default="-")
    p.set_defaults(func=cmd_symmetrize)

    p = sub.add_parser("evaluate", help="precision, recall and AER of links against gold")
    p.add_argument("--gold", required=True, help="gold links: i-j sure, ipj possible")
    p.add_argument("--pred", required=True, help="predicted links (Pharaoh)")
    base = p.add_mutually_exclusive_group()
    base.add_argument("--one-based", dest="gold_base", action="store_const", const="one",
                      help="the gold file is 1-based (WPT gold is)")
    base.add_argument("--zero-based", dest="gold_base", action="store_const", const="zero",
                      help="the gold file is 0-based. Without either flag the file's indices decide (an index 0: "
                           "0-based; an index equal to the sentence length, with --input: 1-based), and a file "
                           "that shows neither is refused")
    p.add_argument("--pred-one-based", action="store_true", help="the predicted links are 1-based")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    _add_input(p, required=False)  # optional text: lets every index be checked against sentence lengths
    p.set_defaults(func=cmd_evaluate)
    return parser


def _cmd_priors(args) -> None:
    from .eflomal_aligner import EflomalAligner, estimate_priors
    pairs = _read_pairs(args, args.allow_empty)
    data = estimate_priors(pairs, EflomalAligner(n_samplers=args.samplers))
    with open(args.out, "wb") as f:
        f.write(data)


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except AlignmentError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # pragma: no cover - e.g. `| head`
        return 1
    except FileNotFoundError as err:  # an input path that is not there; other OSErrors are not the input's fault
        print(f"error: {err.filename or ''}: {err.strerror or err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
