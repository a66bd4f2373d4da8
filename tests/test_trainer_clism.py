"""CLISM + CACR + MLM pretraining (paper 000): the span and contrastive losses against hand computations,
MLM masking rules and determinism, [QUE] features on real Europarl pairs, and a tiny masked LM whose loss falls
on CLISM shards."""
import math
import pickle
import random

import pytest
import torch
from tokenizers import processors
from torch.utils.data import DataLoader
from transformers import AutoModelForMaskedLM, AutoTokenizer, BertConfig, XLMRobertaConfig

from clism_fixtures import QUE, clism_texts, europarl_clism_rows, write_clism_dataset
from schemas import validate_dataset
from trainer.data.clism_features import (SOURCE, SPECIAL, TARGET, ClismCollator, ClismFeatureConfig, ClismFeaturizer,
                                         add_que_token)
from trainer.data.mlm_masking import IGNORE_INDEX, MaskingConfig, mask_tokens, row_generator
from trainer.data.shards import EPOCH_FIELD, ShardDataset, ShardStreamConfig
from trainer.objectives.clism_model import ClismObjectiveConfig, ClismPretrainer, cacr_loss, clism_span_loss, info_nce
from trainer_fixtures import unigram_tokenizer, wordpiece_tokenizer

NO_MASKING = MaskingConfig(probability=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def europarl(data_dir):
    return europarl_clism_rows(data_dir)


@pytest.fixture(scope="module")
def tokenizer(europarl):
    tokenizer = wordpiece_tokenizer(clism_texts(europarl), vocab_size=3000)
    add_que_token(tokenizer)
    return tokenizer


def tiny_bert(tokenizer) -> BertConfig:
    return BertConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=128, max_position_embeddings=512)


# --- losses against hand computations ------------------------------------------------------------------------

def _log_softmax_at(logits: list[float], index: int) -> float:
    return logits[index] - math.log(sum(math.exp(x) for x in logits))


def test_clism_span_loss_matches_a_hand_computation():
    # One row of length 5 whose target is positions 2..4; two questions, then a padding question.
    start = torch.tensor([[[0.3, 1.0, -0.5, 2.0, 0.1], [1.2, -0.3, 0.7, 0.0, -1.1], [9.0, 9.0, 9.0, 9.0, 9.0]]])
    end = torch.tensor([[[-0.2, 0.4, 1.5, -0.6, 0.9], [0.5, 0.5, -2.0, 1.0, 0.3], [9.0, 9.0, 9.0, 9.0, 9.0]]])
    candidates = torch.tensor([[False, False, True, True, True]])
    starts, ends = torch.tensor([[3, 2, 0]]), torch.tensor([[4, 3, 0]])
    questions = torch.tensor([[True, True, False]])

    def question_loss(q, s, e, positions):
        return -(_log_softmax_at([start[0, q, k].item() for k in positions], positions.index(s))
                 + _log_softmax_at([end[0, q, k].item() for k in positions], positions.index(e)))

    target = [2, 3, 4]
    expected = (question_loss(0, 3, 4, target) + question_loss(1, 2, 3, target)) / 2
    assert clism_span_loss(start, end, candidates, starts, ends, questions).item() == pytest.approx(expected, rel=1e-6)
    # Over the whole sequence (eq. 2-3 as written) the softmax has more terms.
    everything = list(range(5))
    expected_all = (question_loss(0, 3, 4, everything) + question_loss(1, 2, 3, everything)) / 2
    assert clism_span_loss(start, end, torch.ones(1, 5, dtype=torch.bool), starts, ends,
                           questions).item() == pytest.approx(expected_all, rel=1e-6)
    # No question at all: zero, and still a graph (DDP needs every head in every backward).
    logits = start.clone().requires_grad_(True)
    empty = clism_span_loss(logits, end, candidates, starts, ends, torch.zeros_like(questions))
    assert empty.item() == 0.0 and empty.requires_grad


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def _info_nce_by_hand(anchors, candidates, scale):
    total = 0.0
    for i, anchor in enumerate(anchors):
        logits = [scale * _cos(anchor, candidate) for candidate in candidates]
        total -= _log_softmax_at(logits, i)
    return total / len(anchors)


def test_info_nce_and_cacr_match_a_hand_computation():
    # Close vectors, so that at scale 20 every term is of order 1.
    target = [[1.0, 0.8, 1.2], [1.2, 1.0, 0.8], [0.8, 1.2, 1.0]]
    masked = [[1.1, 0.9, 1.0], [1.0, 1.1, 0.9], [0.9, 1.05, 1.2]]
    source = [[1.0, 0.9, 1.2], [1.1, 1.0, 1.0], [0.9, 1.1, 0.9]]
    t, m, s = (torch.tensor(x) for x in (target, masked, source))
    for scale in (20.0, 1.0):
        assert info_nce(t, m, scale).item() == pytest.approx(_info_nce_by_hand(target, masked, scale), rel=1e-5)
    expected = (_info_nce_by_hand(target, masked, 20.0) + _info_nce_by_hand(source, masked, 20.0)
                + _info_nce_by_hand(target, source, 20.0))
    assert cacr_loss(t, m, s, scale=20.0).item() == pytest.approx(expected, rel=1e-5)
    # The anchor is the first argument: swapping the views changes which softmax is taken.
    assert info_nce(m, t, 20.0).item() == pytest.approx(_info_nce_by_hand(masked, target, 20.0), rel=1e-5)


def test_tau_20_as_a_scale_lets_the_contrastive_loss_learn_and_as_a_divisor_would_not():
    # Perfectly aligned views of a batch of 64: scaled cosines separate them; cosines / 20 leave the softmax
    # almost uniform (the loss stays above log(1 + 63 e^-0.1) ≈ 4.06; chance is log 64 ≈ 4.16).
    views = torch.nn.functional.normalize(torch.randn(64, 32, generator=torch.Generator().manual_seed(0)), dim=-1)
    assert info_nce(views, views, ClismObjectiveConfig().cacr_scale).item() < 0.5
    assert info_nce(views, views, 1 / 20).item() > math.log(1 + 63 * math.exp(-0.1))


# --- MLM masking ---------------------------------------------------------------------------------------------

def test_mlm_masking_selects_15_percent_and_splits_80_10_10_on_a_large_sample():
    rng = random.Random(0)
    ids = torch.tensor([rng.randrange(10, 1000) for _ in range(200_000)])
    maskable = torch.tensor([rng.random() < 0.7 for _ in range(200_000)])
    corrupted, labels = mask_tokens(ids, maskable, mask_token_id=4, replacement_ids=torch.arange(10, 1000),
                                    config=MaskingConfig(), generator=row_generator(0, "sample"))
    selected = labels != IGNORE_INDEX
    assert not (selected & ~maskable).any() and (labels[selected] == ids[selected]).all()
    assert (corrupted[~selected] == ids[~selected]).all()
    assert selected.sum().item() / maskable.sum().item() == pytest.approx(0.15, abs=0.004)
    n = selected.sum().item()
    masked = (corrupted[selected] == 4).sum().item() / n
    kept = (corrupted[selected] == ids[selected]).sum().item() / n
    replaced = 1 - masked - kept
    assert masked == pytest.approx(0.8, abs=0.01)
    assert replaced == pytest.approx(0.1 * (1 - 1 / 990), abs=0.008)  # a random draw may hit the same token
    assert kept == pytest.approx(0.1 + 0.1 / 990, abs=0.008)


def test_mlm_masking_never_touches_que_answers_specials_or_padding(europarl, tokenizer):
    config = ClismFeatureConfig(max_sentence_tokens=64, masking=MaskingConfig(probability=0.5))
    masked = ClismCollator(tokenizer, config, seed=3)(europarl)
    clean = ClismCollator(tokenizer, ClismFeatureConfig(max_sentence_tokens=64, masking=NO_MASKING))(europarl)
    que_id = tokenizer.convert_tokens_to_ids(QUE)
    selected = masked["mlm_labels"] != IGNORE_INDEX
    protected = (clean["sequence_ids"] == SPECIAL) | (clean["input_ids"] == que_id)
    for row, (starts, ends, kept) in enumerate(zip(clean["answer_starts"], clean["answer_ends"],
                                                   clean["question_mask"])):
        for s, e in zip(starts[kept].tolist(), ends[kept].tolist()):
            protected[row, s:e + 1] = True
    assert masked["attention_mask"].equal(clean["attention_mask"])
    assert selected.sum() > 1000 and not (selected & protected).any()
    assert masked["input_ids"][protected].equal(clean["input_ids"][protected])
    # The selected share of what may be selected, and no random replacement is a special token or [QUE].
    maskable = (clean["sequence_ids"] != SPECIAL) & ~protected
    assert selected.sum().item() / maskable.sum().item() == pytest.approx(0.5, abs=0.02)
    changed = masked["input_ids"] != clean["input_ids"]
    replacements = masked["input_ids"][changed & (masked["input_ids"] != tokenizer.mask_token_id)]
    assert replacements.numel() > 100
    assert not torch.isin(replacements, torch.tensor(tokenizer.all_special_ids)).any()


def test_mlm_masks_depend_on_seed_and_row_id_only(europarl, tokenizer):
    collator = ClismCollator(tokenizer, ClismFeatureConfig(max_sentence_tokens=64), seed=7)
    row = europarl[5]
    alone = collator([row])
    in_a_batch = collator([europarl[9], row, europarl[0]])  # other rows, another padded length
    length = alone["attention_mask"][0].sum()
    for key in ("input_ids", "mlm_labels"):
        assert alone[key][0, :length].equal(in_a_batch[key][1, :length])
    assert (alone["mlm_labels"] != IGNORE_INDEX).any()
    renamed = collator([{**row, "id": row["id"] + "-copy"}])
    reseeded = ClismCollator(tokenizer, ClismFeatureConfig(max_sentence_tokens=64), seed=8)([row])
    assert not renamed["mlm_labels"].equal(alone["mlm_labels"])
    assert not reseeded["mlm_labels"].equal(alone["mlm_labels"])
    # A pickled copy (a DataLoader worker's) masks identically.
    assert pickle.loads(pickle.dumps(collator))([row])["input_ids"].equal(alone["input_ids"])


def test_mlm_masks_change_with_the_epoch_a_row_is_read_in(europarl, tokenizer):
    collator = ClismCollator(tokenizer, ClismFeatureConfig(max_sentence_tokens=64), seed=7)
    rows = europarl[:20]
    untagged = collator(rows)
    epochs = [collator([{**row, EPOCH_FIELD: epoch} for row in rows]) for epoch in (0, 1, 2)]
    assert epochs[0]["input_ids"].equal(untagged["input_ids"])  # epoch 0 masks as a single pass always did
    assert not epochs[1]["mlm_labels"].equal(epochs[0]["mlm_labels"])
    assert not epochs[2]["mlm_labels"].equal(epochs[1]["mlm_labels"])
    again = collator([{**row, EPOCH_FIELD: 1} for row in rows])  # and each epoch's masks are reproducible
    assert again["input_ids"].equal(epochs[1]["input_ids"])
    for batch in epochs:  # only the masks move: the clean pair and the [QUE] answers stay
        assert batch["answer_starts"].equal(untagged["answer_starts"])


# --- features ------------------------------------------------------------------------------------------------

def _squash(text: str, tokenizer) -> str:
    return "".join(tokenizer.backend_tokenizer.normalizer.normalize_str(text).split())


def test_features_map_every_answer_to_its_target_tokens_on_europarl(europarl, tokenizer):
    # 200 tokens per sentence: nothing is truncated, so question k answers [QUE] k.
    featurizer = ClismFeaturizer(tokenizer, ClismFeatureConfig(max_sentence_tokens=200))
    features = featurizer(europarl)
    que_id = tokenizer.convert_tokens_to_ids(QUE)
    for row, feature in zip(europarl, features):
        assert len(feature.questions) == len(row["answers"])
        for (que, start, end), answer in zip(feature.questions, row["answers"]):
            assert feature.input_ids[que] == que_id and feature.sequence_ids[que] == SOURCE
            assert set(feature.sequence_ids[start:end + 1]) == {TARGET}
            decoded = tokenizer.decode(feature.input_ids[start:end + 1])
            assert _squash(decoded, tokenizer) == _squash(answer["text"], tokenizer), (row["id"], decoded)
        assert [q for q, _, _ in feature.questions] == sorted(q for q, _, _ in feature.questions)
        source_tokens = [t for t, s in zip(feature.source_input_ids, feature.source_sequence_ids) if s == SOURCE]
        assert _squash(tokenizer.decode(source_tokens), tokenizer) == _squash(row["source"], tokenizer)
    stats = featurizer.stats.as_dict()
    assert stats["examples"] == len(europarl) == 399
    assert stats["questions"] == stats["questions_kept"] == sum(len(r["answers"]) for r in europarl) > 600
    assert sum(value for key, value in stats.items() if "truncated" in key or "unmappable" in key) == 0


def test_truncation_losses_are_counted_by_reason(europarl, tokenizer):
    # A row built by hand from words that are one token each; 4 tokens per sentence at most.
    target = "die Kommission der Europa und zu den Parlament"
    answers = [{"text": word, "start": target.index(word), "end": target.index(word) + len(word)}
               for word in ("Kommission", "Parlament", "die")]
    row = {"id": "hand", "source": "the Commission of the Parliament is in Europe", "target": target,
           "que_token": "<que>", "masked_source": "the <que> of the is in <que> we <que>", "answers": answers}
    featurizer = ClismFeaturizer(tokenizer, ClismFeatureConfig(max_sentence_tokens=4))
    (feature,) = featurizer([row])  # the row's own "<que>" stands for the tokenizer's [QUE]
    # [QUE] 1 (source token 1) is kept with its answer; [QUE] 2 and 3 (tokens 6 and 8) are cut.
    assert [tokenizer.decode(feature.input_ids[s:e + 1]) for _, s, e in feature.questions] == ["kommission"]
    assert (feature.que_truncated, feature.answer_truncated, feature.answer_unmappable) == (2, 0, 0)
    (feature,) = featurizer([{**row, "masked_source": "<que> <que> <que> the"}])
    # Every [QUE] is kept now, but "Parlament" (target token 7) is cut.
    assert [tokenizer.decode(feature.input_ids[s:e + 1]) for _, s, e in feature.questions] == ["kommission", "die"]
    assert (feature.que_truncated, feature.answer_truncated, feature.answer_unmappable) == (0, 1, 0)
    assert not feature.source_truncated and feature.target_truncated and feature.unmasked_source_truncated
    assert len(feature.answer_positions) == 2  # answer tokens kept out of MLM
    with pytest.raises(ValueError, match="hand.*3 \\[QUE\\] tokens in masked_source but 2 answers"):
        featurizer([{**row, "answers": answers[:2]}])

    # Real rows, 16 tokens per sentence: every question is kept or counted under exactly one reason.
    featurizer = ClismFeaturizer(tokenizer, ClismFeatureConfig(max_sentence_tokens=16))
    features = featurizer(europarl)
    stats = featurizer.stats
    assert stats.questions == (stats.questions_kept + stats.questions_que_truncated
                               + stats.questions_answer_truncated + stats.questions_answer_unmappable)
    assert stats.questions_que_truncated > 20 and stats.questions_answer_truncated > 20
    assert stats.examples_without_questions == sum(not f.questions for f in features) > 0
    assert all(max(len(f.input_ids), len(f.source_input_ids)) <= 2 * 16 + 3 for f in features)


@pytest.mark.parametrize("backbone", ["bert", "xlm-roberta", "mbert-template"])
def test_the_tokenizers_own_pair_template_is_used(europarl, backbone):
    texts = clism_texts(europarl)
    bert_like = backbone != "xlm-roberta"
    plain = (wordpiece_tokenizer if bert_like else unigram_tokenizer)(texts, vocab_size=1000)
    templated = (wordpiece_tokenizer if bert_like else unigram_tokenizer)(texts, vocab_size=1000)
    cls, sep = (templated.cls_token, templated.cls_token_id), (templated.sep_token, templated.sep_token_id)
    if backbone == "mbert-template":
        # mBERT's tokenizer.json: a TemplateProcessing post-processor, whose pair encodings carry no
        # sequence ids for the first sentence.
        templated.backend_tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{cls[0]} $A {sep[0]}", pair=f"{cls[0]} $A {sep[0]} $B:1 {sep[0]}:1", special_tokens=[cls, sep])
    else:
        processor = processors.BertProcessing if backbone == "bert" else processors.RobertaProcessing
        templated.backend_tokenizer.post_processor = processor(sep, cls)
    backbone = "bert" if bert_like else backbone
    for tokenizer in (plain, templated):
        add_que_token(tokenizer)
    config = ClismFeatureConfig(max_sentence_tokens=24, double_separator=backbone != "bert", masking=NO_MASKING)
    expected, got = ClismCollator(plain, config)(europarl[:16]), ClismCollator(templated, config)(europarl[:16])
    assert ClismCollator(templated, config).featurizer.processor is not None
    for key in ("input_ids", "sequence_ids", "que_positions", "answer_starts", "source_input_ids",
                "source_sequence_ids") + (("token_type_ids",) if backbone == "bert" else ()):
        assert got[key].equal(expected[key]), key
    first = got["input_ids"][0].tolist()
    assert first[0] == cls[1] and first.count(sep[1]) == (2 if backbone == "bert" else 3)


# --- the model -----------------------------------------------------------------------------------------------

def test_model_heads_losses_and_weights(europarl):
    tokenizer = wordpiece_tokenizer(clism_texts(europarl), vocab_size=1000)
    encoder_config = tiny_bert(tokenizer)  # sized before [QUE] exists: the constructor resizes
    vocabulary = encoder_config.vocab_size
    torch.manual_seed(0)
    weights = ClismObjectiveConfig(clism_weight=1.0, cacr_weight=0.5, mlm_weight=2.0)
    model = ClismPretrainer.from_encoder_config(encoder_config, tokenizer, weights).eval()
    assert model.encoder.get_input_embeddings().num_embeddings == len(tokenizer) == vocabulary + 1
    batch = ClismCollator(tokenizer, ClismFeatureConfig(max_sentence_tokens=32))(europarl[:6])
    with torch.no_grad():
        output = model(**batch)
        hidden = model.encoder.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                    token_type_ids=batch["token_type_ids"]).last_hidden_state
        start, end = model.span_logits(hidden, batch["que_positions"])
        b, q = 2, 0
        x_q = hidden[b, batch["que_positions"][b, q]]
        by_hand = [torch.dot(hidden[b, k], model.start_projection.weight @ x_q).item() for k in range(hidden.shape[1])]
        assert start[b, q].tolist() == pytest.approx(by_hand, abs=1e-5)
        assert end[b, q].tolist() == pytest.approx(
            [torch.dot(hidden[b, k], model.end_projection.weight @ x_q).item() for k in range(hidden.shape[1])],
            abs=1e-5)
        # The MLM term equals the encoder's own masked-LM loss on the same batch.
        reference = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                  token_type_ids=batch["token_type_ids"], labels=batch["mlm_labels"]).loss
    assert output["loss_mlm"].item() == pytest.approx(reference.item(), rel=1e-5)
    model._mlm_head = None  # the path for heads it does not know: the model's full output, same losses
    with torch.no_grad():
        fallback = model(**batch)
    for key, value in output.items():
        assert fallback[key].item() == pytest.approx(value.item(), rel=1e-5), key
    expected = output["loss_clism"] + 0.5 * output["loss_cacr"] + 2.0 * output["loss_mlm"]
    assert output["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert all(output[key].item() > 0 for key in ("loss_clism", "loss_cacr", "loss_mlm"))


@pytest.mark.parametrize("backbone", ["bert", "xlm-roberta"])
def test_every_parameter_gets_a_gradient_even_without_questions_or_mlm_labels(europarl, backbone):
    torch.manual_seed(0)
    if backbone == "bert":
        tokenizer = wordpiece_tokenizer(clism_texts(europarl), vocab_size=500)
        encoder_config = tiny_bert(tokenizer)
    else:
        tokenizer = unigram_tokenizer(clism_texts(europarl), vocab_size=500)
        encoder_config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2,
                                          num_attention_heads=2, intermediate_size=128,
                                          max_position_embeddings=260, type_vocab_size=1,
                                          pad_token_id=tokenizer.pad_token_id)
    model = ClismPretrainer.from_encoder_config(encoder_config, tokenizer)
    config = ClismFeatureConfig(max_sentence_tokens=2, double_separator=backbone != "bert", masking=NO_MASKING)
    # 2 tokens per sentence cut every [QUE] and answer of these rows; no token is selected for MLM.
    batch = ClismCollator(tokenizer, config)(europarl[:4])
    assert not batch["question_mask"].any() and (batch["mlm_labels"] == IGNORE_INDEX).all()
    output = model(**batch)
    assert output["loss_clism"].item() == 0.0 and output["loss_mlm"].item() == 0.0
    output["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())  # DDP without find_unused_parameters


def test_from_pretrained_adds_que_and_keeps_the_encoders_weights(europarl, tmp_path):
    tokenizer = wordpiece_tokenizer(clism_texts(europarl), vocab_size=500)
    torch.manual_seed(0)
    plain = AutoModelForMaskedLM.from_config(tiny_bert(tokenizer))
    plain.save_pretrained(tmp_path / "plain")
    model = ClismPretrainer.from_pretrained(str(tmp_path / "plain"), tokenizer)
    embeddings = model.encoder.get_input_embeddings().weight
    assert QUE in tokenizer.get_vocab() and embeddings.shape[0] == len(tokenizer) == 501
    assert embeddings[:500].equal(plain.get_input_embeddings().weight)

    # A checkpoint of it (encoder and tokenizer) loads back without a second [QUE] or any change.
    model.encoder.save_pretrained(tmp_path / "clism")
    tokenizer.save_pretrained(tmp_path / "clism")
    reloaded_tokenizer = AutoTokenizer.from_pretrained(tmp_path / "clism")
    reloaded = ClismPretrainer.from_pretrained(str(tmp_path / "clism"), reloaded_tokenizer)
    assert len(reloaded_tokenizer) == 501
    assert reloaded_tokenizer.convert_tokens_to_ids(QUE) == tokenizer.convert_tokens_to_ids(QUE) == 500
    for name, tensor in model.encoder.state_dict().items():
        assert reloaded.encoder.state_dict()[name].equal(tensor), name


def test_loss_falls_training_a_tiny_masked_lm_on_europarl_clism_shards(europarl, tokenizer, tmp_path):
    torch.manual_seed(0)
    rows = europarl[:96]
    directory = write_clism_dataset(tmp_path / "clism", [rows[:48], rows[48:]], row_group_size=16)
    assert validate_dataset(directory) == []
    dataset = ShardDataset(directory, kind="clism", config=ShardStreamConfig(seed=0, shuffle_buffer=32))
    collator = ClismCollator(tokenizer, ClismFeatureConfig(max_sentence_tokens=48), seed=0)
    loader = DataLoader(dataset, batch_size=16, collate_fn=collator)
    model = ClismPretrainer.from_encoder_config(tiny_bert(tokenizer), tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)

    history = []
    for epoch in range(4):
        dataset.set_epoch(epoch)
        for batch in loader:
            output = model(**batch)
            optimizer.zero_grad()
            output["loss"].backward()
            optimizer.step()
            history.append({key: value.item() for key, value in output.items()})
    assert len(history) == 24 and all(math.isfinite(h["loss"]) for h in history)

    def mean(key, part):
        return sum(h[key] for h in part) / len(part)

    first, last = history[:6], history[-6:]
    assert mean("loss", last) < 0.7 * mean("loss", first), history
    for key in ("loss_clism", "loss_cacr", "loss_mlm"):
        assert mean(key, last) < mean(key, first), key
