"""GEM fine-tuning (paper 003): the projection against brute force, the strategies on the training loop, and an
end-to-end run with XSR (Tatoeba en-de) and MLM memories while fine-tuning a tiny tagger on Europarl NER."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertForMaskedLM

from schemas.conll import read_conll
from schemas.registry import UnknownNameError
from trainer.adaptation.constraints import ConstraintConfig, build_constraint
from trainer.adaptation.frozen import freeze_lower_layers
from trainer.adaptation.gem import (flatten_gradients, gem_projection, project_gradient, solve_gem_dual,
                                    trainable_parameters)
from trainer.adaptation.gem_constraint import GemConstraint
from trainer.adaptation.memories import CallableMemory, MLMMemory, XSRMemory
from trainer.adaptation.mtf import MultiTaskFineTuning
from trainer.config import TrainConfig
from trainer.data.readers import read_parallel
from trainer.loop.train import train
from trainer.objectives.mlm import MaskedLanguageModel, mlm_perplexity
from trainer.objectives.xsr import xsr_precision
from trainer_fixtures import wordpiece_tokenizer

# ------------------------------------------------------------------------------------------- the projection

def brute_force_projection(g: np.ndarray, G: np.ndarray) -> np.ndarray:
    """The closest feasible point by enumerating which constraints are tight: for every subset S, project g onto
    {z : G_S z = 0}; the answer is the nearest of those that satisfy every constraint."""
    best, best_distance = None, np.inf
    for size in range(len(G) + 1):
        for subset in itertools.combinations(range(len(G)), size):
            z = g.copy()
            if subset:
                rows = G[list(subset)]
                z = g - rows.T @ np.linalg.lstsq(rows @ rows.T, rows @ g, rcond=None)[0]
            if np.all(G @ z >= -1e-9) and np.linalg.norm(z - g) < best_distance - 1e-12:
                best, best_distance = z, np.linalg.norm(z - g)
    return best


def random_problem(rng: np.random.Generator, k: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    g = rng.normal(size=dim)
    G = rng.normal(size=(k, dim))
    noise = rng.normal(size=dim)
    G[0] = -g + 0.5 * (noise - (noise @ g) / (g @ g) * g)  # <g, g_0> = -‖g‖²: at least one violated
    return g, G


@pytest.mark.parametrize("k", [1, 2, 3])
def test_projection_is_the_minimal_change_satisfying_every_constraint(k):
    rng = np.random.default_rng(k)
    projected_count = 0
    for _ in range(40):
        dim = int(rng.integers(max(k, 2), 9))
        g, G = random_problem(rng, k, dim)
        result = gem_projection(torch.tensor(g), [torch.tensor(row) for row in G])
        z = result.gradient.numpy()
        assert result.projected and result.violated == int(np.sum(G @ g < 0))
        projected_count += 1
        scale = np.linalg.norm(G, axis=1) * np.linalg.norm(g)
        assert np.all(G @ z >= -1e-10 * scale)
        np.testing.assert_allclose(z, brute_force_projection(g, G), atol=1e-8)
        # No random feasible point near z is closer to g than z.
        distance = np.linalg.norm(z - g)
        samples = z + rng.normal(size=(2000, dim)) * rng.uniform(1e-3, 1.0, size=(2000, 1)) * distance
        feasible = np.all(samples @ G.T >= 0, axis=1)
        assert feasible.any()
        assert np.all(np.linalg.norm(samples[feasible] - g, axis=1) >= distance - 1e-12)
        # The dual is v >= 0 and g̃ = g + Gᵀv.
        assert np.all(result.dual >= 0)
        np.testing.assert_allclose(z, g + G.T @ result.dual, atol=1e-10)
    assert projected_count == 40


def test_one_violated_constraint_is_the_closed_form():
    rng = np.random.default_rng(7)
    g = torch.tensor(rng.normal(size=12))
    memory = -g + 0.3 * torch.tensor(rng.normal(size=12))
    expected = g - (g @ memory) / (memory @ memory) * memory
    torch.testing.assert_close(project_gradient(g, [memory]), expected, atol=1e-12, rtol=0)
    assert abs(float(project_gradient(g, [memory]) @ memory)) < 1e-10


def test_gradient_unchanged_when_no_constraint_is_violated():
    g = torch.tensor([1.0, 2.0, -1.0])
    memories = [torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 1.0]), torch.zeros(3)]
    result = gem_projection(g, memories)
    assert result.gradient is g and not result.projected and result.violated == 0


def test_degenerate_memories_parallel_zero_and_more_than_dimensions():
    rng = np.random.default_rng(3)
    for _ in range(30):
        dim = int(rng.integers(2, 4))
        g, G = random_problem(rng, 4, dim)
        G[1] = 2.5 * G[0]
        G[3] = 0.0
        z = project_gradient(torch.tensor(g), torch.tensor(G)).numpy()
        np.testing.assert_allclose(z, brute_force_projection(g, G), atol=1e-8)


def test_margin_bounds_the_dual_and_keeps_the_constraints():
    rng = np.random.default_rng(11)
    g, G = random_problem(rng, 2, 6)
    plain, with_margin = gem_projection(torch.tensor(g), torch.tensor(G)), gem_projection(
        torch.tensor(g), torch.tensor(G), margin=0.5)
    assert np.all(with_margin.dual >= 0.5 - 1e-12)
    assert np.all(G @ with_margin.gradient.numpy() >= -1e-10)
    assert np.linalg.norm(with_margin.gradient.numpy() - g) >= np.linalg.norm(plain.gradient.numpy() - g)
    v = solve_gem_dual(G @ G.T, G @ g, margin=0.5)
    np.testing.assert_allclose(v, with_margin.dual)


# --------------------------------------------------------------------------------- tiny model on real text

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


class TinyTagger(nn.Module):
    """A training module as the loop wants it: ``encoder`` plus a linear tagging head."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, len(LABELS))

    def forward(self, input_ids, attention_mask, labels, **_extras):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = self.head(hidden)
        return {"loss": F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)}


def tagging_batches(tokenizer, sentences, batch_size=8, max_length=48):
    batches = []
    for start in range(0, len(sentences), batch_size):
        chunk = sentences[start:start + batch_size]
        encoded = tokenizer([s.tokens for s in chunk], is_split_into_words=True, truncation=True,
                            max_length=max_length, padding=True, return_tensors="pt")
        labels = torch.full_like(encoded["input_ids"], -100)
        for n, sentence in enumerate(chunk):
            previous = None
            for position, word in enumerate(encoded.word_ids(n)):
                if word is not None and word != previous:  # the first sub-word of each word carries its label
                    labels[n, position] = LABELS.index(sentence.tags[word])
                previous = word
        batches.append({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"],
                        "labels": labels})
    return batches


@pytest.fixture(scope="module")
def real_data(data_dir):
    sentences = [s for s in read_conll(data_dir / "ner" / "en-europarl.test.conll02", tag_scheme="BIO")
                 if len(s.tokens) >= 4][:48]
    pairs = read_parallel(data_dir / "parallel" / "tatoeba.deu-eng.eng", data_dir / "parallel" / "tatoeba.deu-eng.deu",
                          limit=96)
    texts = [" ".join(s.tokens) for s in sentences] + [t for pair in pairs for t in pair]
    return {"sentences": sentences, "pairs": pairs, "tokenizer": wordpiece_tokenizer(texts, vocab_size=1500)}


def tiny_masked_lm(tokenizer, seed=0, dropout=0.1):
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout, pad_token_id=tokenizer.pad_token_id)
    return BertForMaskedLM(config)


def tiny_tagger(tokenizer, seed=0):
    masked_lm = tiny_masked_lm(tokenizer, seed)
    torch.manual_seed(seed + 1)
    return TinyTagger(masked_lm.bert), masked_lm


def aligned_memory():
    """A memory whose gradient is the current task gradient itself (loss = Σ p·g): never violated, no forward,
    no random numbers."""
    def loss(model, step):
        return sum((p * p.grad.detach()).sum() for p in trainable_parameters(model) if p.grad is not None)
    return CallableMemory("aligned", loss)


def opposed_memory():
    def loss(model, step):
        return -sum((p * p.grad.detach()).sum() for p in trainable_parameters(model) if p.grad is not None)
    return CallableMemory("opposed", loss)


def test_gem_without_violation_equals_plain_fine_tuning_step_for_step(real_data, tmp_path):
    """Through the real training loop, dropout on: every step identical to plain fine-tuning."""
    tokenizer = real_data["tokenizer"]
    batches = tagging_batches(tokenizer, real_data["sentences"][:24])
    config = TrainConfig(lr=1e-3, total_steps=3, log_every=1, warmup_steps=0, precision="fp32")
    finals = {}
    for name, rule in [("plain", None), ("gem", GemConstraint([aligned_memory()]))]:
        model, _ = tiny_tagger(tokenizer)
        torch.manual_seed(123)  # the same dropout draws for both runs
        result = train(model, batches, config, tmp_path / name, rule=rule)
        assert result.step == 3
        finals[name] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if rule is not None:
            assert rule.last_projection is not None and not rule.last_projection.projected
            assert rule.last_stats["gem_violated"] == 0.0
    plain, gem = finals["plain"], finals["gem"]
    changed = [k for k in plain if not torch.equal(plain[k], tiny_tagger(tokenizer)[0].state_dict()[k])]
    assert changed, "training changed nothing: the comparison would be vacuous"
    for key in plain:
        assert torch.equal(plain[key], gem[key]), key


def test_gem_projection_cancels_an_opposed_gradient(real_data):
    """A memory whose gradient is -g: the projection is 0, so an SGD step leaves the parameters unchanged."""
    tokenizer = real_data["tokenizer"]
    model, _ = tiny_tagger(tokenizer)
    batch = tagging_batches(tokenizer, real_data["sentences"][:8])[0]
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    model(**batch)["loss"].backward()
    stats = GemConstraint([opposed_memory()]).before_optimizer_step(model, optimizer, 1)
    assert stats["gem_violated"] == 1.0 and stats["gem_projected"] == 1.0
    assert flatten_gradients(trainable_parameters(model)).abs().max() < 1e-6
    optimizer.step()
    for old, new in zip(before, model.parameters()):
        torch.testing.assert_close(old, new, atol=1e-6, rtol=0)


def test_mtf_adds_the_memory_gradients(real_data):
    tokenizer = real_data["tokenizer"]
    pairs = real_data["pairs"][:16]
    batch = tagging_batches(tokenizer, real_data["sentences"][:8])[0]
    xsr = XSRMemory.from_pairs(tokenizer, pairs, batch_size=8)

    model, _ = tiny_tagger(tokenizer)
    model.eval()  # no dropout: the two computations below must see the same function
    (model(**batch)["loss"] + 0.3 * xsr.loss(model, 0)).backward()
    expected = flatten_gradients(trainable_parameters(model)).clone()

    model.zero_grad()
    model(**batch)["loss"].backward()
    MultiTaskFineTuning([xsr], weights=[0.3]).before_optimizer_step(model, None, 0)
    torch.testing.assert_close(flatten_gradients(trainable_parameters(model)), expected, atol=1e-6, rtol=1e-5)


def test_frozen_layers_baseline(real_data):
    model, _ = tiny_tagger(real_data["tokenizer"])
    frozen = freeze_lower_layers(model, 1)
    assert any(name.startswith("embeddings.") for name in frozen)
    assert all(name.startswith(("embeddings.", "encoder.layer.0.")) for name in frozen)
    encoder = model.encoder
    assert not any(p.requires_grad for p in encoder.embeddings.parameters())
    assert not any(p.requires_grad for p in encoder.encoder.layer[0].parameters())
    assert all(p.requires_grad for p in encoder.encoder.layer[1].parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    with pytest.raises(ValueError, match="cannot freeze 5 layers"):
        freeze_lower_layers(model, 5)
    other, _ = tiny_tagger(real_data["tokenizer"])
    rule = build_constraint(ConstraintConfig(name="frozen", frozen_layers=1), other)
    assert type(rule).__name__ == "StepRule"
    assert not any(p.requires_grad for p in other.encoder.embeddings.parameters())
    with pytest.raises(UnknownNameError, match="unknown constraint 'ewc'; choose one of none, frozen, mtf, gem"):
        build_constraint(ConstraintConfig(name="ewc"), other)


def test_gem_with_xsr_and_mlm_memories_on_real_data(real_data, tmp_path):
    """GEM w/ both: Tatoeba en-de pairs as the XSR memory, Tatoeba English sentences as the MLM memory, while the
    loop fine-tunes a tagger on Europarl English NER; every step's update satisfies both constraints."""
    tokenizer, pairs = real_data["tokenizer"], real_data["pairs"]
    model, masked_lm = tiny_tagger(tokenizer, seed=5)
    memory_pairs, held_out = pairs[:48], pairs[48:]
    mlm = MLMMemory.from_sentences(MaskedLanguageModel.from_masked_lm(masked_lm, model.encoder), tokenizer,
                                   [(f"tatoeba-en-{n}", en) for n, (en, _) in enumerate(memory_pairs)],
                                   name="mlm_en", batch_size=16, max_length=48)
    xsr = XSRMemory.from_pairs(tokenizer, memory_pairs, name="xsr_en_de", batch_size=16, max_length=48)

    projections = []

    class Recording(GemConstraint):
        def before_optimizer_step(self, module, optimizer, step):
            stats = super().before_optimizer_step(module, optimizer, step)
            projections.append((self.last_projection, flatten_gradients(trainable_parameters(module)).clone()))
            return stats

    def measure():
        english = [(f"held-{n}", en) for n, (en, _) in enumerate(held_out)]
        return (xsr_precision(model.encoder, tokenizer, [de for _, de in held_out], [en for en, _ in held_out]),
                mlm_perplexity(MaskedLanguageModel.from_masked_lm(masked_lm, model.encoder), tokenizer, english,
                               lang="en"))

    before_xsr, before_mlm = measure()
    rule = Recording([mlm, xsr])
    config = TrainConfig(lr=5e-3, total_steps=4, log_every=1, precision="fp32", max_grad_norm=None)
    result = train(model, tagging_batches(tokenizer, real_data["sentences"]), config, tmp_path / "gem",
                   rule=rule)
    after_xsr, after_mlm = measure()

    assert result.step == 4 and len(projections) == 4
    for projection, written in projections:
        assert len(projection.dots_after) == 2
        assert projection.constraints_hold(1e-5), (projection.dots_after, projection.memory_norms)
        # What the optimizer used is the projection.
        torch.testing.assert_close(written, projection.gradient.float())
    # The previous step's memory figures reach the loop's log as loss_* terms.
    logged = [r for r in result.records if r["split"] == "train" and "loss_memory_xsr_en_de" in r]
    assert logged and all(np.isfinite(r["loss_memory_mlm_en"]) for r in logged)
    # Table 1's measurements, before and after.
    for scores in (before_xsr, after_xsr):
        assert 0.0 <= scores["p@1"] <= scores["p@5"] <= scores["p@10"] <= 1.0
    assert before_mlm.masked_tokens == after_mlm.masked_tokens  # the same deterministic masks
    assert np.isfinite(after_mlm.perplexity) and after_mlm.perplexity > 1.0
