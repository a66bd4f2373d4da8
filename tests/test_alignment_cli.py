"""`python -m alignment`: align, symmetrize, evaluate, priors; bad input → file and line, exit status 1."""
import json
import subprocess
import sys

import pytest

from alignment.__main__ import main


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_align_and_evaluate_roen_end_to_end(data_dir, tmp_path):
    """The documented commands, run as a user would: the default aligner (eflomal + grow-diag-final-and)
    meets the roen AER target (enfr's is checked in test_alignment_eflomal)."""
    gold_dir = data_dir / "align_gold"
    out = tmp_path / "roen.gdfa"
    cmd = [sys.executable, "-m", "alignment"]
    subprocess.run(cmd + ["align", "--input", gold_dir / "roen.src-tgt", "--aligner", "eflomal",
                          "--symmetrize", "grow-diag-final-and", "--out", out, "--out-fwd", tmp_path / "f",
                          "--out-rev", tmp_path / "r"], check=True)
    assert len(out.read_text().splitlines()) == 248
    res = subprocess.run(cmd + ["evaluate", "--gold", gold_dir / "roen.gold", "--pred", out, "--one-based",
                                "--input", gold_dir / "roen.src-tgt", "--json"],
                         check=True, capture_output=True, text=True)
    assert json.loads(res.stdout)["aer"] <= 0.38
    # The symmetrize subcommand reproduces the gdfa file from the directional ones.
    sym = subprocess.run(cmd + ["symmetrize", "--fwd", tmp_path / "f", "--rev", tmp_path / "r"],
                         check=True, capture_output=True, text=True)
    assert sym.stdout == out.read_text()


def test_symmetrize_command_matches_atools(data_dir, capsys):
    base = data_dir / "align_gold" / "symmetrization"
    code, out, _ = _run(["symmetrize", "--fwd", base / "roen.fwd", "--rev", base / "roen.rev",
                         "--heuristic", "grow-diag-final"], capsys)
    assert code == 0 and out == (base / "roen.grow-diag-final").read_text()


def test_evaluate_text_output(data_dir, capsys):
    base = data_dir / "align_gold"
    code, out, _ = _run(["evaluate", "--gold", base / "enfr.gold", "--one-based",
                         "--pred", base / "symmetrization" / "enfr.intersect"], capsys)
    assert code == 0 and "AER" in out and "447 sentence pairs" in out


def test_precomputed_and_src_tgt_files(tmp_path, capsys):
    (tmp_path / "s").write_text("a b\nc\n")
    (tmp_path / "t").write_text("x y\nz\n")
    (tmp_path / "links").write_text("1-2 2-1\n1-1\n")
    out = tmp_path / "o"
    code, _, err = _run(["align", "--src", tmp_path / "s", "--tgt", tmp_path / "t", "--aligner", "precomputed",
                         "--links", tmp_path / "links", "--links-one-based", "--out", out], capsys)
    assert code == 0, err
    assert out.read_text() == "0-1 1-0\n0-0\n"


@pytest.mark.parametrize("aligner", ["fast_align", "giza"])
def test_external_aligners_through_cli(tools_dir, data_dir, tmp_path, capsys, aligner):
    """The real programs found through --aligner-bin, on the first 60 roen gold pairs."""
    lines = (data_dir / "align_gold" / "roen.src-tgt").read_text(encoding="utf-8").splitlines()[:60]
    (tmp_path / "in").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "links"
    code, _, err = _run(["align", "--input", tmp_path / "in", "--aligner", aligner, "--aligner-bin", tools_dir,
                         "--out", out], capsys)
    assert code == 0, err
    links = out.read_text().splitlines()
    assert len(links) == 60 and sum(1 for line in links if line) > 55


@pytest.mark.parametrize("case", ["line_counts", "empty_line", "missing_binary", "gold_past_end",
                                  "bad_link", "precomputed_past_end", "missing_file"])
def test_bad_input_names_file_and_line(tmp_path, capsys, case):
    src, tgt, gold, pred = (tmp_path / n for n in ("in.src", "in.tgt", "x.gold", "x.pred"))
    src.write_text("a b\nc d\ne\n")
    tgt.write_text("x y\nz w\nv\n")
    gold.write_text("1-1 2p2\n1-1\n1-1\n")
    pred.write_text("0-0\n0-0\n0-0\n")
    align = ["align", "--src", src, "--tgt", tgt, "--out", tmp_path / "out"]
    if case == "line_counts":
        tgt.write_text("x y\nz w\n")
        argv, where = align, f"{src}, line 3"
    elif case == "empty_line":
        tgt.write_text("x y\n\nv\n")
        argv, where = align, f"{tgt}, line 2: empty target sentence"
    elif case == "missing_binary":
        argv, where = align + ["--aligner", "giza", "--binary", tmp_path / "nowhere"], "Install GIZA++"
    elif case == "gold_past_end":
        gold.write_text("1-1\n1-1 2p3\n1-1\n")
        argv = ["evaluate", "--gold", gold, "--pred", pred, "--one-based", "--src", src, "--tgt", tgt]
        where = f"{gold}, line 2: link 2-3 (1-based) is past the end"
    elif case == "bad_link":
        pred.write_text("0-0\n0-0\n0:0\n")
        argv, where = ["evaluate", "--gold", gold, "--pred", pred, "--one-based"], f"{pred}, line 3: bad link"
    elif case == "precomputed_past_end":
        pred.write_text("0-0\n0-0\n0-1\n")
        argv = align + ["--aligner", "precomputed", "--links", pred]
        where = f"{pred}, line 3: link 0-1 (0-based) is past the end"
    else:
        argv, where = ["evaluate", "--gold", tmp_path / "nope", "--pred", pred], f"{tmp_path / 'nope'}: No such file"
    code, _, err = _run(argv, capsys)
    assert code == 1
    assert err.startswith("error: ") and where in err, err
    assert "Traceback" not in err
