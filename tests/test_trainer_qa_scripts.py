"""QA scores under both published normalisations, on real XQuAD answers: ``exact_match``/``f1`` follow the
data's publishers (SQuAD v1.1's script for XQuAD, as XTREME; MLQA's for MLQA) and both are reported, named."""
import re

import pytest

from trainer.data.readers import DataSource
from trainer.data.squad import QAExample, read_squad_json
from trainer.tasks.base import TaskSettings
from trainer.tasks.metrics import language_report, qa_script, qa_scores
from trainer.tasks.qa import QAStartEnd, scoring_script
from trainer.tasks.report import make_report

ARTICLES = {"de": r"(der|die|das|den|dem|des|ein|eine|einen|einem|eines|einer) ", "en": r"(the|a|an) "}


def _without_leading_article(lang, examples):
    """Each question's first gold answer with a leading article cut off (what a span extractor often
    predicts), and how many answers had one."""
    pattern = re.compile("^" + ARTICLES[lang], re.IGNORECASE)
    predictions = {e.id: pattern.sub("", e.answers[0]["text"]) for e in examples}
    return predictions, sum(pattern.match(e.answers[0]["text"]) is not None for e in examples)


def test_german_articles_count_under_squad_only(data_dir):
    examples = read_squad_json(data_dir / "qa" / "xquad" / "xquad.de.json")
    golds = {e.id: [a["text"] for a in e.answers] for e in examples}
    predictions, with_article = _without_leading_article("de", examples)
    assert with_article > 50  # real German answers often start with an article
    scores = qa_scores(predictions, golds, "de", script=scoring_script(examples))
    assert scores["script"] == "squad"  # XQuAD: the SQuAD v1.1 script, as XTREME reports it
    assert (scores["exact_match"], scores["f1"]) == (scores["exact_match_squad"], scores["f1_squad"])
    # MLQA's normalisation drops German articles, SQuAD's does not: every cut answer is a miss under SQuAD.
    assert scores["exact_match_mlqa"] == pytest.approx(100.0)
    assert scores["exact_match_squad"] == pytest.approx(100.0 * (1 - with_article / len(examples)))
    assert scores["f1_squad"] < scores["f1_mlqa"]


def test_english_articles_count_under_neither(data_dir):
    examples = read_squad_json(data_dir / "qa" / "xquad" / "xquad.en.json")
    predictions, with_article = _without_leading_article("en", examples)
    scores = qa_scores(predictions, {e.id: [a["text"] for a in e.answers] for e in examples}, "en")
    assert with_article > 50
    assert scores["exact_match_squad"] == scores["exact_match_mlqa"] == pytest.approx(100.0)


def test_chinese_partial_answers_get_credit_under_mlqa_only(data_dir):
    examples = read_squad_json(data_dir / "qa" / "xquad" / "xquad.zh.json")
    golds = {e.id: [e.answers[0]["text"]] for e in examples}
    long = {qid: answer[0] for qid, answer in golds.items() if len(answer[0]) >= 4 and " " not in answer[0]}
    scores = qa_scores({qid: text[: len(text) // 2] for qid, text in long.items()},
                       {qid: golds[qid] for qid in long}, "zh")
    # Without spaces the SQuAD script sees one token: half an answer is a miss; MLQA counts characters.
    assert scores["f1_squad"] == 0.0 and scores["f1_mlqa"] > 50.0


def test_the_script_follows_the_publisher(data_dir):
    assert qa_script(data_dir / "qa" / "xquad" / "xquad.de.json") == "squad"
    assert qa_script(data_dir / "qa" / "tydiqa-goldp" / "arabic_tydiqa_dev.json") == "squad"
    assert qa_script("MLQA_V1/test/test-context-de-question-de.json") == "mlqa"
    mixed = [QAExample("1", "de", "q", "c", [], source="xquad.de.json:data[0]"),
             QAExample("2", "de", "q", "c", [], source="MLQA_V1/dev/dev-context-de-question-de.json:data[0]")]
    with pytest.raises(ValueError, match="mixes MLQA"):
        scoring_script(mixed)


def test_report_names_both_scripts(data_dir):
    task = QAStartEnd(TaskSettings(name="qa", head="start_end"))
    per_language = {}
    for lang in ("en", "de"):
        examples = task.read(DataSource(lang, str(data_dir / "qa" / "xquad" / f"xquad.{lang}.json")))
        predictions, _ = _without_leading_article(lang, examples)
        per_language[lang] = task.score_labels(examples, [predictions[e.id] for e in examples])
    report = make_report(task, per_language)
    assert report["scripts"] == {"en": "squad", "de": "squad"}
    assert set(report["metrics"]) >= {"exact_match", "f1", "exact_match_squad", "exact_match_mlqa"}
    assert report["languages"]["de"]["exact_match_mlqa"] > report["languages"]["de"]["exact_match"]
    assert language_report(per_language)["metrics"][:2] == ["exact_match", "f1"]
