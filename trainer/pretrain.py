"""Pretrain an encoder on polyspan shards: ``python -m trainer.pretrain --config FILE [key=value ...]``.

On a cluster the same command runs under ``torchrun --nnodes N --nproc-per-node G -m trainer.pretrain ...``.
The config (trainer/config.py) names the objective (trainer/objectives/registry.py), the backbone (a pretrained
encoder by local path or name, or a from-scratch architecture with a tokenizer trained on the shards), the
datasets and the optimisation; ``key=value`` arguments override it (``train.lr=2e-5 data.batch_size=8``).
A run whose ``output_dir`` holds a checkpoint continues from it. Problems with the config, the paths or the
data end the run with one line on stderr, not a traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from trainer.cli import command_config, config_parser, is_main_process, run_command, training_summary
from trainer.config import PretrainConfig, dump_config, resolve_grad_accum

# What imports torch is imported in the functions that train, so that --help and a command-line error answer
# without loading it.
if TYPE_CHECKING:
    from trainer.data.shards import MixedDataset, ShardDataset
    from trainer.loop.distributed import DistributedContext
    from trainer.loop.train import TrainResult
    from trainer.objectives.registry import Objective

logger = logging.getLogger("trainer.pretrain")


def make_datasets(config: PretrainConfig, objective: Objective) -> tuple[MixedDataset, list[ShardDataset]]:
    from trainer.data.shards import EPOCH_FIELD, MixedDataset, ShardDataset, ShardStreamConfig

    stream = ShardStreamConfig(seed=config.train.seed, shuffle_buffer=config.data.shuffle_buffer,
                               epoch_field=EPOCH_FIELD)
    sources = [ShardDataset(path, kind=objective.kind, config=stream) for path in config.data.train]
    weights = config.data.weights or [1.0] * len(sources)
    train_data = MixedDataset(sources, weights, seed=config.train.seed)
    eval_config = ShardStreamConfig(seed=config.train.seed, shuffle=False)
    evals = [ShardDataset(path, kind=objective.kind, config=eval_config) for path in config.data.eval]
    return train_data, evals


def run(config: PretrainConfig) -> TrainResult:
    """Set up from ``config`` and train; returns the loop's result (on every rank)."""
    from trainer.loop.distributed import distributed_run

    with distributed_run() as ctx:
        return _run(config, ctx)


def _run(config: PretrainConfig, ctx: DistributedContext) -> TrainResult:
    import torch

    from trainer.data.batches import ResumableBatches
    from trainer.data.tokenizer_training import train_tokenizer_on_shards
    from trainer.loop.checkpoint import resume_point
    from trainer.loop.distributed import seed_everything
    from trainer.loop.resume import check_resumed_config
    from trainer.loop.threads import apply_threads
    from trainer.loop.train import CHECKPOINTS, train
    from trainer.models.backbone import check_positions, encoder_source, load_tokenizer
    from trainer.objectives.registry import get_objective

    output_dir = Path(config.output_dir)
    apply_threads(config.runtime.threads, log=ctx.is_main)
    objective = get_objective(config.objective.name)
    options = objective.options(config.objective.options, config.data, seed=config.train.seed)
    grad_accum = resolve_grad_accum(config.train, config.data.batch_size, ctx.world_size)
    train_data, evals = make_datasets(config, objective)
    resume = resume_point(output_dir / CHECKPOINTS, config.train.resume)
    check_resumed_config(resume, config)  # before anything is written

    def train_tokenizer():
        return train_tokenizer_on_shards(config.data.train, config.tokenizer.train_vocab_size,
                                         config.tokenizer.train_max_rows, config.tokenizer.lowercase)

    tokenizer = load_tokenizer(config.tokenizer, config.model, output_dir, resume, ctx.is_main, train_tokenizer)
    tokenizer = objective.prepare_tokenizer(tokenizer, options)
    seed_everything(config.train.seed)  # the same initial parameters on every rank
    model = objective.build_model(encoder_source(config.model, tokenizer), tokenizer, options)
    seed_everything(config.train.seed + ctx.rank)  # dropout masks differ between ranks
    check_positions(model.encoder.config, objective.max_input_length(options))

    collate = objective.collator(tokenizer, options)
    batches = ResumableBatches(train_data, config.data.batch_size, collate, config.data.num_workers,
                               seed=config.train.seed, pin_memory=ctx.device.type == "cuda")
    eval_size = config.data.eval_batch_size or config.data.batch_size

    def evaluation_batches():
        # A fresh pass over every eval dataset (this rank's share of each), in shard order.
        for dataset in evals:
            yield from torch.utils.data.DataLoader(dataset, batch_size=eval_size, collate_fn=collate,
                                                   num_workers=config.data.num_workers,
                                                   generator=torch.Generator().manual_seed(0))

    if ctx.is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "config.yaml").write_text(dump_config(config), encoding="utf-8")
        parameters = sum(p.numel() for p in model.parameters())
        logger.info("objective %s, %.1fM parameters, %d rank(s) x batch %d x accumulation %d = %d examples "
                    "per step, %s", objective.name, parameters / 1e6, ctx.world_size, config.data.batch_size,
                    grad_accum, ctx.world_size * config.data.batch_size * grad_accum, ctx.device)
    return train(model, batches, config.train, output_dir, ctx=ctx, tokenizer=tokenizer,
                 eval_batches=evaluation_batches if evals else None, grad_accum=grad_accum, resume_from=resume,
                 run_info={"config": config.to_dict()}, count_keys=objective.count_keys)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = config_parser(
        "python -m trainer.pretrain", __doc__, "YAML config file (see configs/)",
        "Overrides: dotted keys of the config, e.g. train.lr=2e-5 data.batch_size=8 "
        "objective.options.max_span_length=30. Example: python -m trainer.pretrain "
        "--config configs/demo_tiny_wae.yaml train.total_steps=10")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: _command(args), logger)


def _command(args: argparse.Namespace) -> int:
    config = command_config(args, PretrainConfig)
    if config is None:
        return 0
    result = run(config)
    if is_main_process():  # one summary per run
        print(training_summary(result, config.train.total_steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
