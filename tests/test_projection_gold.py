"""The pipelines' span mapping against paper 002's naive span-to-span on small slices of real gold cross-lingual
spans (bench/projection_gold.py measures the full sets): Europarl en→de entities, both methods on the very same
eflomal links, and the CLISM row builder mapping XQuAD en→zh answers as the projection does."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench/ is a folder of scripts, not an installed package

from alignment import make_aligner, symmetrize  # noqa: E402
from bench.projection_gold import EuroparlPair, XquadPair, char_f1, normalised  # noqa: E402
from pipelines.project_labels.projection import DEFAULT_METHOD, map_source_span  # noqa: E402
from schemas.tags import spans_from_tags  # noqa: E402

GDFA = "grow-diag-final-and"


def _links(pair, heuristic=GDFA, **options):
    forward, reverse = make_aligner("eflomal", **options).align_directional(pair.aligner_pairs())
    return [symmetrize(f, r, heuristic) for f, r in zip(forward[:len(pair)], reverse[:len(pair)])]


def test_answer_normalisation_and_character_f1():
    assert normalised("  Denver Broncos.") == normalised("denver broncos") == "denverbroncos"
    assert normalised("«1.000 Meter»") == "1.000meter"  # inner punctuation stays
    assert char_f1("丹佛野马队", "丹佛野马") == pytest.approx(2 * 0.8 * 1.0 / 1.8)
    assert char_f1("", "x") == 0.0


def test_default_not_worse_than_naive_on_europarl_entities(data_dir):
    pair = EuroparlPair(data_dir, "en", "de", limit=250)
    links = _links(pair, n_samplers=2)  # both methods map the same links
    (naive_f1,) = pair.score(links, "span")
    assert naive_f1 > 0.6, naive_f1  # the alignment worked at all: a broken one would make the comparison empty
    # Span by span, before conflicts are resolved (which can hide or keep a wrong span either way, one entity in
    # a few hundred): source entities whose projection is exactly the words of a German gold entity.
    hits = {"span": 0, DEFAULT_METHOD: 0}
    for (_, source_tags), (_, target_tags), sentence_links in zip(pair.source, pair.target, links):
        gold = {(s.start, s.end) for s in spans_from_tags(target_tags)}
        for span in spans_from_tags(source_tags):
            for method in hits:
                mapped = map_source_span(sentence_links, span.start, span.end, method)
                hits[method] += len(mapped) == 1 and mapped[0] in gold
    assert hits[DEFAULT_METHOD] >= hits["span"] > 100, hits


def test_clism_maps_xquad_answers_as_the_projection_default(data_dir):
    # A few paragraphs and a quick alignment: this checks the plumbing (answers located on the words, the CLISM
    # row builder sharing the projection's mapping), not quality, which the bench measures on all 1,190 answers
    # (on a slice this small the two rules differ by a single answer either way).
    pair = XquadPair(data_dir, "zh", limit=6)
    assert pair.answers_off_words == 0 and sum(len(p.answers) for p in pair.paragraphs) > 25
    links = _links(pair, n_samplers=1, n_iterations=(10, 10, 20))
    em, f1 = pair.score(links, DEFAULT_METHOD)
    assert 0.0 < em <= f1, (em, f1)
    assert pair.clism_exact_gold(links) == pytest.approx(em)
    # Fragments never count as an exact match; their characters do count for F1.
    word_em, word_f1 = pair.score(links, "word")
    assert word_em <= em + 0.2 and word_f1 > 0
