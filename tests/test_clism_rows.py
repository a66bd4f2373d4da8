"""CLISM spans and rows: Appendix B's filters, NER over the pipeline's own words, and [QUE] rows built from
links with span-to-span mapping."""
from collections import Counter

import pytest

from pipelines.clism.prepare import PreparedPair, whitespace_words
from pipelines.clism.rows import build_row
from pipelines.clism.spans import SpanRules, entities, load_ner, parse_ner_models, select_spans
from schemas.row_checks import check_clism
from spacy_models import ruler_model_dir


def make_pair(source: str, target: str, spans=None) -> PreparedPair:
    return PreparedPair("en-de:c:7", "en-de", "en", "de", "c", 7, source, target, whitespace_words(source),
                        whitespace_words(target), spans=spans)


def select(tokens, spans, rules=SpanRules()):
    drops = Counter()
    kept = select_spans(tokens, spans, "en", rules, lambda k, n: drops.update({k: n}))
    return kept, drops


def test_appendix_b_filters():
    tokens = "The Hague and the US and it , Anna Maria Smith".split()
    kept, drops = select(tokens, [(0, 1, "LOC"), (0, 2, "LOC"), (2, 3, "X"), (6, 8, "X"), (8, 11, "PER"),
                                  (9, 10, "PER")])
    # "The" alone and "and" are stop words; "it ," is stop word + punctuation; (9,10) overlaps (8,11).
    assert kept == ((0, 2, "LOC"), (8, 11, "PER"))
    assert drops == {"only_stop_words": 3, "overlaps_another": 1}
    kept, drops = select(tokens, [(0, 11, "X"), (8, 11, "PER"), (1, 2, "LOC")], SpanRules(max_span_words=10,
                                                                                          labels=frozenset({"PER"})))
    assert kept == ((8, 11, "PER"),) and drops == {"label_not_selected": 2}
    kept, drops = select(tokens, [(0, 11, "X")])
    assert kept == () and drops == {"over_max_words": 1}
    # An all-capital word is an acronym ("US", "WHO"), not the stop word it spells in lower case.
    kept, drops = select(tokens, [(4, 5, "LOC")])
    assert kept == ((4, 5, "LOC"),) and not drops


def test_row_masks_each_span_once_and_maps_answers_span_to_span():
    pair = make_pair("Yesterday Anna Maria met Bob in Paris .", "Gestern traf Anna Maria Bob in Paris .",
                     spans=((1, 3, "PER"), (4, 5, "PER"), (6, 7, "LOC")))
    links = [(0, 0), (1, 2), (2, 3), (3, 1), (5, 5), (6, 6), (7, 7)]  # "Bob" (4) is unaligned
    drops, span_drops = Counter(), Counter()
    row = build_row(pair, links, "[QUE]", lambda k, n: drops.update({k: n}),
                    drop_span=lambda k, n: span_drops.update({k: n}))
    assert row["masked_source"] == "Yesterday [QUE] met Bob in [QUE] ."
    assert [a["text"] for a in row["answers"]] == ["Anna Maria", "Paris"]
    assert [(s["text"], s["label"]) for s in row["source_spans"]] == [("Anna Maria", "PER"), ("Paris", "LOC")]
    assert span_drops == {"unaligned": 1} and not drops
    assert row["id"] == "en-de:c:7" and row["line"] == 7 and len(row["alignment"]) == 7
    assert check_clism(row, {}) == []
    # A discontinuous alignment gives the covering target span (span-to-span, eq. 2 of paper 002).
    row = build_row(make_pair("New York", "das neue schöne York", spans=((0, 2, "LOC"),)), [(0, 1), (1, 3)], "<q>")
    assert row["answers"] == [{"text": "neue schöne York", "start": 4, "end": 20}] and row["masked_source"] == "<q>"


def test_row_without_any_aligned_span_is_dropped():
    drops, span_drops = Counter(), Counter()
    assert build_row(make_pair("Anna sleeps", "Anna schläft", spans=((0, 1, None),)), [(1, 1)], "[QUE]",
                     lambda k, n: drops.update({k: n}), drop_span=lambda k, n: span_drops.update({k: n})) is None
    assert drops == {"no_aligned_span": 1} and span_drops == {"unaligned": 1}


def test_ner_model_loads_by_path_and_finds_entities_on_word_boundaries(data_dir):
    nlp = load_ner(str(ruler_model_dir(data_dir)))
    pairs = [make_pair("Tom met Mary in Boston .", "x"), make_pair("Nothing here .", "x"),
             make_pair("The European Union met in Germany", "x")]
    found = entities(nlp, pairs)
    assert found[0] == ((0, 1, "PER"), (2, 3, "PER"), (4, 5, "LOC"))
    assert found[1] == ()
    assert (1, 3, "ORG") in found[2] and (5, 6, "LOC") in found[2]


def test_ner_model_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m spacy download no_such_model"):
        load_ner("no_such_model")
    import spacy
    spacy.blank("en").to_disk(tmp_path / "blank")
    with pytest.raises(ValueError, match="has no NER component"):
        load_ner(str(tmp_path / "blank"))
    assert parse_ner_models(["en_core_web_sm"]) == {"*": "en_core_web_sm"}
    assert parse_ner_models(["en=/m/en", "de=de_core_news_sm"]) == {"en": "/m/en", "de": "de_core_news_sm"}
