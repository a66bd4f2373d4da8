"""NER as token tagging and as MRC on real CoNLL-2002 (Latin-1), CoNLL-2003 (IOB1) and Europarl files:
first-subword labels decode back to the gold entities, constrained decoding and repair give valid
sequences, per-type MRC queries decode back to the entities, and both heads learn on a tiny BERT."""
import itertools
import pickle

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from schemas.conll import ConllStats, read_conll
from schemas.tags import spans_from_tags
from trainer.data.mrc_features import MRCCollator, MRCFeatureConfig, MRCFeaturizer
from trainer.data.tagging_features import IGNORE_INDEX, TaggingCollator, entity_types, label_list, ner_mrc_rows
from trainer.models.qa_heads import ExtractorQA
from trainer.models.token_tagger import TokenTagger
from trainer.tasks.metrics import entity_scores, span_scores
from trainer.tasks.ner import predict_tags
from trainer.tasks.span_decoding import decode_ner_mrc, ner_mrc_tags
from trainer.tasks.tag_decoding import constrained_decode, decode_batch, repair_tags
from trainer_fixtures import fit_one_batch, unigram_tokenizer, wordpiece_tokenizer


def tiny_bert(vocab_size: int) -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    return BertModel(config, add_pooling_layer=False)


def _sentences(path, encoding, limit, stats=None):
    return list(itertools.islice(read_conll(path, encoding=encoding, tag_scheme=None, stats=stats), limit))


@pytest.mark.parametrize("relative, encoding, scheme, make_tokenizer", [
    ("conll2002/esp.testa", "latin-1", "BIOES", wordpiece_tokenizer),
    ("conll2002/ned.testa", "latin-1", "BIO", unigram_tokenizer),  # short (0x81) lines included
    ("conll2003/eng.testa", "utf-8", "BIOES", unigram_tokenizer),  # IOB1 in the file
    ("en-europarl.test.conll02", "utf-8", "BIO", wordpiece_tokenizer),
])
def test_labels_decode_back_to_gold_entities(data_dir, relative, encoding, scheme, make_tokenizer):
    stats = ConllStats()
    sentences = _sentences(data_dir / "ner" / relative, encoding, 300, stats)
    tokenizer = make_tokenizer([" ".join(s.tokens) for s in sentences])
    labels = label_list(entity_types(s.tags for s in sentences), scheme)
    assert labels[0] == "O" and len(labels) == 1 + 4 * (4 if scheme == "BIOES" else 2)
    collator = TaggingCollator(tokenizer, labels, scheme, max_length=256)
    batch = collator(sentences)
    # One label per word, on its first subword; the rest ignored.
    labelled = (batch["labels"] != IGNORE_INDEX).sum(dim=1).tolist()
    assert labelled == [len(s.tokens) for s in sentences]
    assert collator.featurizer.stats.words_truncated == 0
    # Oracle logits from the labels decode back to the gold entities (whatever the file's scheme).
    one_hot = torch.nn.functional.one_hot(batch["labels"].clamp(min=0), len(labels)).float() * 10.0
    for constrained in (True, False):
        predicted = decode_batch(one_hot, batch, labels, scheme, constrained=constrained)
        scores = entity_scores([s.tags for s in sentences], predicted)
        assert scores["gold"] > 150 and scores["f1"] == 100.0
        assert predicted == [repair_tags(s.tags, scheme) for s in sentences]


def test_truncated_words_are_counted_and_predicted_outside(data_dir):
    sentences = _sentences(data_dir / "ner" / "conll2002" / "esp.testa", "latin-1", 40)
    tokenizer = wordpiece_tokenizer([" ".join(s.tokens) for s in sentences])
    labels = label_list(("LOC", "MISC", "ORG", "PER"))
    collator = TaggingCollator(tokenizer, labels, "BIOES", max_length=12)
    batch = collator(sentences)
    stats = collator.featurizer.stats
    long = [s for s in sentences if len(s.tokens) > 10]
    assert stats.sentences_truncated >= len(long) > 0 and stats.words_truncated > 0
    decoded = decode_batch(torch.zeros(*batch["labels"].shape, len(labels)), batch, labels, "BIOES",
                           words=[len(s.tokens) for s in sentences])
    assert [len(tags) for tags in decoded] == [len(s.tokens) for s in sentences]
    with pytest.raises(ValueError, match="not in the label set"):
        TaggingCollator(tokenizer, label_list(("PER",)), "BIO")([{"id": "x", "tokens": ["a"], "tags": ["B-LOC"]}])


def test_constrained_decoding_by_hand():
    labels = label_list(("PER",), "BIOES")  # O, B-PER, I-PER, E-PER, S-PER
    log_probs = np.log(np.array([
        [0.1, 0.1, 0.6, 0.1, 0.1],  # argmax I-PER: cannot open a sentence
        [0.1, 0.1, 0.1, 0.6, 0.1],  # E-PER
        [0.5, 0.4, 0.05, 0.0, 0.05],  # O is best here, but B-PER cannot be left open at the end
    ]) + 1e-9)
    # Valid paths: B-PER E-PER O scores 0.1 * 0.6 * 0.5 = 0.03; the next best (S-PER S-PER O, O O O) 0.005.
    assert constrained_decode(log_probs, labels, "BIOES") == ["B-PER", "E-PER", "O"]
    bio = np.log(np.array([[0.2, 0.3, 0.5], [0.2, 0.2, 0.6], [0.7, 0.2, 0.1]]))  # O, B-PER, I-PER
    # I-PER cannot open a sentence: B I O = 0.3 * 0.6 * 0.7 = 0.126 beats B B O (0.042) and O O O (0.028).
    assert constrained_decode(bio, label_list(("PER",), "BIO"), "BIO") == ["B-PER", "I-PER", "O"]
    # Repair reads an argmax sequence as conlleval would.
    assert repair_tags(["I-PER", "E-PER", "O", "B-LOC"], "BIOES") == ["B-PER", "E-PER", "O", "S-LOC"]


def test_token_tagger_learns(data_dir):
    sentences = _sentences(data_dir / "ner" / "conll2003" / "eng.train", "utf-8", 60)[1:17]
    tokenizer = wordpiece_tokenizer([" ".join(s.tokens) for s in sentences], vocab_size=800)
    labels = label_list(("LOC", "MISC", "ORG", "PER"), "BIOES")
    batch = pickle.loads(pickle.dumps(TaggingCollator(tokenizer, labels, "BIOES")))(sentences)
    model = TokenTagger(tiny_bert(len(tokenizer)), len(labels))
    losses = fit_one_batch(model, batch, steps=15)
    assert losses[-1] < 0.5 * losses[0], losses
    predicted = predict_tags(model, tokenizer, sentences, labels, "BIOES", batch_size=5)
    assert model.training  # restored
    model.eval()
    with torch.no_grad():
        assert predicted == decode_batch(model(**batch)["logits"], batch, labels, "BIOES")
    for tags in predicted:  # a valid BIOES sequence
        assert tags == repair_tags(tags, "BIOES")
    assert 0.0 <= entity_scores([s.tags for s in sentences], predicted)["f1"] <= 100.0


def _ner_mrc_setup(data_dir, limit):
    sentences = [s for s in _sentences(data_dir / "ner" / "de-europarl.test.conll02", "utf-8", 400)
                 if spans_from_tags(s.tags)][:limit]
    rows = [row for s in sentences for row in ner_mrc_rows(str(s.index), "de", s.tokens, s.tags)]
    tokenizer = wordpiece_tokenizer([" ".join(s.tokens) for s in sentences] + [r["query"] for r in rows[:4]])
    return sentences, rows, tokenizer


def test_ner_as_mrc_oracle_round_trip(data_dir):
    sentences, rows, tokenizer = _ner_mrc_setup(data_dir, 60)
    assert len(rows) == 4 * len(sentences)
    assert rows[0]["query"].startswith('"LOC". Location entities')
    featurizer = MRCFeaturizer(tokenizer, MRCFeatureConfig(max_length=192, max_query_length=32))
    features = featurizer(rows)
    assert featurizer.stats.answers_truncated == 0
    predicted, gold = [], []
    for n, sentence in enumerate(sentences):
        type_scores = []
        for row, feature in zip(rows[4 * n:4 * n + 4], features[4 * n:4 * n + 4]):
            size = len(feature.input_ids)
            scores = np.full((size, size), -3.0)
            for i, j in feature.answer_spans:
                scores[i, j] = 2.0  # S_ij > 0 exactly at the gold spans
            type_scores.append((row["entity_type"], scores, feature))
        entities = decode_ner_mrc(type_scores, sentence.tokens)
        assert ner_mrc_tags(entities, len(sentence.tokens), "BIO") == repair_tags(sentence.tags, "BIO")
        predicted.append(entities)
        gold.append(spans_from_tags(sentence.tags))
    scores = span_scores(gold, predicted)
    assert scores["gold"] > 60 and scores["f1"] == 100.0


def test_ner_mrc_overlaps_resolved_by_score():
    from trainer.data.mrc_features import MRCFeature
    words = ["New", "York", "Times"]
    # Context tokens at positions 3..5 = the three words.
    feature = MRCFeature("x", [0] * 7, None, 3, 6, [(0, 3), (4, 8), (9, 14)], [], 0, 0, 0, False, False)
    loc = np.full((7, 7), -1.0)
    loc[3, 4] = 1.0  # "New York" LOC
    org = np.full((7, 7), -1.0)
    org[3, 5] = 2.0  # "New York Times" ORG wins the overlap
    entities = decode_ner_mrc([("LOC", loc, feature), ("ORG", org, feature)], words)
    assert [tuple(e) for e in entities] == [(0, 3, "ORG")]


def test_extractor_learns_ner_as_mrc(data_dir):
    sentences, rows, tokenizer = _ner_mrc_setup(data_dir, 6)
    batch = MRCCollator(tokenizer, MRCFeatureConfig(max_length=96, max_query_length=32))(rows)
    torch.manual_seed(0)
    model = ExtractorQA.from_encoder_config(tiny_bert(len(tokenizer)).config)
    losses = fit_one_batch(model, batch, steps=10)
    assert losses[-1] < 0.5 * losses[0], losses
