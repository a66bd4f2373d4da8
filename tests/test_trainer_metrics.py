"""The metrics against hand-checked cases: SQuAD v1.1 and MLQA normalisation, EM/F1 over gold
answers, entity-level F1 with CoNLL semantics, accuracy, and the per-language report with the transfer gap."""
import json

import pytest

from schemas.tags import Span
from trainer.tasks.metrics import (accuracy, entity_scores, exact_match, f1, language_report, max_over_golds,
                                   mixed_segmentation, normalize_mlqa, normalize_squad, qa_scores, report_json,
                                   report_markdown, span_scores)


@pytest.mark.parametrize("text, normalised", [
    # The four steps of the official script: lower-case, no punctuation, no articles, single spaces.
    ("The Denver Broncos", "denver broncos"),
    ("Denver Broncos.", "denver broncos"),
    ("  an   apple, a pear and THE plum!  ", "apple pear and plum"),
    ("Theatre", "theatre"),  # "the" only as a whole word
    ("Saint-Étienne's", "saintétiennes"),  # ASCII punctuation only; accents stay
    ("“quoted”", "“quoted”"),  # curly quotes are not in string.punctuation
])
def test_squad_normalisation(text, normalised):
    assert normalize_squad(text) == normalised


def test_squad_em_and_f1_by_hand():
    assert exact_match("the Denver Broncos!", "Denver Broncos") == 1.0
    assert exact_match("Denver", "Denver Broncos") == 0.0
    # "denver" vs "denver broncos": precision 1, recall 1/2 -> F1 2/3.
    assert f1("Denver", "Denver Broncos") == pytest.approx(2 / 3)
    # Bag of tokens: "a b b" vs "b c": common {b: 1}, P = 1/2 ("a" is an article: tokens "b b"), R = 1/2.
    assert f1("a b b", "b c") == pytest.approx(0.5)
    assert f1("", "Denver") == 0.0
    # Max over golds.
    assert max_over_golds(f1, "Broncos", ["Carolina Panthers", "the Broncos"]) == 1.0
    with pytest.raises(ValueError):
        max_over_golds(f1, "x", [])


def test_mlqa_chinese_per_character():
    assert mixed_segmentation("iPhone 6手机，很好") == ["iPhone", "6", "手", "机", "，", "很", "好"]
    # Punctuation (Unicode category P) goes first, then one token per character.
    assert normalize_mlqa("北京大学。", "zh") == "北 京 大 学"
    assert exact_match("北京大学。", "北京大学", lang="zh") == 1.0
    # "北京大学" vs "北京": overlap 2 characters, precision 2/4, recall 2/2 -> F1 2/3.
    assert f1("北京大学", "北京", lang="zh") == pytest.approx(2 / 3)
    # Under whitespace tokenisation the same pair shares no token.
    assert f1("北京大学", "北京", lang="en") == 0.0


def test_mlqa_articles_and_unicode_punctuation():
    assert normalize_mlqa("Der Hund «bellt»", "de") == "hund bellt"
    assert exact_match("der Hund", "Hund", lang="de") == 1.0
    assert exact_match("el perro", "perro", lang="es") == 1.0
    assert normalize_mlqa("الكتاب", "ar") == "كتاب"
    # A language MLQA does not list: white-space tokens, no articles.
    assert normalize_mlqa("Suomen pääkaupunki.", "fi") == "suomen pääkaupunki"


def test_qa_scores_corpus_level():
    golds = {"q1": ["Denver Broncos", "Broncos"], "q2": ["1990"], "q3": ["Paris"]}
    predictions = {"q1": "Broncos", "q2": "in 1990"}
    scores = qa_scores(predictions, golds)
    # q1: EM 1, F1 1; q2: EM 0, F1 2*(1/2*1)/(1.5) = 2/3; q3 missing: 0.
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert scores["count"] == 3
    with pytest.raises(ValueError, match="no prediction"):
        qa_scores(predictions, golds, missing="error")


def test_entity_scores_conll_semantics():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "I-ORG", "O"]]
    scores = entity_scores(gold, predicted)
    # Only the PER entity matches in boundaries and type: 1 correct of 3 predicted and 3 gold.
    assert (scores["correct"], scores["predicted"], scores["gold"]) == (1, 3, 3)
    assert scores["precision"] == pytest.approx(100 / 3) and scores["f1"] == pytest.approx(100 / 3)
    assert scores["per_type"]["PER"]["f1"] == 100.0
    assert scores["per_type"]["LOC"]["recall"] == 0.0
    # Schemes do not matter, entities do: IOB1 gold against BIOES predictions of the same entities.
    iob1 = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"]]
    bioes = [["B-PER", "E-PER", "S-PER", "O", "S-LOC"]]
    assert entity_scores(iob1, bioes)["f1"] == 100.0
    # An ill-formed I- after O opens an entity, as conlleval reads it.
    assert entity_scores([["O", "B-MISC"]], [["O", "I-MISC"]])["f1"] == 100.0
    with pytest.raises(ValueError, match="sentence 0"):
        entity_scores([["O"]], [["O", "O"]])
    spans = span_scores([{Span(0, 3, "POS")}], [{Span(0, 3, "POS"), Span(5, 9, "NEG")}])
    assert (spans["precision"], spans["recall"]) == (50.0, 100.0)


def test_accuracy():
    assert accuracy(["a", "b", "b", "c"], ["a", "b", "c", "c"]) == {"accuracy": 75.0, "count": 4}


def test_language_report_gap_json_and_markdown():
    per_language = {"en": {"f1": 80.0, "exact_match": 70.0, "count": 10},
                    "de": {"f1": 60.0, "exact_match": 45.0, "count": 10},
                    "zh": {"f1": 50.0, "exact_match": 40.0, "count": 10}}
    report = language_report(per_language)
    assert report["metrics"] == ["f1", "exact_match"]
    assert report["average"]["f1"] == pytest.approx(190 / 3)
    assert report["target_average"]["f1"] == pytest.approx(55.0)
    assert report["transfer_gap"] == {"f1": pytest.approx(25.0), "exact_match": pytest.approx(27.5)}
    assert json.loads(report_json(report))["transfer_gap"]["f1"] == pytest.approx(25.0)
    table = report_markdown(report).splitlines()
    assert table[0] == "| metric | en | de | zh | Avg | Gap |"
    assert table[2] == "| f1 | 80.0 | 60.0 | 50.0 | 63.3 | 25.0 |"
    # Without the source language there is no gap.
    assert "transfer_gap" not in language_report({"de": {"f1": 1.0}, "zh": {"f1": 2.0}})
    with pytest.raises(ValueError, match="numeric"):
        language_report({"en": {"f1": 1.0}, "de": {"f1": None}}, metrics=["f1"])
