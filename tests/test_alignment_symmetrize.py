"""Symmetrisation must reproduce fast_align's `atools -c` output exactly (reference files in align_gold)."""
import pytest

from alignment import HEURISTICS, canonical_heuristic, format_links, read_links, symmetrize, symmetrize_all


@pytest.mark.parametrize("dataset", ["enfr", "roen"])
@pytest.mark.parametrize("heuristic", HEURISTICS)
def test_matches_atools_line_for_line(data_dir, dataset, heuristic):
    base = data_dir / "align_gold" / "symmetrization" / dataset
    fwd = read_links(f"{base}.fwd")
    rev = read_links(f"{base}.rev")
    expected = (base.parent / f"{dataset}.{heuristic}").read_text(encoding="utf-8").splitlines()
    got = [format_links(links) for links in symmetrize_all(fwd, rev, heuristic)]
    assert len(got) == len(expected)
    mismatches = [k + 1 for k, (g, e) in enumerate(zip(got, expected)) if g != e]
    assert mismatches == [], f"lines differing from atools: {mismatches[:10]}"


def test_reference_heuristics_differ(data_dir):
    # Guards the test above: if all reference files were equal, matching them would prove little.
    base = data_dir / "align_gold" / "symmetrization"
    outputs = {h: (base / f"enfr.{h}").read_text() for h in HEURISTICS}
    assert len(set(outputs.values())) == len(HEURISTICS)


def test_small_grid_by_hand():
    fwd = [(0, 0), (1, 1), (2, 1), (3, 3)]
    rev = [(0, 0), (1, 1), (2, 0), (3, 3), (3, 4)]
    assert symmetrize(fwd, rev, "intersect") == [(0, 0), (1, 1), (3, 3)]
    assert symmetrize(fwd, rev, "union") == [(0, 0), (1, 1), (2, 0), (2, 1), (3, 3), (3, 4)]
    # Grid order: (2, 0) comes before (2, 1); it touches (1, 1) diagonally with source 2 unaligned, so it is
    # added, and then (2, 1) has both words aligned and stays out. (3, 4) touches (3, 3), target 4 free.
    assert symmetrize(fwd, rev, "grow-diag") == [(0, 0), (1, 1), (2, 0), (3, 3), (3, 4)]
    # final: forward (2, 1) still has both words aligned → not added.
    assert symmetrize(fwd, rev, "grow-diag-final") == [(0, 0), (1, 1), (2, 0), (3, 3), (3, 4)]


def test_final_and_needs_both_words_unaligned():
    # (0, 2) is isolated from the intersection, so grow-diag never reaches it.
    fwd = [(0, 0), (0, 2)]
    rev = [(0, 0), (2, 2)]
    assert symmetrize(fwd, rev, "grow-diag") == [(0, 0)]
    # final: forward (0, 2) first (target 2 free) → added; then (2, 2): source 2 free → added too.
    assert symmetrize(fwd, rev, "grow-diag-final") == [(0, 0), (0, 2), (2, 2)]
    # final-and: (0, 2) has source 0 aligned → no; (2, 2) has both free → yes.
    assert symmetrize(fwd, rev, "grow-diag-final-and") == [(0, 0), (2, 2)]


def test_empty_and_unknown():
    assert symmetrize([], [], "grow-diag-final-and") == []
    assert canonical_heuristic("intersection") == "intersect"
    with pytest.raises(ValueError, match="grow-diag-final-and"):
        symmetrize([], [], "grow-diagonal")
    with pytest.raises(ValueError, match="2 forward but 1 reverse"):
        symmetrize_all([[], []], [[]])
