"""DDP: two gloo processes (torch.multiprocessing) make the same steps as one process fed the same batches.

The WAE loss is normalised by the valid cells of its own batch, so one process with a batch twice as large
would weight examples differently from two ranks that each normalise their half. The equivalent single
process therefore uses gradient accumulation: with 2 ranks x 2 micro-steps each, one process accumulating
4 micro-steps over the same four batches (each rank's share of the shards, read with that rank's split)
averages the same four gradients. Dropout is off so both runs draw no random masks."""
import os

import pytest
import torch
import torch.multiprocessing as mp
from transformers import BertConfig

from trainer.config import TrainConfig
from trainer.data.batches import ResumableBatches
from trainer.data.shards import MixedDataset, ShardDataset, ShardStreamConfig
from trainer.loop.distributed import setup_distributed, teardown
from trainer.loop.train import CHECKPOINTS, train
from trainer.objectives.registry import get_objective
from trainer.objectives.wae import WaeOptions
from trainer_fixtures import free_port, training_texts, wordpiece_tokenizer, write_mrc_dataset, xquad_rows

CONFIG = TrainConfig(lr=2e-3, warmup_steps=1, total_steps=4, grad_accum=2, log_every=1, max_grad_norm=1.0)
BATCH = 4


def _model_and_collator(rows):
    tokenizer = wordpiece_tokenizer(training_texts(rows), vocab_size=400)
    wae = get_objective("wae")
    options = WaeOptions(max_length=96, max_query_length=24, max_span_length=20, extractor_dropout=0.0)
    torch.manual_seed(0)
    encoder = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=48, max_position_embeddings=96, hidden_dropout_prob=0.0,
                         attention_probs_dropout_prob=0.0)
    return wae.build_model(encoder, tokenizer, options), tokenizer, wae.collator(tokenizer, options)


def _dataset(shards, rank=None, world_size=None):
    source = ShardDataset(shards, kind="mrc", config=ShardStreamConfig(seed=2, shuffle_buffer=16), rank=rank,
                          world_size=world_size)
    return MixedDataset([source], [1.0], seed=2)


def _rank_main(rank, port, rows, shards, output_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE="2")
    torch.set_num_threads(1)
    ctx = setup_distributed(device="cpu")
    try:
        model, tokenizer, collate = _model_and_collator(rows)
        # The rank and world size come from the process group, as under torchrun.
        batches = ResumableBatches(_dataset(shards), BATCH, collate, seed=2)
        result = train(model, batches, CONFIG, output_dir, ctx=ctx, tokenizer=tokenizer)
        torch.save(([r["loss"] for r in result.records], model.state_dict()), output_dir / f"result-{rank}.pt")
    finally:
        teardown()


class _Interleaved:
    """Micro-batches in the order rank 0, rank 1, rank 0, rank 1, ... of two ranks' streams."""

    def __init__(self, streams):
        self.streams = streams

    def __iter__(self):
        iterators = [iter(s) for s in self.streams]
        while True:
            for iterator in iterators:
                yield next(iterator)


@pytest.fixture(scope="module")
def rows(data_dir):
    return xquad_rows(data_dir, "en", limit=40, unanswerable_every=4)


def test_two_gloo_ranks_match_one_process_with_the_same_batches(rows, tmp_path):
    shards = write_mrc_dataset(tmp_path / "mrc", [rows[:20], rows[20:]], row_group_size=8)
    mp.start_processes(_rank_main, args=(free_port(), rows, shards, tmp_path / "ddp"), nprocs=2, join=True,
                       start_method="spawn")
    by_rank = {rank: torch.load(tmp_path / "ddp" / f"result-{rank}.pt") for rank in range(2)}

    torch.set_num_threads(1)
    model, tokenizer, collate = _model_and_collator(rows)
    streams = [ResumableBatches(_dataset(shards, rank=r, world_size=2), BATCH, collate, seed=2) for r in range(2)]
    single = train(model, _Interleaved(streams), TrainConfig(**{**CONFIG.__dict__, "grad_accum": 4}),
                   tmp_path / "single", tokenizer=tokenizer)
    single_losses = [r["loss"] for r in single.records]

    for rank in range(2):
        losses, params = by_rank[rank]
        # Logged losses are averaged over ranks, so both ranks report the same values.
        assert losses == pytest.approx(single_losses, rel=1e-5)
        for name, value in model.state_dict().items():
            assert torch.allclose(params[name], value, atol=1e-5), name
    # The parameters moved: the comparison is not between two untouched models.
    initial, _, _ = _model_and_collator(rows)
    moved = initial.projection.dense_in.weight - model.projection.dense_in.weight
    assert moved.abs().max() > 1e-3
    # Each rank left its random state and data position in the checkpoint.
    checkpoint = tmp_path / "ddp" / CHECKPOINTS / "step-00000004"
    assert (checkpoint / "rank-00000.pt").is_file() and (checkpoint / "rank-00001.pt").is_file()


# ---- MTL-WS's warm start under DDP ------------------------------------------------------------------------

def _tagger(data_dir, seed: int = 0):
    from transformers import AutoModel

    from schemas.conll import read_conll
    from trainer.models.token_tagger import TokenTagger
    from trainer.tasks.base import TaskSettings
    from trainer.tasks.registry import build_task

    german = data_dir / "ner" / "de-europarl.test.conll02"
    rows = [{"id": f"de-{s.index}", "lang": "de", "tokens": list(s.tokens), "tags": list(s.tags)}
            for s in read_conll(german, tag_scheme=None)][:16]
    tokenizer = wordpiece_tokenizer([" ".join(r["tokens"]) for r in rows], vocab_size=400)
    task = build_task(TaskSettings(name="ner", head="tagging", scheme="BIO", max_length=64))
    task.fit_labels(rows)
    torch.manual_seed(seed)
    encoder = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=48, max_position_embeddings=96)
    return task, TokenTagger(AutoModel.from_config(encoder, add_pooling_layer=False), len(task.labels)), tokenizer, rows


def _warm_start_rank(rank, port, data_dir, output_dir):
    from trainer.adaptation.mtl_ws import MTLWSConfig
    from trainer.adaptation.warm_start import warm_start

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE="2")
    torch.set_num_threads(1)
    ctx = setup_distributed(device="cpu")
    try:
        task, model, tokenizer, rows = _tagger(data_dir)
        torch.manual_seed(100 + rank)  # the ranks' dropout differs, as in a real run
        result = warm_start(task, model, tokenizer, {"de": rows}, MTLWSConfig(iterations=2, inner_steps=2,
                                                                               step_size=1.0, inner_lr=0.05),
                            TrainConfig(precision="fp32", seed=0), output_dir, batch_size=4, ctx=ctx)
        torch.save(([r["loss"] for r in result.records], model.state_dict()), output_dir / f"warm-{rank}.pt")
    finally:
        teardown()


def test_mtl_ws_warm_start_steps_keep_two_gloo_ranks_identical(data_dir, tmp_path):
    """The warm start's inner steps run through DDP: each rank draws its own half of every language's batches
    and uses its own dropout, yet the averaged inner gradients leave both ranks with the same parameters,
    moved from the initial ones."""
    mp.start_processes(_warm_start_rank, args=(free_port(), data_dir, tmp_path), nprocs=2, join=True,
                       start_method="spawn")
    (losses0, params0), (losses1, params1) = (torch.load(tmp_path / f"warm-{r}.pt") for r in range(2))
    assert losses0 == losses1 and len(losses0) == 2  # logged losses are averaged over the ranks
    for name, value in params0.items():
        assert torch.equal(value, params1[name]), name
    _, initial, _, _ = _tagger(data_dir)
    moved = max(float((value - params0[name]).abs().max()) for name, value in initial.state_dict().items())
    assert moved > 1e-4
    assert (tmp_path / "warm-start" / CHECKPOINTS / "step-00000002" / "rank-00001.pt").is_file()
