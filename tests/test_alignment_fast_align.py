"""fast_align through the adapter, against the real program and its own symmetriser (atools), on enfr gold."""
import subprocess

import pytest

from alignment import AlignerFailedError, FastAlignAligner, InputError, score_alignments, symmetrize_all
from alignment.fast_align import parse_pharaoh_output
from alignment.pharaoh import parse_links
from alignment_fixtures import gold_set, one_source_word_per_target, one_target_word_per_source


@pytest.fixture(scope="module")
def enfr(data_dir):
    return gold_set(data_dir, "enfr", lowercase=True)


def _direct(tools_dir, path, reverse):
    """fast_align run by hand with the recipe of its README."""
    args = [str(tools_dir / "fast_align"), "-i", str(path), "-d", "-o", "-v"] + (["-r"] if reverse else [])
    return subprocess.run(args, check=True, capture_output=True, text=True, env={"OMP_NUM_THREADS": "1"}).stdout


def test_the_adapter_gives_what_fast_align_and_atools_give(tools_dir, enfr, tmp_path):
    """One OpenMP thread makes fast_align deterministic, so the adapter's links must equal a direct run's, and
    the project's symmetrisation must equal atools' on them."""
    pairs, gold = enfr
    fwd, rev = FastAlignAligner(binary=str(tools_dir), threads=1).align_directional(pairs)
    corpus = tmp_path / "enfr.src-tgt"
    corpus.write_text("".join(f"{' '.join(s)} ||| {' '.join(t)}\n" for s, t in pairs), encoding="utf-8")
    direct = {name: _direct(tools_dir, corpus, name == "rev") for name in ("fwd", "rev")}
    assert [parse_links(line) for line in direct["fwd"].splitlines()] == fwd
    assert [parse_links(line) for line in direct["rev"].splitlines()] == rev
    for name, text in direct.items():
        (tmp_path / name).write_text(text)
    atools = subprocess.run([str(tools_dir / "atools"), "-c", "grow-diag-final-and", "-i", str(tmp_path / "fwd"),
                             "-j", str(tmp_path / "rev")], check=True, capture_output=True, text=True).stdout
    links = symmetrize_all(fwd, rev, "grow-diag-final-and")
    assert [parse_links(line) for line in atools.splitlines()] == links
    assert score_alignments(links, gold).aer < 0.31  # docs/alignment.md: 0.293 (published on the full Hansards: 0.153)


def test_empty_sides_and_separator_tokens(tools_dir):
    pairs = [(["the", "house"], ["la", "maison"]), ([], ["vide"]), (["x|||y", "z"], ["w"]),
             (["a", "house"], ["une", "maison"])]
    fwd, rev = FastAlignAligner(binary=str(tools_dir)).align_directional(pairs)
    assert fwd[1] == rev[1] == []                     # an empty side: not sent, no links
    assert all(i < 2 and j < 1 for i, j in fwd[2] + rev[2])  # '|||' inside a token stayed one token
    assert one_source_word_per_target(fwd)
    assert one_target_word_per_source(rev)


def test_a_trained_model_aligns_other_pairs(tools_dir, enfr):
    """train() returns fast_align's learnt tables (-p) and numbers; with_model() aligns with them (-f, no
    training). Unpruned (-t -1000), the model gives its own sample back link for link; on pairs it never saw,
    its unseen words only get fast_align's floor probability (docs/alignment.md measures that cost at scale)."""
    pairs, gold = enfr
    aligner = FastAlignAligner(binary=str(tools_dir), threads=1, extra_args=("-t", "-1000"))
    sample_fwd, sample_rev, model = aligner.train(pairs[:400])
    assert (sample_fwd, sample_rev) == aligner.align_directional(pairs[:400])  # training aligns as usual
    with_model = aligner.with_model(model, len(pairs))
    assert with_model.align_directional(pairs[:400]) == (sample_fwd, sample_rev)
    fwd, rev = with_model.align_directional(pairs[400:])
    assert one_source_word_per_target(fwd)
    assert score_alignments(symmetrize_all(fwd, rev), gold[400:]).aer < 0.35  # measured: 0.32
    with pytest.raises(ValueError, match="already aligns with a trained model"):
        with_model.train(pairs[400:])


def test_bad_output_is_reported_with_its_line():
    pairs = [(["a"], ["b"]), (["c", "d"], ["e"])]
    with pytest.raises(AlignerFailedError, match="printed 1 lines for 2"):
        parse_pharaoh_output("0-0\n", pairs, "fast_align forward output")
    with pytest.raises(InputError, match="line 2: link 0-4 .* past the end"):
        parse_pharaoh_output("0-0\n0-4\n", pairs, "fast_align forward output")
    assert parse_pharaoh_output("a ||| b ||| 0-0 ||| -1.5\nc d ||| e ||| 1-0 ||| -2\n", pairs, "x",
                                field=2) == [[(0, 0)], [(1, 0)]]
