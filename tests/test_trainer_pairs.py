"""Sentence-pair classification (PAWS-X / XNLI TSV) and ABSA (SemEval XML), as classifiers and in mPMR's MRC
form. No pair or ABSA data is in shared/data: the files are written here in the released layouts, with
sentences taken from the real XQuAD text so the tokenizer sees real language."""
import pickle

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from schemas.tags import Span
from trainer.data.mrc_features import MRCCollator, MRCFeatureConfig, MRCFeaturizer
from trainer.data.pair_features import PairCollator, PairMRCCollator, pair_mrc_rows
from trainer.data.pair_tsv import XNLI_LABELS, PairDataError, PairReadStats, read_pair_tsv
from trainer.data.semeval import AbsaDataError, AbsaReadStats, read_semeval_xml
from trainer.models.pair_classifier import PairClassifier
from trainer.models.qa_heads import ExtractorQA
from trainer.tasks.absa import absa_mrc_rows, decode_absa, gold_aspects
from trainer.tasks.metrics import accuracy, span_scores
from trainer.tasks.span_decoding import pair_mrc_predictions
from trainer_fixtures import fit_one_batch, wordpiece_tokenizer

PAWSX = ("id\tsentence1\tsentence2\tlabel\n"
         "1\tThe Tabaci River is a tributary of the River Leurda in Romania.\t"
         "The Leurda River is a tributary of the River Tabaci in Romania.\t0\n"
         "2\tHe was born in Paris and moved to Lyon.\tBorn in Paris, he later moved to Lyon.\t1\n"
         "3\t\tAn empty first sentence, as PAWS-X's translated sets have.\t1\n"
         '4\tA "quoted title\tAn unbalanced quote must not swallow lines.\t0\n')
XNLI_DEV = ("language\tgold_label\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
            "sentence2_parse\tsentence1\tsentence2\tpromptID\tpairID\n"
            "de\tneutral\t\t\t\t\tDer Hund schläft.\tDer Hund ist müde.\t1\t11\n"
            "de\tcontradiction\t\t\t\t\tDer Hund schläft.\tDer Hund rennt.\t1\t12\n")
XNLI_MT = "premise\thypo\tlabel\nEl perro duerme.\tEl perro está dormido.\tentailment\n" \
          "El perro duerme.\tEl perro corre.\tcontradictory\n"


def tiny_bert(vocab_size: int) -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    return BertModel(config, add_pooling_layer=False)


def test_pair_readers(tmp_path):
    (tmp_path / "dev_2k.tsv").write_text(PAWSX)
    stats = PairReadStats()
    rows = read_pair_tsv(tmp_path / "dev_2k.tsv", "pawsx", lang="en", stats=stats)
    assert [r["label"] for r in rows] == ["0", "1", "0"] and stats.skipped_empty == 1 and stats.pairs == 3
    assert rows[2]["sentence1"] == 'A "quoted title'
    assert rows[0]["id"] == "en-1"
    (tmp_path / "xnli.dev.tsv").write_text(XNLI_DEV)
    xnli = read_pair_tsv(tmp_path / "xnli.dev.tsv", "xnli")
    assert [(r["lang"], r["label"], r["id"]) for r in xnli] == [("de", "neutral", "de-11"),
                                                                ("de", "contradiction", "de-12")]
    (tmp_path / "multinli.train.es.tsv").write_text(XNLI_MT)
    assert [r["label"] for r in read_pair_tsv(tmp_path / "multinli.train.es.tsv", "xnli", lang="es")] == \
        ["entailment", "contradiction"]
    (tmp_path / "headerless.tsv").write_text("a b\tc d\tneutral\n")
    assert read_pair_tsv(tmp_path / "headerless.tsv", "xnli", lang="fr")[0]["sentence2"] == "c d"
    (tmp_path / "bad.tsv").write_text("premise\thypo\tlabel\nx\ty\tentailment\nx\ty\tmaybe\n")
    with pytest.raises(PairDataError, match=r"bad\.tsv:3: label 'maybe'"):
        read_pair_tsv(tmp_path / "bad.tsv", "xnli", lang="en")
    (tmp_path / "short.tsv").write_text("premise\thypo\tlabel\nx\tentailment\n")
    with pytest.raises(PairDataError, match=r"short\.tsv:2: 2 fields, expected 3"):
        read_pair_tsv(tmp_path / "short.tsv", "xnli", lang="en")


@pytest.fixture(scope="module")
def pair_rows(data_dir):
    import json
    articles = json.loads((data_dir / "qa" / "xquad" / "xquad.en.json").read_text())["data"][:3]
    paragraphs = [p for article in articles for p in article["paragraphs"]]
    sentences = [s.strip() + "." for p in paragraphs for s in p["context"].split(". ") if len(s) > 30][:24]
    # A pair is a paraphrase (1) when both sides are the same sentence, not (0) when they differ.
    rows = []
    for n in range(12):
        same = n % 2 == 0
        rows.append({"id": f"p{n}", "lang": "en", "sentence1": sentences[n],
                     "sentence2": sentences[n] if same else sentences[n + 12], "label": "1" if same else "0"})
    return rows


def test_pair_classifier_learns(pair_rows):
    tokenizer = wordpiece_tokenizer([r["sentence1"] + " " + r["sentence2"] for r in pair_rows], vocab_size=800)
    collator = pickle.loads(pickle.dumps(PairCollator(tokenizer, ("0", "1"), max_length=64)))
    batch = collator(pair_rows)
    assert batch["input_ids"].shape[1] <= 64 and batch["labels"].tolist() == [1, 0] * 6
    first = batch["input_ids"][0].tolist()
    assert first[0] == tokenizer.cls_token_id and first.count(tokenizer.sep_token_id) == 2
    assert set(batch["token_type_ids"][0].tolist()) == {0, 1}
    model = PairClassifier(tiny_bert(len(tokenizer)), num_labels=2)
    losses = fit_one_batch(model, batch, steps=25)
    assert losses[-1] < 0.5 * losses[0], losses
    model.eval()
    predicted = model(**batch)["logits"].argmax(-1).tolist()
    assert accuracy(batch["labels"].tolist(), predicted)["accuracy"] == 100.0


def test_pair_mrc_form(pair_rows):
    mrc = pair_mrc_rows({**pair_rows[1], "label": "0"}, "pawsx")
    assert [r["query_label"] for r in mrc] == ["0", "1"] and [r["relevant"] for r in mrc] == [True, False]
    assert mrc[0]["query"].startswith("Contradiction. The hypothesis")
    assert mrc[0]["context"].startswith("Hypothesis: " + pair_rows[1]["sentence1"])
    assert len(pair_mrc_rows({"id": "x", "lang": "de", "sentence1": "a", "sentence2": "b",
                              "label": "neutral"}, "xnli")) == len(XNLI_LABELS)
    tokenizer = wordpiece_tokenizer([r["sentence1"] + " " + r["sentence2"] for r in pair_rows] +
                                    [r["query"] for r in mrc], vocab_size=800)
    collator = PairMRCCollator(tokenizer, "pawsx", MRCFeatureConfig(max_length=96, max_query_length=24))
    batch = pickle.loads(pickle.dumps(collator))(pair_rows[:6])
    # Six pairs, two label queries each; only the gold query's [CLS] cell is labelled.
    assert batch["input_ids"].shape[0] == 12
    gold = {(r["id"], r["label"]) for r in pair_rows[:6]}
    expected = [n for n, key in enumerate(zip(batch["pair_ids"], batch["query_labels"])) if key in gold]
    assert batch["answer_spans"].tolist() == [[n, 0, 0] for n in expected]
    # Prediction: the label whose query has the highest S_00.
    scores = torch.zeros(12, 4, 4)
    for n in expected:
        scores[n, 0, 0] = 3.0
    assert pair_mrc_predictions(scores, batch) == {r["id"]: r["label"] for r in pair_rows[:6]}
    model = ExtractorQA(tiny_bert(len(tokenizer)))
    losses = fit_one_batch(model, batch, steps=10)
    assert losses[-1] < 0.5 * losses[0], losses


SEMEVAL_2014 = """<?xml version="1.0" encoding="UTF-8"?>
<sentences>
  <sentence id="813">
    <text>All the appetizers and salads were fabulous, the steak was mouth watering and the pasta was delicious!!!</text>
    <aspectTerms>
      <aspectTerm term="appetizers" polarity="positive" from="8" to="18"/>
      <aspectTerm term="salads" polarity="positive" from="23" to="29"/>
      <aspectTerm term="steak" polarity="positive" from="49" to="54"/>
      <aspectTerm term="pasta" polarity="positive" from="82" to="87"/>
    </aspectTerms>
  </sentence>
  <sentence id="1063">
    <text>The food is decent but the service was slow and the decor is conflicted.</text>
    <aspectTerms>
      <aspectTerm term="food" polarity="neutral" from="4" to="8"/>
      <aspectTerm term="service" polarity="negative" from="27" to="34"/>
      <aspectTerm term="decor" polarity="conflict" from="52" to="57"/>
    </aspectTerms>
  </sentence>
  <sentence id="9"><text>Nothing to say here.</text></sentence>
</sentences>
"""
SEMEVAL_2016 = """<?xml version="1.0" encoding="UTF-8"?>
<Reviews><Review rid="1"><sentences>
  <sentence id="1:0">
    <text>Nice ambience, but highly overrated place.</text>
    <Opinions>
      <Opinion target="ambience" category="AMBIENCE#GENERAL" polarity="positive" from="5" to="13"/>
      <Opinion target="place" category="RESTAURANT#GENERAL" polarity="negative" from="36" to="41"/>
      <Opinion target="place" category="RESTAURANT#PRICES" polarity="negative" from="36" to="41"/>
      <Opinion target="NULL" category="FOOD#QUALITY" polarity="positive" from="0" to="0"/>
    </Opinions>
  </sentence>
</sentences></Review></Reviews>
"""


def test_semeval_readers(tmp_path):
    (tmp_path / "restaurants_2014.xml").write_text(SEMEVAL_2014)
    stats = AbsaReadStats()
    sentences = read_semeval_xml(tmp_path / "restaurants_2014.xml", "en", stats)
    assert [len(s["aspects"]) for s in sentences] == [4, 2, 0]
    assert sentences[1]["aspects"][1] == {"text": "service", "start": 27, "end": 34, "polarity": "NEG"}
    assert stats.skipped_conflict == 1 and stats.aspects == 6
    (tmp_path / "restaurants_2016.xml").write_text(SEMEVAL_2016)
    stats = AbsaReadStats()
    sentence = read_semeval_xml(tmp_path / "restaurants_2016.xml", "en", stats)[0]
    assert gold_aspects(sentence) == {Span(5, 13, "POS"), Span(36, 41, "NEG")}
    assert (stats.skipped_duplicate, stats.skipped_implicit) == (1, 1)
    (tmp_path / "bad.xml").write_text(SEMEVAL_2014.replace('from="23"', 'from="22"'))
    with pytest.raises(AbsaDataError, match=r"bad\.xml: sentence '813': aspect 'salads' is not at \[22, 29\)"):
        read_semeval_xml(tmp_path / "bad.xml", "en")
    (tmp_path / "broken.xml").write_text(SEMEVAL_2014[:300])
    with pytest.raises(AbsaDataError, match=r"broken\.xml:\d+:\d+: not well-formed"):
        read_semeval_xml(tmp_path / "broken.xml", "en")


def test_absa_as_mrc(tmp_path):
    (tmp_path / "a.xml").write_text(SEMEVAL_2014)
    (tmp_path / "b.xml").write_text(SEMEVAL_2016)
    sentences = read_semeval_xml(tmp_path / "a.xml", "en") + read_semeval_xml(tmp_path / "b.xml", "en")
    rows = [row for s in sentences for row in absa_mrc_rows(s)]
    assert [r["polarity"] for r in rows[:3]] == ["POS", "NEG", "NEU"]
    assert rows[0]["query"] == '"POS". For aspect terms of positive sentiment.'
    tokenizer = wordpiece_tokenizer([s["text"] for s in sentences] + [r["query"] for r in rows[:3]])
    featurizer = MRCFeaturizer(tokenizer, MRCFeatureConfig(max_length=64, max_query_length=16))
    features = featurizer(rows)
    # Oracle scores (S_ij > 0 at the gold cells only) decode back to the gold aspects and polarities.
    predicted = []
    for n, sentence in enumerate(sentences):
        triples = []
        for row, feature in zip(rows[3 * n:3 * n + 3], features[3 * n:3 * n + 3]):
            size = len(feature.input_ids)
            scores = np.full((size, size), -2.0)
            for i, j in feature.answer_spans:
                scores[i, j] = 1.5
            triples.append((row["polarity"], scores, feature))
        predicted.append(decode_absa(triples, sentence["text"]))
    gold = [gold_aspects(s) for s in sentences]
    assert predicted == gold and span_scores(gold, predicted)["f1"] == 100.0
    # The extractor learns the polarity queries.
    batch = MRCCollator(tokenizer, MRCFeatureConfig(max_length=64, max_query_length=16))(rows)
    model = ExtractorQA(tiny_bert(len(tokenizer)))
    losses = fit_one_batch(model, batch, steps=10)
    assert losses[-1] < 0.5 * losses[0], losses
