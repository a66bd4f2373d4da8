"""GIZA++ through the adapter: the real MGIZA++ (../shared/tools has no GIZA++ itself, so ``giza`` runs MGIZA++)
with Moses' recipe on small real corpora, and the A3.final parser."""
import os

import pytest

from alignment import (AlignerFailedError, BinaryNotFoundError, GizaAligner, InputError, make_aligner, parse_a3,
                       score_alignments, symmetrize_all)
from alignment_fixtures import gold_set, one_source_word_per_target, one_target_word_per_source


@pytest.fixture(scope="module")
def enfr(data_dir):
    return gold_set(data_dir, "enfr", lowercase=True)


@pytest.fixture(scope="module")
def enfr_aligned(tools_dir, enfr, tmp_path_factory):
    """The 447 enfr gold pairs plus a pair over GIZA's length limit, aligned once by ``--aligner giza``."""
    pairs, gold = enfr
    tmp = tmp_path_factory.mktemp("giza-tmp")
    aligner = make_aligner("giza", binary=str(tools_dir), tmp_dir=str(tmp))
    fwd, rev = aligner.align_directional(pairs + [(["w"] * 101, ["v"] * 101)])
    return pairs, gold, fwd, rev, tmp, aligner


def test_giza_runs_mgiza_when_giza_is_absent(tools_dir, bare_environment):
    variant, tools = GizaAligner(binary=str(tools_dir)).tools()
    assert variant == "mgiza"
    assert tools == {role: str(tools_dir / name) for role, name in
                     (("aligner", "mgiza"), ("plain2snt", "plain2snt"), ("snt2cooc", "snt2cooc"), ("mkcls", "mkcls"))}
    with pytest.raises(BinaryNotFoundError, match="no 'GIZA\\+\\+' or 'giza\\+\\+' executable"):
        GizaAligner(binary=str(tools_dir), variant="giza").tools()


def test_enfr_aer_between_fast_align_and_eflomal(enfr_aligned):
    pairs, gold, fwd, rev, _, _ = enfr_aligned
    aer = score_alignments(symmetrize_all(fwd[:len(pairs)], rev[:len(pairs)], "grow-diag-final-and"), gold).aer
    assert aer < 0.28  # docs/alignment.md: 0.260; fast_align 0.293, eflomal 0.172
    # Direction sanity: forward links give each target word at most one source word, reverse the opposite.
    assert one_source_word_per_target(fwd)
    assert one_target_word_per_source(rev)
    assert sum(1 for links in fwd if links) > 0.95 * len(pairs)


def test_too_long_pairs_get_no_links_and_a_reason(enfr_aligned):
    pairs, _, fwd, rev, _, aligner = enfr_aligned
    assert fwd[len(pairs)] == rev[len(pairs)] == []
    assert aligner.cannot_align(101, 101) == "over_giza_max_length"
    assert aligner.cannot_align(1, 10) == "over_giza_length_ratio"
    assert aligner.cannot_align(10, 12) is None


def test_temporary_files_are_removed(enfr_aligned):
    assert os.listdir(enfr_aligned[4]) == []


def test_threads_split_the_output_into_parts_that_are_merged(tools_dir, enfr):
    pairs = enfr[0][:120]
    fwd, rev = GizaAligner(binary=str(tools_dir), variant="mgiza", threads=2).align_directional(pairs)
    assert sum(1 for links in fwd if links) > 110 and sum(1 for links in rev if links) > 110


def test_a_failing_giza_reports_its_own_message(tools_dir, enfr):
    # Options come after Moses' schedule, so this points mgiza at a corpus that is not there.
    with pytest.raises(AlignerFailedError, match=r"^mgiza \(fwd\): mgiza exited with status 1: .*Cannot open "
                                                 r"missing\.snt$"):
        GizaAligner(binary=str(tools_dir), options=["-c", "missing.snt"]).align(enfr[0][:20])


A3_SAMPLE = """\
# Sentence pair (1) source length 2 target length 3 alignment score : 0.00123
das kleine Haus
NULL ({ }) the ({ 1 }) house ({ 2 3 })
# Sentence pair (2) source length 3 target length 2 alignment score : 1.5e-07
ja danke
NULL ({ 2 }) yes ({ 1 }) thank ({ }) you ({ })
"""


def test_parse_a3_final():
    assert parse_a3(A3_SAMPLE) == {1: [(0, 0), (1, 1), (1, 2)], 2: [(0, 0)]}


def test_parse_a3_errors():
    with pytest.raises(InputError, match="x.A3, line 3: position 4 past the end"):
        parse_a3(A3_SAMPLE.replace("({ 2 3 })", "({ 2 4 })"), "x.A3")
    with pytest.raises(InputError, match="line 1: expected a '# Sentence pair"):
        parse_a3("garbage\n", "x.A3")
