"""Benchmark of the training loop and its data pipeline, in one run (DESIGN.md: a ratio against a baseline
measured in the same run).

    python bench/train.py [--data out/demo/mrc-en] [--model small] [--batch-size 8] [--steps 8] [--rounds 3]

Prints a table of
- training tokens/s of ``trainer.loop.train`` against a plain reference loop - same model, the same
  pre-collated batches, AdamW with the same hyper-parameters (``torch.optim.AdamW``'s default
  implementation there, the fused one in the loop), clipping and autocast, nothing else (target ratio
  >= 1.0). Rounds of the two alternate and each side's best round counts, so load from other processes hits
  both alike; CPU-time rates are shown next to wall-clock ones because the CPU may be shared;
- samples/s of the data pipeline (reading shards + featurising + collating, one process, no workers) against
  the samples/s the model consumes in the loop (target >= 10x);
- on a CUDA machine, also tokens/s and model FLOPs utilisation (MFU) of an XLM-R-base-sized WAE model
  (config only, random init) in bf16. Training FLOPs per token are counted as
      6 * N  +  12 * n_layers * d * T  +  6 * d * T
  with N the parameters outside the embeddings (matmul weights, extractor included), d the hidden size and
  T the padded sequence length of the batch: 6N for the forward and backward matmuls, 12·n·d·T for
  attention scores and the weighted sum (2·2·T·d per layer forward, x3 with backward), 6·d·T for the span
  scores S = FFN(H)·Hᵀ. Tokens are non-padding tokens, so padding counts against MFU. Peak: the GPU's dense
  bf16 figure (H100/H200 989 TFLOP/s, A100 312) or ``--peak-tflops``.

The data are MRC shards (``make demo`` writes out/demo/mrc-en); the tokenizer is a WordPiece trained on them.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
from transformers import BertConfig, XLMRobertaConfig  # noqa: E402

from trainer.config import TrainConfig  # noqa: E402
from trainer.data.batches import ResumableBatches
from trainer.data.shards import MixedDataset, ShardDataset, ShardStreamConfig
from trainer.data.tokenizer_training import train_tokenizer_on_shards
from trainer.loop.train import autocast_context, batch_tokens, train
from trainer.objectives.registry import get_objective
from trainer.objectives.wae import WaeOptions

MODELS = {
    # A small BERT a CPU trains at a few steps per second.
    "small": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128),
}
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}


def make_batches(data: str, tokenizer, options: WaeOptions, batch_size: int, count: int) -> list[dict]:
    wae = get_objective("wae")
    dataset = MixedDataset([ShardDataset(data, kind="mrc", config=ShardStreamConfig(seed=0))], [1.0])
    stream = iter(ResumableBatches(dataset, batch_size, wae.collator(tokenizer, options)))
    return [next(stream) for _ in range(count)]


def data_pipeline_rate(data: str, tokenizer, options: WaeOptions, batch_size: int, batches: int) -> float:
    """Samples/s of shard reading + featurising + collating in this process."""
    wae = get_objective("wae")
    dataset = MixedDataset([ShardDataset(data, kind="mrc", config=ShardStreamConfig(seed=1))], [1.0], seed=1)
    stream = iter(ResumableBatches(dataset, batch_size, wae.collator(tokenizer, options)))
    next(stream)  # opening files, first featurisation
    start = time.perf_counter()
    samples = sum(len(next(stream)["example_ids"]) for _ in range(batches))
    return samples / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Clock:
    """Wall and CPU seconds of a block. On a CPU shared with other jobs the CPU time of this process is the
    steadier measure of the work done; on a GPU only the wall clock means anything."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        _sync(self.device)
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        _sync(self.device)
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def reference_loop(model, batches: list[dict], config: TrainConfig, device: torch.device) -> _Clock:
    """One pass over ``batches`` with the minimal loop a person would write."""
    with _Clock(device) as clock:
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        model.train()
        for batch in batches:
            batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            with autocast_context(config.precision, device):
                loss = model(**batch)["loss"]
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad()
    return clock


class _Replay:
    """The same pre-collated batches, in order (the loop restarts a finite iterable when it runs out)."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


def trainer_loop(model, batches: list[dict], config: TrainConfig, device: torch.device, workdir: str) -> _Clock:
    with _Clock(device) as clock:
        train(model, _Replay(batches), config, workdir)
    return clock


def compare(model, batches, config, device, rounds: int) -> dict[str, dict[str, float]]:
    """Best tokens/s (wall and CPU time) of the loop and the reference over alternating rounds, after one
    warm-up pass of each. The best round is the one least disturbed by other processes (timeit's rule)."""
    tokens = sum(batch_tokens(b) for b in batches)
    rates = {side: {"wall": [], "cpu": []} for side in ("loop", "reference")}
    with tempfile.TemporaryDirectory() as workdir:
        for round_ in range(rounds + 1):
            order = ("loop", "reference") if round_ % 2 == 0 else ("reference", "loop")
            for side in order:
                if side == "loop":
                    clock = trainer_loop(model, batches, config, device, os.path.join(workdir, str(round_)))
                else:
                    clock = reference_loop(model, batches, config, device)
                if round_:  # round 0 warms up caches, the allocator and kernels
                    rates[side]["wall"].append(tokens / clock.wall)
                    rates[side]["cpu"].append(tokens / max(clock.cpu, 1e-9))
    return {side: {k: max(v) for k, v in measures.items()} for side, measures in rates.items()}


def non_embedding_parameters(model) -> int:
    embeddings = sum(p.numel() for name, p in model.named_parameters() if "embeddings" in name)
    return sum(p.numel() for p in model.parameters()) - embeddings


def flops_per_token(model, seq_len: float) -> float:
    config = model.encoder.config
    d, layers = config.hidden_size, config.num_hidden_layers
    return 6 * non_embedding_parameters(model) + 12 * layers * d * seq_len + 6 * d * seq_len


XLMR_BASE = dict(vocab_size=250002, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1)


def xlmr_rows(args, tokenizer, device: torch.device, sizes: dict = XLMR_BASE) -> list[tuple[str, ...]]:
    """Loop vs reference tokens/s and MFU of a randomly initialised XLM-R-sized WAE model in bf16."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        torch.backends.cuda.matmul.allow_tf32 = True
    else:
        name = str(device)
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    options = WaeOptions(max_length=args.gpu_max_length, max_query_length=64, max_span_length=30,
                         double_separator=True)
    torch.manual_seed(0)
    config = XLMRobertaConfig(**sizes, pad_token_id=tokenizer.pad_token_id)
    model = get_objective("wae").build_model(config, tokenizer, options).to(device)
    batches = make_batches(args.data, tokenizer, options, args.gpu_batch_size, 2 * args.steps)
    for batch in batches:
        batch.pop("token_type_ids", None)  # XLM-R has one segment
    train_config = TrainConfig(lr=1e-5, total_steps=len(batches), log_every=len(batches), checkpoint_every=-1,
                               max_grad_norm=1.0, precision="bf16", resume=False)
    rates = compare(model, batches, train_config, device, args.rounds)
    loop_rate, reference_rate = rates["loop"]["wall"], rates["reference"]["wall"]
    seq_len = statistics.mean(b["input_ids"].shape[1] for b in batches)
    achieved = loop_rate * flops_per_token(model, seq_len)
    where = f"{name}, XLM-R-base size bf16, batch {args.gpu_batch_size} x {seq_len:.0f}"
    return [(where, "reference loop tokens/s", f"{reference_rate:,.0f}", ""),
            (where, "trainer.loop tokens/s", f"{loop_rate:,.0f}",
             f"ratio {loop_rate / reference_rate:.2f} (target >= 1.0)"),
            (where, "model TFLOP/s", f"{achieved / 1e12:,.1f}",
             f"MFU {achieved / (peak * 1e12):.1%} of {peak:.0f}" if peak else "peak unknown: --peak-tflops")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.path.join(ROOT, "out/demo/mrc-en"), help="MRC dataset directory")
    parser.add_argument("--model", choices=sorted(MODELS), default="small")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per timed round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadiest on a shared CPU)")
    parser.add_argument("--gpu-batch-size", type=int, default=32)
    parser.add_argument("--gpu-max-length", type=int, default=384)
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak (default: by its name)")
    args = parser.parse_args()
    if not os.path.isdir(args.data):
        sys.exit(f"error: {args.data} not found: run `make demo` (or pass --data DIR with MRC shards)")

    tokenizer = train_tokenizer_on_shards([args.data], vocab_size=4000)
    options = WaeOptions(max_length=args.max_length, max_query_length=64, max_span_length=30)
    rows = []

    # ---- CPU (or the default device): the loop against the reference, the data pipeline against both ----
    device = torch.device("cpu")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    encoder = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=max(512, args.max_length),
                         **MODELS[args.model])
    model = get_objective("wae").build_model(encoder, tokenizer, options)
    config = TrainConfig(lr=1e-4, total_steps=args.steps, log_every=args.steps, checkpoint_every=-1,
                         max_grad_norm=1.0, precision="fp32", resume=False)
    batches = make_batches(args.data, tokenizer, options, args.batch_size, args.steps)
    rates = compare(model, batches, config, device, args.rounds)
    tokens_per_sample = sum(batch_tokens(b) for b in batches) / (args.batch_size * len(batches))
    consumed = rates["loop"]["wall"] / tokens_per_sample
    produced = data_pipeline_rate(args.data, tokenizer, options, args.batch_size, batches=4 * args.steps)
    parameters = sum(p.numel() for p in model.parameters()) / 1e6
    where = f"cpu x{args.threads} thread(s), {args.model} BERT {parameters:.1f}M, batch {args.batch_size}"
    loop, reference = rates["loop"], rates["reference"]
    rows += [(where, "reference loop tokens/s (wall | CPU time)",
              f"{reference['wall']:,.0f} | {reference['cpu']:,.0f}", ""),
             (where, "trainer.loop tokens/s (wall | CPU time)", f"{loop['wall']:,.0f} | {loop['cpu']:,.0f}",
              f"ratio {loop['wall'] / reference['wall']:.2f} | {loop['cpu'] / reference['cpu']:.2f} "
              "(target >= 1.0)"),
             (where, "model consumes samples/s", f"{consumed:,.1f}", ""),
             ("data pipeline, 1 process", "read + featurise + collate samples/s", f"{produced:,.0f}",
              f"{produced / consumed:.0f}x consumption (target >= 10x)")]

    # ---- CUDA: an XLM-R-base-sized model in bf16 ---------------------------------------------------------
    if torch.cuda.is_available():
        rows += xlmr_rows(args, tokenizer, torch.device("cuda"))
    else:
        rows.append(("no CUDA device", "XLM-R-base bf16 tokens/s and MFU", "-", "needs a GPU"))

    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


if __name__ == "__main__":
    main()
