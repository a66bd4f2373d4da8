"""Precision / recall / AER, checked by hand and on fast_align's real links."""
import pytest

from alignment import GoldAlignment, read_gold, read_links, score_alignments, symmetrize_all


def test_aer_by_hand():
    gold = [GoldAlignment(frozenset({(0, 0), (1, 1)}), frozenset({(0, 0), (1, 1), (1, 2)}))]
    s = score_alignments([[(0, 0), (1, 2), (2, 2)]], gold)
    # |A|=3, |S|=2, |A∩S|=1, |A∩P|=2
    assert (s.n_predicted, s.n_sure, s.n_predicted_sure, s.n_predicted_possible) == (3, 2, 1, 2)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(1 / 2)
    assert s.aer == pytest.approx(1 - 3 / 5)


def test_perfect_and_empty():
    gold = [GoldAlignment(frozenset({(0, 0)}), frozenset({(0, 0), (0, 1)}))]
    assert score_alignments([[(0, 0)]], gold).aer == 0.0
    assert score_alignments([[]], gold).aer == 1.0
    with pytest.raises(ValueError):
        score_alignments([[], []], gold)


@pytest.mark.parametrize("dataset, expected", [("enfr", 0.293), ("roen", 0.482)])
def test_fast_align_reference_aer(data_dir, dataset, expected):
    # The issue quotes fast_align's AER on these sets; its links are in symmetrization/.
    base = data_dir / "align_gold"
    fwd = read_links(base / "symmetrization" / f"{dataset}.fwd")
    rev = read_links(base / "symmetrization" / f"{dataset}.rev")
    gold = read_gold(base / f"{dataset}.gold", one_based=True)
    scores = score_alignments(symmetrize_all(fwd, rev, "grow-diag-final-and"), gold)
    assert scores.aer == pytest.approx(expected, abs=0.006)
