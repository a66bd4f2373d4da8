"""Extractive QA on real XQuAD and TyDi QA GoldP files: readers, sliding windows, n-best decoding from
oracle logits, and a few optimisation steps of each head (start/end, mPMR extractor, CLISM [QUE]) with a
tiny BERT built from a config."""
import json
import pickle

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from trainer.data.clism_features import add_que_token
from trainer.data.qa_features import QACollator, QAFeatureConfig, QAFeaturizer, window_starts
from trainer.data.squad import QADataError, QAReadStats, infer_lang, read_squad_json
from trainer.models.qa_heads import ExtractorQA, QueQA, StartEndQA
from trainer.tasks.metrics import qa_scores
from trainer.tasks.qa import evaluate_qa, predict_windows
from trainer.tasks.qa_decoding import decode_qa
from trainer_fixtures import unigram_tokenizer, wordpiece_tokenizer


def _texts(examples):
    return sorted({e.context for e in examples}) + [e.question for e in examples]


def tiny_bert(vocab_size: int) -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    return BertModel(config, add_pooling_layer=False)


@pytest.fixture(scope="module")
def tydi_train(data_dir):
    return read_squad_json(data_dir / "qa" / "tydiqa-goldp" / "english_tydiqa_train.json")


def test_readers_on_real_files(data_dir, tydi_train):
    stats = QAReadStats()
    xquad = read_squad_json(data_dir / "qa" / "xquad" / "xquad.zh.json", stats=stats)
    assert len(xquad) == 1190 == stats.questions and stats.articles == 48
    assert {e.lang for e in xquad} == {"zh"}
    assert all(e.context[a["start"]:a["end"]] == a["text"] for e in xquad for a in e.answers)
    # TyDi QA GoldP has no "version" key; the language comes from the file name.
    assert "version" not in json.loads((data_dir / "qa" / "tydiqa-goldp" / "arabic_tydiqa_dev.json").read_text())
    arabic = read_squad_json(data_dir / "qa" / "tydiqa-goldp" / "arabic_tydiqa_dev.json")
    assert arabic[0].lang == "ar" and len({e.id for e in arabic}) == len(arabic)
    assert len(tydi_train) == 3696 and tydi_train[0].lang == "en"
    assert infer_lang("dev-context-de-question-en.json") == "de"


def test_reader_errors_name_file_and_position(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [\n  {"title": "x",}\n]}')
    with pytest.raises(QADataError, match=r"broken\.json:2:\d+: not valid JSON"):
        read_squad_json(broken, lang="en")
    document = {"data": [{"title": "t", "paragraphs": [{"context": "Paris is in France.", "qas": [
        {"id": "q1", "question": "Where?", "answers": [{"text": "France", "answer_start": 12}]},
        {"id": "q2", "question": "What?", "answers": [{"text": "Paris", "answer_start": 3}]}]}]}]}
    misplaced = tmp_path / "misplaced.json"
    misplaced.write_text(json.dumps(document))
    with pytest.raises(QADataError, match=r"misplaced\.json: data\[0\]\.paragraphs\[0\]\.qas\[1\]\.answers\[0\]"):
        read_squad_json(misplaced, lang="en")
    stats = QAReadStats()
    fixed = read_squad_json(misplaced, lang="en", misplaced="nearest", stats=stats)
    assert fixed[1].answers[0]["start"] == 0 and stats.answers_relocated == 1
    del document["data"][0]["paragraphs"][0]["qas"][0]["question"]
    misplaced.write_text(json.dumps(document))
    with pytest.raises(QADataError, match=r"qas\[0\]: missing 'question'"):
        read_squad_json(misplaced, lang="en")
    with pytest.raises(QADataError, match="language"):
        read_squad_json(misplaced)


def test_window_starts():
    assert window_starts(10, 4, 3) == [0, 3, 6]  # the last window [6, 10) reaches the end
    assert window_starts(3, 4, 2) == [0]
    assert window_starts(9, 4, 6) == [0, 4, 8]  # a stride past the window is cut to the window


def _check_windows(examples, features, config, tokenizer):
    """Windows cover every context token, starts advance by the stride, and every answer held whole in
    a window maps back to characters covering it - exactly its text when it starts and ends on token
    boundaries."""
    by_id = {e.id: e for e in examples}
    exact = boundary_aligned = 0
    groups = {}
    for feature in features:
        groups.setdefault(feature.example_id, []).append(feature)
        assert len(feature.input_ids) <= config.max_length
        assert feature.input_ids[0] == tokenizer.cls_token_id and feature.input_ids[-1] == tokenizer.sep_token_id
    for example_id, windows in groups.items():
        example = by_id[example_id]
        n_tokens = len(tokenizer(example.context, add_special_tokens=False)["input_ids"])
        starts = [w.context_token_start for w in windows]
        assert starts == list(range(0, config.doc_stride * len(starts), config.doc_stride))
        ends = [w.context_token_start + w.context_end - w.context_start for w in windows]
        assert ends[-1] == n_tokens and all(e < n_tokens for e in ends[:-1])
        for window in windows:
            offsets = window.context_offsets
            for answer in example.answers:
                # The window tokens the answer touches, computed here independently of the featurizer.
                touched = [n for n, (s, e) in enumerate(offsets) if s < e and s < answer["end"] and answer["start"] < e]
                if not touched:
                    continue
                # Whole in the window: a window token before (after) it that it does not touch, or its first
                # (last) touched token reaches its start (end).
                real = [n for n, (s, e) in enumerate(offsets) if s < e]  # tokens that cover characters
                starts_inside = touched[0] > real[0] or offsets[touched[0]][0] <= answer["start"]
                ends_inside = touched[-1] < real[-1] or offsets[touched[-1]][1] >= answer["end"]
                if not (starts_inside and ends_inside):
                    continue
                span = (window.context_start + touched[0], window.context_start + touched[-1])
                assert span in window.answer_spans
                text = example.context[offsets[touched[0]][0]:offsets[touched[-1]][1]]
                if answer["start"] in {s for s, _ in offsets} and answer["end"] in {e for _, e in offsets}:
                    boundary_aligned += 1
                    exact += text == answer["text"]
            if window.holds_answer:
                first = example.answers[0]
                start = offsets[window.start_position - window.context_start][0]
                end = offsets[window.end_position - window.context_start][1]
                assert start <= first["start"] and first["end"] <= end
    return exact, boundary_aligned


@pytest.mark.parametrize("path, limit, make_tokenizer, config", [
    # The setting (384 / 128) over all of XQuAD English: a few long contexts need windows.
    ("xquad/xquad.en.json", None, wordpiece_tokenizer, QAFeatureConfig()),
    # Chinese: one token per character (BERT's normaliser), so windows split contexts.
    ("xquad/xquad.zh.json", 150, wordpiece_tokenizer, QAFeatureConfig(max_length=128, doc_stride=48, head="que")),
    # An XLM-R-like tokenizer whose tokens carry the space before a word (offsets are trimmed).
    ("tydiqa-goldp/english_tydiqa_dev.json", 150, unigram_tokenizer,
     QAFeatureConfig(max_length=160, doc_stride=64, double_separator=True)),
])
def test_windows_on_real_data(data_dir, path, limit, make_tokenizer, config):
    examples = read_squad_json(data_dir / "qa" / path)[:limit]
    tokenizer = make_tokenizer(_texts(examples))
    if config.head == "que":
        add_que_token(tokenizer)
    featurizer = QAFeaturizer(tokenizer, config)
    features = featurizer([e.as_row() for e in examples])
    stats = featurizer.stats
    assert stats.examples == len(examples) and stats.windows == len(features) and stats.examples_split > 0
    exact, aligned = _check_windows(examples, features, config, tokenizer)
    assert aligned > 100 and exact == aligned
    # Every answer is counted: placed in a window, or longer than any window, or unmappable.
    if config.head == "que":
        que = tokenizer.convert_tokens_to_ids("[QUE]")
        for feature in features:
            assert feature.input_ids[feature.que_position] == que
            assert feature.input_ids[feature.que_position + 1] == tokenizer.sep_token_id
    if config.double_separator:
        assert all(f.input_ids[f.context_start - 2:f.context_start] == [tokenizer.sep_token_id] * 2
                   for f in features)


def _oracle_outputs(features, head):
    """Logits that point at each window's gold span (or at [CLS] when the window has none)."""
    outputs = []
    for feature in features:
        size = len(feature.input_ids)
        if head == "extractor":
            scores = np.full((size, size), -5.0)
            if feature.holds_answer:
                scores[feature.start_position, feature.end_position] = 5.0
            else:
                scores[0, 0] = 5.0
            outputs.append({"scores": scores})
        else:
            start, end = np.zeros(size), np.zeros(size)
            start[feature.start_position] = end[feature.end_position] = 8.0
            outputs.append({"start_logits": start, "end_logits": end})
    return outputs


@pytest.mark.parametrize("head", ["start_end", "extractor"])
def test_oracle_decoding_recovers_gold(data_dir, head):
    examples = read_squad_json(data_dir / "qa" / "tydiqa-goldp" / "english_tydiqa_dev.json")[:120]
    tokenizer = wordpiece_tokenizer(_texts(examples))
    featurizer = QAFeaturizer(tokenizer, QAFeatureConfig(max_length=128, doc_stride=40, head=head))
    features = featurizer([e.as_row() for e in examples])
    predictions = decode_qa({e.id: e for e in examples}, features, _oracle_outputs(features, head), head=head,
                            max_answer_length=64)
    assert set(predictions) == {e.id for e in examples}
    recoverable = {f.example_id for f in features if f.holds_answer
                   and f.end_position - f.start_position < 64}
    assert len(recoverable) > 100
    for example in examples:
        prediction = predictions[example.id]
        if example.id in recoverable:
            first = example.answers[0]
            assert prediction.start <= first["start"] and first["end"] <= prediction.end
            assert prediction.text == example.context[prediction.start:prediction.end]
    golds = {e.id: [a["text"] for a in e.answers] for e in examples if e.id in recoverable}
    scores = qa_scores({k: predictions[k].text for k in golds}, golds)
    assert scores["f1"] > 98.0


def test_decoding_merges_windows_limits_length_and_null():
    from trainer.data.qa_features import QAFeature
    context = "aa bb cc dd ee"
    offsets = [(0, 2), (3, 5), (6, 8), (9, 11), (12, 14)]
    # Two windows of 3 tokens over 5, overlapping on "cc"; layout [CLS] q [SEP] ctx [SEP].
    windows = [QAFeature("x", 0, [0] * 7, None, 3, 6, 0, offsets[0:3], None, 0, 0),
               QAFeature("x", 1, [0] * 7, None, 3, 6, 2, offsets[2:5], None, 0, 0)]
    first, second = np.zeros(7), np.zeros(7)
    first[5] = 3.0  # "cc" in window 0, start and end
    second[3] = 4.0  # "cc" in window 1 scores higher
    second[5] = 1.0  # "ee"
    outputs = [{"start_logits": first, "end_logits": first}, {"start_logits": second, "end_logits": second}]
    prediction = decode_qa({"x": {"context": context}}, windows, outputs, n_best=5, max_answer_length=1)["x"]
    assert (prediction.text, prediction.score, prediction.n_best[0].window) == ("cc", 8.0, 1)
    texts = [c.text for c in prediction.n_best]
    assert texts.count("cc") == 1 and all(len(t) == 2 for t in texts)  # one token at most
    # A strong [CLS] cell in every window makes the question unanswerable only with allow_null.
    for output in outputs:
        output["start_logits"][0] = output["end_logits"][0] = 10.0
    assert decode_qa({"x": {"context": context}}, windows, outputs, allow_null=True)["x"].text == ""
    assert decode_qa({"x": {"context": context}}, windows, outputs)["x"].text == "cc"


@pytest.mark.parametrize("head", ["start_end", "extractor", "que"])
def test_heads_learn_and_evaluate(tydi_train, head):
    examples = tydi_train[:12]
    tokenizer = wordpiece_tokenizer(_texts(examples), vocab_size=1500)
    if head == "que":
        add_que_token(tokenizer)
    config = QAFeatureConfig(max_length=128, doc_stride=64, max_query_length=32, head=head)
    encoder = tiny_bert(len(tokenizer))
    model = {"start_end": StartEndQA, "que": QueQA, "extractor": ExtractorQA}[head](encoder)
    assert model.encoder is encoder
    collator = pickle.loads(pickle.dumps(QACollator(tokenizer, config)))  # DataLoader workers pickle it
    batch = collator(examples)
    assert batch["input_ids"].shape[0] >= len(examples)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(1)
    losses = []
    for _ in range(12):
        optimizer.zero_grad()
        loss = model(**batch)["loss"]
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    # Evaluation end to end: windows -> outputs -> answers -> EM/F1.
    features = QAFeaturizer(tokenizer, config)([e.as_row() for e in examples])
    outputs = predict_windows(model, features, head, batch_size=8, pad_token_id=tokenizer.pad_token_id)
    assert model.training  # restored
    predictions = decode_qa({e.id: e for e in examples}, features, outputs, head=head)
    assert set(predictions) == {e.id for e in examples}
    for example in examples:
        prediction = predictions[example.id]
        assert prediction.text == example.context[prediction.start:prediction.end] != ""
    scores = qa_scores({k: p.text for k, p in predictions.items()},
                       {e.id: [a["text"] for a in e.answers] for e in examples})
    assert 0.0 <= scores["exact_match"] <= scores["f1"] <= 100.0
    # The same through the one-call evaluation.
    again, per_language = evaluate_qa(model, tokenizer, examples, config, batch_size=8)
    assert {k: p.text for k, p in again.items()} == {k: p.text for k, p in predictions.items()}
    assert per_language == {"en": scores}


def test_que_head_needs_the_token(tydi_train):
    tokenizer = wordpiece_tokenizer(_texts(tydi_train[:3]), vocab_size=500)
    with pytest.raises(ValueError, match=r"\[QUE\]"):
        QAFeaturizer(tokenizer, QAFeatureConfig(head="que"))
