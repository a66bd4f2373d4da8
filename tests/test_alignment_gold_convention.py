"""`python -m alignment evaluate` reads gold in the index base the file shows, or refuses to guess: the real
WPT gold (1-based, per the data README) and fast_align's links (0-based) are told apart, and a file that
shows neither stops with the two flags named."""
import json

import pytest

from alignment import read_joint, sentence_lengths
from alignment.__main__ import main
from alignment.errors import InputError
from alignment.gold_convention import detect_gold_convention


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("dataset", ["enfr", "roen"])
def test_wpt_gold_is_found_one_based_with_its_sentences(data_dir, dataset):
    base = data_dir / "align_gold"
    lengths = sentence_lengths(read_joint(base / f"{dataset}.src-tgt"))
    found = detect_gold_convention(base / f"{dataset}.gold", lengths)
    assert found.one_based is True, found.evidence
    # Without the sentences nothing shows it: no index 0 is not enough on its own.
    assert detect_gold_convention(base / f"{dataset}.gold").one_based is None


@pytest.mark.parametrize("name", ["enfr.fwd", "roen.rev", "enfr.grow-diag-final-and"])
def test_aligner_links_are_found_zero_based(data_dir, name):
    found = detect_gold_convention(data_dir / "align_gold" / "symmetrization" / name)
    assert found.one_based is False and "index 0" in found.evidence


def test_evaluate_detects_what_the_flag_would_say(data_dir, capsys):
    base = data_dir / "align_gold"
    pred = base / "symmetrization" / "enfr.grow-diag-final-and"
    common = ["evaluate", "--gold", base / "enfr.gold", "--pred", pred, "--json"]
    code, detected, err = _run(common + ["--input", base / "enfr.src-tgt"], capsys)
    assert code == 0 and "read as 1-based" in err
    code, told, _ = _run(common + ["--one-based"], capsys)
    assert code == 0 and json.loads(detected) == json.loads(told)
    # The shifted reading the detection prevents scores far worse: the flags are honoured as given.
    code, shifted, _ = _run(common + ["--zero-based"], capsys)
    assert code == 0 and json.loads(shifted)["aer"] > json.loads(told)["aer"] + 0.15


def test_evaluate_refuses_to_guess(data_dir, capsys):
    base = data_dir / "align_gold"
    code, out, err = _run(["evaluate", "--gold", base / "enfr.gold", "--pred",
                           base / "symmetrization" / "enfr.intersect"], capsys)
    assert code == 1 and out == ""
    assert err.startswith(f"error: {base / 'enfr.gold'}: cannot tell") and "--zero-based or --one-based" in err


def test_both_flags_are_a_usage_error(tmp_path, capsys):
    (tmp_path / "g").write_text("1-1\n")
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "--gold", str(tmp_path / "g"), "--pred", str(tmp_path / "g"), "--one-based",
              "--zero-based"])
    assert stop.value.code == 2


def test_mixed_conventions_name_both_lines(tmp_path, capsys):
    src, tgt, gold, pred = (tmp_path / n for n in ("in.src", "in.tgt", "x.gold", "x.pred"))
    src.write_text("a b\nc d e\n")
    tgt.write_text("x y\nz w\n")
    gold.write_text("1-1 2p2\n0-0\n")
    pred.write_text("0-0\n0-0\n")
    with pytest.raises(InputError, match=r"line 2 has an index 0 .* line 1 has an index equal"):
        detect_gold_convention(gold, [(2, 2), (3, 2)])
    code, _, err = _run(["evaluate", "--gold", gold, "--pred", pred, "--src", src, "--tgt", tgt], capsys)
    assert code == 1 and err.startswith(f"error: {gold}: mixes index conventions")
