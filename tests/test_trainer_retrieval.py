"""XSR (sentence embeddings, P@k, the InfoNCE memory loss) and the MLM perplexity probe, on hand examples and
on real Tatoeba English-German pairs with a tiny BERT built from a config."""
import math

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig, BertForMaskedLM, BertModel

from trainer.data.readers import ParallelReadStats, read_parallel
from trainer.objectives.mlm import MaskedLanguageModel, build_mlm_batches, mlm_perplexity, perplexity_by_language
from trainer.objectives.xsr import (encode_sentences, mean_pool, precision_at_k, retrieval_ranks, xsr_contrastive_loss,
                                    xsr_precision)
from trainer_fixtures import wordpiece_tokenizer

# ------------------------------------------------------------------------------------------- hand examples

def test_precision_at_k_on_a_hand_example():
    # Source i's translation is target i. Cosines: source 0 is nearest to target 0; source 1 = (1, 1) is nearer to
    # targets 0 (cos .71) and 2 (cos .88) than to its own target 1 (cos .32); source 2 is nearest to target 2.
    source = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    target = torch.tensor([[1.0, 0.0], [-1.0, 2.0], [0.3, 1.0]])
    ranks = retrieval_ranks(source, target)
    assert ranks.tolist() == [0, 2, 0]
    assert precision_at_k(ranks, (1, 2, 3)) == pytest.approx({"p@1": 2 / 3, "p@2": 2 / 3, "p@3": 1.0})


def test_ties_count_in_the_sentences_favour():
    same = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert retrieval_ranks(same, same).tolist() == [0, 0, 0]


def test_contrastive_loss_hand_value():
    # Orthonormal, matching pairs: logits diag 1/T, off-diagonal 0 -> loss = log(1 + e^(-1/T)).
    source = torch.eye(2)
    for temperature in (1.0, 0.5):
        expected = math.log(1 + math.exp(-1 / temperature))
        assert xsr_contrastive_loss(source, source.clone(), temperature).item() == pytest.approx(expected, rel=1e-6)
    swapped = xsr_contrastive_loss(source, source.flip(0), 1.0).item()
    assert swapped == pytest.approx(math.log(1 + math.exp(1.0)), rel=1e-6)


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 3.0]]


def test_read_parallel_counts_empty_pairs_and_refuses_unparallel_files(tmp_path):
    (tmp_path / "a.en").write_text("one\n\nthree\nfour\n", encoding="utf-8")
    (tmp_path / "a.de").write_text("eins\nzwei\n  \nvier\n", encoding="utf-8")
    stats = ParallelReadStats()
    assert read_parallel(tmp_path / "a.en", tmp_path / "a.de", stats=stats) == [("one", "eins"), ("four", "vier")]
    assert (stats.pairs, stats.empty, stats.empty_lines) == (2, 2, [2, 3])
    (tmp_path / "b.de").write_text("eins\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"a.en has 4 lines but .*b.de has 1"):
        read_parallel(tmp_path / "a.en", tmp_path / "b.de")


# ------------------------------------------------------------------------------------------- on real data

@pytest.fixture(scope="module")
def tatoeba(data_dir):
    pairs = read_parallel(data_dir / "parallel" / "tatoeba.deu-eng.eng", data_dir / "parallel" / "tatoeba.deu-eng.deu",
                          limit=120)
    tokenizer = wordpiece_tokenizer([t for pair in pairs for t in pair], vocab_size=1500)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id)
    return {"pairs": pairs, "tokenizer": tokenizer, "masked_lm": BertForMaskedLM(config), "config": config}


def test_embeddings_do_not_depend_on_batch_padding(tatoeba):
    encoder, tokenizer = tatoeba["masked_lm"].bert, tatoeba["tokenizer"]
    texts = [en for en, _ in tatoeba["pairs"][:10]]
    batched = encode_sentences(encoder, tokenizer, texts, batch_size=10)
    alone = torch.cat([encode_sentences(encoder, tokenizer, [text]) for text in texts])
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)
    middle = encode_sentences(encoder, tokenizer, texts, layer=1)
    assert not torch.allclose(middle, batched)


def test_xsr_precision_on_tatoeba(tatoeba):
    encoder, tokenizer, pairs = tatoeba["masked_lm"].bert, tatoeba["tokenizer"], tatoeba["pairs"]
    english, german = [en for en, _ in pairs], [de for _, de in pairs]
    encoder.train()
    scores = xsr_precision(encoder, tokenizer, german, english)
    assert encoder.training  # the mode is restored
    assert 0.0 <= scores["p@1"] <= scores["p@5"] <= scores["p@10"] <= 1.0
    # Retrieving each sentence among the same sentences finds itself first.
    assert xsr_precision(encoder, tokenizer, english, english) == {"p@1": 1.0, "p@5": 1.0, "p@10": 1.0}


def test_masks_are_keyed_by_seed_and_sentence_id(tatoeba):
    tokenizer, pairs = tatoeba["tokenizer"], tatoeba["pairs"]
    sentences = [(f"en-{n}", en) for n, (en, _) in enumerate(pairs[:20])]
    one_batch = build_mlm_batches(tokenizer, sentences, seed=3, batch_size=20)[0]
    reversed_batches = build_mlm_batches(tokenizer, sentences[::-1], seed=3, batch_size=7)
    by_id = {}
    for batch in reversed_batches:
        for n, sentence_id in enumerate(batch["ids"]):
            length = int(batch["attention_mask"][n].sum())
            by_id[sentence_id] = (batch["input_ids"][n, :length], batch["labels"][n, :length])
    for n, sentence_id in enumerate(one_batch["ids"]):
        length = int(one_batch["attention_mask"][n].sum())
        assert torch.equal(one_batch["input_ids"][n, :length], by_id[sentence_id][0])
        assert torch.equal(one_batch["labels"][n, :length], by_id[sentence_id][1])
    other_seed = build_mlm_batches(tokenizer, sentences, seed=4, batch_size=20)[0]
    assert not torch.equal(other_seed["labels"], one_batch["labels"])
    # Special tokens and padding are never chosen.
    specials = torch.isin(one_batch["input_ids"], torch.tensor(tokenizer.all_special_ids))
    chosen = one_batch["labels"] != -100
    assert not (chosen & (one_batch["attention_mask"] == 0)).any()
    assert not (chosen & specials & (one_batch["input_ids"] != tokenizer.mask_token_id)).any()


def test_perplexity_matches_a_direct_computation(tatoeba):
    masked_lm, tokenizer, pairs = tatoeba["masked_lm"], tatoeba["tokenizer"], tatoeba["pairs"]
    sentences = [(f"de-{n}", de) for n, (_, de) in enumerate(pairs[:40])]
    result = mlm_perplexity(masked_lm, tokenizer, sentences, lang="de", seed=1, batch_size=16)
    masked_lm.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in build_mlm_batches(tokenizer, sentences, seed=1, batch_size=40):
            logits = masked_lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            chosen = batch["labels"] != -100
            total += F.cross_entropy(logits[chosen], batch["labels"][chosen], reduction="sum").item()
            count += int(chosen.sum())
    assert result.masked_tokens == count and result.sentences == 40
    assert result.perplexity == pytest.approx(math.exp(total / count), rel=1e-5)
    # The same head on the same encoder through MaskedLanguageModel gives the same figure.
    view = MaskedLanguageModel.from_masked_lm(masked_lm)
    assert mlm_perplexity(view, tokenizer, sentences, seed=1).perplexity == pytest.approx(result.perplexity, rel=1e-5)
    by_language = perplexity_by_language(view, tokenizer, {"en": [(f"en-{n}", en) for n, (en, _) in
                                                                  enumerate(pairs[:40])], "de": sentences}, seed=1)
    assert set(by_language) == {"en", "de"} and by_language["de"].perplexity == pytest.approx(result.perplexity)


def test_mlm_head_rebound_to_another_encoder_is_tied_to_its_embeddings(tatoeba):
    masked_lm, tokenizer = tatoeba["masked_lm"], tatoeba["tokenizer"]
    encoder = BertModel(tatoeba["config"], add_pooling_layer=False)
    encoder.load_state_dict(masked_lm.bert.state_dict())
    view = MaskedLanguageModel.from_masked_lm(masked_lm, encoder)
    decoder = view.head.predictions.decoder
    assert decoder.weight is encoder.get_input_embeddings().weight
    assert masked_lm.cls.predictions.decoder.weight is masked_lm.bert.get_input_embeddings().weight  # untouched
    batch = build_mlm_batches(tokenizer, [("x", tatoeba["pairs"][0][0])], batch_size=1)[0]
    masked_lm.eval(), view.eval()
    with torch.no_grad():
        expected = masked_lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        torch.testing.assert_close(view(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])["logits"],
                                   expected)
    with torch.no_grad():
        encoder.get_input_embeddings().weight.mul_(2.0)  # changing the encoder changes the rebound head
        changed = view(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])["logits"]
    assert not torch.allclose(changed, expected)
