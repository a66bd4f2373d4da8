"""The training loop on real shards (MRC rows from XQuAD) with a tiny span extractor: the loss falls, every
step is logged with its learning rate from the warm-up/decay schedule, and step rules see each step."""
import json

import pytest
import torch
from transformers import BertConfig

from trainer.config import TrainConfig
from trainer.data.batches import ResumableBatches
from trainer.data.shards import MixedDataset, ShardDataset, ShardStreamConfig
from trainer.loop.train import METRICS_FILE, StepRule, train
from trainer.objectives.registry import get_objective
from trainer.objectives.wae import WaeOptions
from trainer_fixtures import training_texts, unigram_tokenizer, wordpiece_tokenizer, write_mrc_dataset, xquad_rows

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def xquad(data_dir):
    return xquad_rows(data_dir, "en", limit=64, unanswerable_every=4)


@pytest.fixture(scope="module")
def shards(xquad, tmp_path_factory):
    return write_mrc_dataset(tmp_path_factory.mktemp("mrc") / "en", [xquad[:32], xquad[32:]], row_group_size=16)


def _setup(xquad, shards, batch_size=16, seed=0):
    tokenizer = wordpiece_tokenizer(training_texts(xquad), vocab_size=500)
    wae = get_objective("wae")
    options = WaeOptions(max_length=128, max_query_length=32, max_span_length=30)
    torch.manual_seed(seed)
    encoder = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)
    model = wae.build_model(encoder, tokenizer, options)
    dataset = MixedDataset([ShardDataset(shards, kind="mrc", config=ShardStreamConfig(seed=seed, shuffle_buffer=64))],
                           [1.0], seed=seed)
    batches = ResumableBatches(dataset, batch_size, wae.collator(tokenizer, options), seed=seed)
    return model, tokenizer, batches


def test_loss_falls_and_every_step_is_logged(xquad, shards, tmp_path):
    model, tokenizer, batches = _setup(xquad, shards)
    config = TrainConfig(lr=3e-3, warmup_steps=2, total_steps=16, log_every=1, checkpoint_every=0,
                         max_grad_norm=1.0)
    result = train(model, batches, config, tmp_path, tokenizer=tokenizer,
                   count_keys=get_objective("wae").count_keys)

    lines = [json.loads(line) for line in (tmp_path / METRICS_FILE).read_text().splitlines()]
    assert lines == result.records
    assert [r["step"] for r in lines] == list(range(1, 17))
    losses = [r["loss"] for r in lines]
    assert sum(losses[-4:]) / 4 < 0.5 * sum(losses[:4]) / 4, losses
    # Linear warm-up over 2 steps, then linear decay to 0 after step 16.
    expected_lr = [3e-3 * f for f in [0.5, 1.0] + [(16 - s) / 14 for s in range(2, 16)]]
    assert [r["lr"] for r in lines] == pytest.approx(expected_lr)
    assert all(r["grad_norm"] > 0 and r["tokens"] > 16 * 20 for r in lines)
    # Every row's count of answers lost to truncation reaches the log (nothing silently lost).
    assert "answers_truncated" in lines[0] and "made_unanswerable" in lines[0]
    # 16 steps of 16 rows over a 64-row dataset: 4 epochs of the single source, data position saved.
    assert result.checkpoint is not None and result.checkpoint.name == "step-00000016"
    assert batches.state_dict()["batches"] == 16


class _ZeroGradients(StepRule):
    """A step rule that edits gradients between backward and the optimizer step, as GEM does."""

    def __init__(self):
        self.forwards, self.steps = 0, []

    def loss(self, model, batch):
        self.forwards += 1
        return super().loss(model, batch)

    def before_optimizer_step(self, module, optimizer, step):
        assert all(p.grad is not None for p in module.parameters())
        for p in module.parameters():
            p.grad.zero_()

    def after_optimizer_step(self, module, optimizer, step):
        self.steps.append(step)


def test_step_rule_that_zeroes_gradients_leaves_parameters_unchanged(xquad, shards, tmp_path):
    model, tokenizer, batches = _setup(xquad, shards, batch_size=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rule = _ZeroGradients()
    # No weight decay: AdamW would shrink the weights even with zero gradients.
    config = TrainConfig(lr=1e-2, weight_decay=0.0, total_steps=3, grad_accum=2, log_every=1)
    result = train(model, batches, config, tmp_path, rule=rule)
    assert rule.forwards == 6 and rule.steps == [1, 2, 3]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(r["loss"] > 0 for r in result.records)

    # The same run without the hook does move them.
    model, tokenizer, batches = _setup(xquad, shards, batch_size=8)
    train(model, batches, config, tmp_path / "plain")
    assert not all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_wae_collator_maps_the_pipelines_mask_to_the_tokenizers_own(xquad):
    # The mPMR pipeline anonymises the entity in a query as "[MASK]"; an XLM-R-style tokenizer calls it "<mask>".
    rows = [{**row, "query": "[MASK] " + row["query"]} for row in xquad[:4]]
    wae = get_objective("wae")
    options = WaeOptions(max_length=128, max_query_length=32)
    xlmr_like = unigram_tokenizer(training_texts(xquad), vocab_size=500)
    batch = wae.collator(xlmr_like, options)(rows)
    assert (batch["input_ids"][:, 1] == xlmr_like.mask_token_id).all()
    # Without a token type vocabulary the pair template doubles the separator, as XLM-R's does.
    assert "token_type_ids" not in batch
    assert (batch["input_ids"][0, batch["context_start"][0] - 2:batch["context_start"][0]] ==
            xlmr_like.sep_token_id).all()
    bert_like = wordpiece_tokenizer(training_texts(xquad), vocab_size=500)
    batch = wae.collator(bert_like, options)(rows)
    assert (batch["input_ids"][:, 1] == bert_like.mask_token_id).all() and "token_type_ids" in batch
    # The answers did not move within the context: the mapping edits queries only.
    plain = wae.collator(bert_like, options)(xquad[:4])

    def in_context(b):
        spans = b["answer_spans"]
        return (spans[:, 1:] - b["context_start"][spans[:, 0]][:, None]).tolist()
    assert in_context(batch) == in_context(plain) and len(in_context(plain)) >= 2


def test_bf16_autocast_on_cpu_trains_close_to_fp32(xquad, shards, tmp_path):
    """The bf16 path of the loop (``train.precision: bf16``) runs on CPU too, so it is not first executed on a
    GPU: from the same initial parameters and batches, every step's loss is finite and within bf16's rounding
    of the fp32 run's, and the parameters move the same way."""
    losses, finals = {}, {}
    for precision in ("fp32", "bf16"):
        model, tokenizer, batches = _setup(xquad, shards, batch_size=8, seed=3)
        config = TrainConfig(lr=1e-3, total_steps=4, log_every=1, checkpoint_every=-1, precision=precision)
        torch.manual_seed(11)  # the same dropout draws
        result = train(model, batches, config, tmp_path / precision)
        losses[precision] = [r["loss"] for r in result.records if r["split"] == "train"]
        finals[precision] = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert all(torch.isfinite(torch.tensor(losses["bf16"])))
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=3e-2), losses
    # bf16 changed the arithmetic (the comparison is not of one path with itself) ...
    assert losses["bf16"] != losses["fp32"]
    # ... and the updates point the same way: the parameters stay fp32 and end close to the fp32 run's.
    assert finals["bf16"].dtype == torch.float32
    initial = torch.cat([p.detach().flatten() for p in _setup(xquad, shards, batch_size=8, seed=3)[0].parameters()])
    moved_fp32, moved_bf16 = finals["fp32"] - initial, finals["bf16"] - initial
    assert torch.nn.functional.cosine_similarity(moved_fp32, moved_bf16, dim=0) > 0.9
