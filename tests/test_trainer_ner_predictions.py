"""``trainer.predict``'s NER rows: raw text split into words with punctuation apart (``München.``), and
entities ``{text, type, start, end}`` whose text is the input's ``[start, end)``, on real sentences."""
import pytest

from schemas.conll import read_conll
from schemas.tags import spans_from_tags
from trainer.data.words import split_words
from trainer.tasks.base import TaskSettings
from trainer.tasks.ner import NERTagging, joined_words, tagged_prediction

CONLL = [("de-europarl.test.conll02", "utf-8", 0.93), ("en-europarl.test.conll02", "utf-8", 0.98),
         ("conll2002/esp.testb", "latin-1", 0.87), ("conll2003/eng.testb", "utf-8", 0.85)]


def _task():
    return NERTagging(TaskSettings(name="ner", head="tagging", scheme="BIO"))


@pytest.mark.parametrize("name", ["deu", "fra", "spa", "ara", "cmn"])
def test_real_sentences_split_punctuation_off_words(data_dir, name):
    lines = (data_dir / "parallel" / f"tatoeba.{name}-eng.{name}").read_text(encoding="utf-8").splitlines()
    glued = 0
    for line in lines:
        found = split_words(line)
        assert all(line[start:end] == word and word.strip() == word for word, start, end in found)
        assert [start for _, start, _ in found] == sorted({start for _, start, _ in found})
        last = found[-1][0] if found else ""
        glued += len(last) > 1 and last[-1] in ".?!。？！" and last[-2].isalpha()
    # White-space words end in a sentence mark on most lines; split_words leaves (almost) none glued.
    assert sum(line.split()[-1][-1] in ".?!。？！" for line in lines if line.split()) > len(lines) // 2
    assert glued <= len(lines) // 100


def test_a_german_sentence_from_text():
    row = _task().example_from_record({"text": "Angela Merkel besuchte München."}, "de", "x")
    assert row["tokens"] == ["Angela", "Merkel", "besuchte", "München", "."]
    prediction = tagged_prediction(row, ["B-PER", "I-PER", "O", "B-LOC", "O"])
    assert prediction["entities"] == [{"text": "Angela Merkel", "type": "PER", "start": 0, "end": 13},
                                      {"text": "München", "type": "LOC", "start": 23, "end": 30}]
    assert prediction["text"] == "Angela Merkel besuchte München." and prediction["offsets"][3] == [23, 30]


@pytest.mark.parametrize("name, encoding, agree", CONLL)
def test_entities_are_spans_of_the_rejoined_text(data_dir, name, encoding, agree):
    """CoNLL sentences rejoined as text: the gold entities, carried onto split_words' words, come back as the
    same character spans with ``text == input[start:end]``; the words match CoNLL's on most sentences."""
    task, same, entities, kept = _task(), 0, 0, 0
    for sentence in read_conll(data_dir / "ner" / name, encoding=encoding, tag_scheme=None):
        text, conll_offsets = joined_words(list(sentence.tokens))
        row = task.example_from_record({"text": text}, "xx", "x")
        same += row["tokens"] == list(sentence.tokens)
        starts = {start: k for k, (start, _) in enumerate(row["offsets"])}
        ends = {end: k for k, (_, end) in enumerate(row["offsets"])}
        tags = ["O"] * len(row["tokens"])
        gold = set()
        for span in spans_from_tags(list(sentence.tags)):
            start, end = conll_offsets[span.start][0], conll_offsets[span.end - 1][1]
            entities += 1
            if start in starts and end in ends:  # the entity's edges are word edges of split_words too
                first, last = starts[start], ends[end]
                tags[first:last + 1] = [f"B-{span.label}"] + [f"I-{span.label}"] * (last - first)
                gold.add((text[start:end], span.label, start, end))
        predicted = tagged_prediction(row, tags)["entities"]
        assert all(e["text"] == text[e["start"]:e["end"]] for e in predicted)
        assert {(e["text"], e["type"], e["start"], e["end"]) for e in predicted} == gold
        kept += len(gold)
    assert kept >= 0.98 * entities
    assert same >= agree * len(list(read_conll(data_dir / "ner" / name, encoding=encoding, tag_scheme=None)))


def test_given_words_keep_their_offsets(data_dir):
    sentence = next(iter(read_conll(data_dir / "ner" / "conll2003" / "eng.testb", tag_scheme=None)))
    row = _task().example_from_record({"tokens": list(sentence.tokens)}, "en", "x")
    prediction = tagged_prediction(row, list(sentence.tags))
    assert prediction["tokens"] == list(sentence.tokens)
    for entity, span in zip(prediction["entities"], spans_from_tags(list(sentence.tags))):
        assert entity["text"] == " ".join(sentence.tokens[span.start:span.end]) == \
            prediction["text"][entity["start"]:entity["end"]]


@pytest.mark.parametrize("record", [{"text": "  "}, {"text": 3}, {"tokens": []}, {"tokens": ["a", " "]}, {}])
def test_bad_records_say_what_is_missing(record):
    with pytest.raises(KeyError, match="NER record"):
        _task().example_from_record(record, "en", "x")
