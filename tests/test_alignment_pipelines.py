"""The pipelines' one set of alignment options, and each pipeline run end to end with the real external aligners
on the first Europarl sentences (English gold spans, the German side as translations)."""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.align.options import PIPELINE_DEFAULTS, AlignmentOptions, add_alignment_arguments
from schemas.conll import read_conll

REPO = Path(__file__).resolve().parent.parent
SENTENCES = 150


def _first_sentences(path: Path, out: Path, n: int) -> Path:
    """The first ``n`` blank-line-separated sentences of a CoNLL file."""
    blocks = path.read_text(encoding="utf-8").split("\n\n")[:n]
    out.write_text("\n\n".join(blocks) + "\n\n", encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def europarl(data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("europarl")
    ner = data_dir / "ner"
    en = _first_sentences(ner / "en-europarl.test.conll02", tmp / "en.conll", SENTENCES)
    de_conll = _first_sentences(ner / "de-europarl.test.conll02", tmp / "de.conll", SENTENCES)
    de = tmp / "de.txt"
    de.write_text("".join(" ".join(s.tokens) + "\n" for s in read_conll(de_conll, tag_scheme=None)),
                  encoding="utf-8")
    return en, de, de_conll


def _module(name, args, tmp_path, runner=("--runner=FnApiRunner",)):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    return subprocess.run([sys.executable, "-m", name, *map(str, args), *runner], cwd=REPO, env=env,
                          capture_output=True, text=True)


@pytest.mark.slow
def test_clism_runs_end_to_end_with_giza(europarl, tools_dir, tmp_path):
    en, de, _ = europarl
    out = tmp_path / "clism"
    proc = _module("pipelines.clism", ["--source-spans", en, "--tgt", de, "--src-lang", "en", "--tgt-lang", "de",
                                       "--pretokenized", "--aligner", "giza", "--aligner-bin", tools_dir,
                                       "--output", out, "--num-shards", "1"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["config"]["alignment"]["aligner"] == "giza"
    assert manifest["counters"]["align.en-de.pairs_aligned"] == manifest["counters"]["pairs_usable.en-de"]
    assert manifest["row_count"] > 50


@pytest.mark.slow
def test_project_labels_runs_end_to_end_with_fast_align(europarl, tools_dir, tmp_path):
    en, de, de_conll = europarl
    out = tmp_path / "projected"
    proc = _module("pipelines.project_labels", ["--source", en, "--src-lang", "en", "--translations", de,
                                                "--tgt-lang", "de", "--pretokenized", "--aligner", "fast_align",
                                                "--aligner-bin", tools_dir, "--align-threads", "1",
                                                "--output", out, "--conll-out", tmp_path / "de.projected"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    scores = _module("pipelines.project_labels", ["evaluate", "--predicted", tmp_path / "de.projected", "--gold",
                                                  de_conll, "--json", tmp_path / "scores.json"], tmp_path, runner=())
    assert scores.returncode == 0, scores.stderr[-2000:]
    # The full 799 sentences with eflomal score 0.85-0.87 F1 (docs/project_labels.md); 150 sentences aligned by fast_align alone
    # are a much smaller corpus for a weaker aligner.
    assert json.loads((tmp_path / "scores.json").read_text())["overall"]["f1"] > 0.5


def test_one_set_of_options_for_both_pipelines():
    parsers = {}
    for name in PIPELINE_DEFAULTS:
        parsers[name] = argparse.ArgumentParser()
        add_alignment_arguments(parsers[name], name)
    flags = {name: {a.option_strings[0] for a in p._actions if a.dest.startswith("align_")}
             for name, p in parsers.items()}
    assert flags["clism"] == flags["project_labels"]
    assert PIPELINE_DEFAULTS["project_labels"].heuristic == "grow-diag-final-and"  # bench/projection_gold.py
    args = parsers["clism"].parse_args(["--links", "l.tsv", "--lowercase", "--aligner", "giza"])  # old spellings
    assert (args.align_links_file, args.align_lowercase) == ("l.tsv", True)


def test_options_reach_the_aligner_or_fail_naming_the_flag():
    assert AlignmentOptions(aligner="fast_align", aligner_bin="/opt/fa", threads=2).aligner_options() == {
        "binary": "/opt/fa", "threads": 2}
    assert AlignmentOptions(eflomal_samplers=2).aligner_options() == {"n_samplers": 2}
    assert AlignmentOptions(aligner="GIZA++").aligner == "giza"
    with pytest.raises(ValueError, match="--eflomal-samplers does not apply to --aligner giza"):
        AlignmentOptions(aligner="giza", eflomal_samplers=2)
    with pytest.raises(ValueError, match="--align-threads does not apply to --aligner eflomal"):
        AlignmentOptions(threads=2)
    with pytest.raises(ValueError, match="--align-batch-size must be at least 1"):
        AlignmentOptions(batch_size=0)
    with pytest.raises(ValueError, match="does not align text"):
        AlignmentOptions(aligner="precomputed")
    with pytest.raises(ValueError, match="unknown symmetrisation heuristic"):
        AlignmentOptions(heuristic="grow")
