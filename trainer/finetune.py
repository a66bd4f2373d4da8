"""Fine-tune an encoder on a downstream task: ``python -m trainer.finetune --config FILE [key=value ...]``.

The config (trainer/finetune_config.py) names the task and head (trainer/finetune_tasks.py), the backbone (a
pretrained checkpoint directory or model name - head parameters whose names match are loaded from its
``heads.safetensors`` - or a from-scratch architecture with a tokenizer trained on the task text), the data per
language, and the cross-lingual strategy; ``key=value`` arguments override it. Training is the one loop of
trainer/loop.py; a run whose ``output_dir`` holds a checkpoint continues from it exactly.

Strategies (paper 002): ``zero-shot`` (source data only), ``translate-train`` / ``to`` (translated,
pseudo-labelled target data only), ``bilingual`` (source + one target), ``mtl`` (source + every target),
``mtl-ws`` (MTL-WS warm-up on each target's translated data, trainer/mtl_ws.py, then zero-shot adaptation on
the source). Constraints (paper 003): ``none``, ``frozen`` (embeddings and the lowest layers frozen), ``mtf``
(memory losses added) and ``gem`` (task gradient projected so no memory loss rises), with MLM memories
(sentence files per language) and XSR memories (parallel files). Few-shot (paper 000 App. C):
``few_shot.size``/``few_shot.seed`` keep a keyed sample of the source examples; ``--few-shot-sweep`` runs every
size x seed of ``few_shot.sizes``/``few_shot.seeds`` for ``few_shot.steps`` steps and reports mean ± std.
FILTER (paper 004, ``model.filter.local_layers``/``fusion_layers``; ner/tagging and pair/classifier): every
translated training example is read together with the source example it translates (``model.filter.pair_by``),
and every evaluation example with its translation (``data.eval_translations``).

Evaluation: on ``data.eval`` at the end (``eval_report.json`` / ``.md`` in the output directory, the same
report as ``python -m trainer.evaluate``), every ``evaluation.every`` steps (task metrics, ``task_eval``
records in ``metrics.jsonl``), and the loss on the evaluation data every ``train.eval_every`` steps (the loop's
own evaluation).
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from torch import nn
from transformers import AutoModelForMaskedLM, AutoTokenizer
from transformers.utils import logging as transformers_logging

from schemas import DatasetError
from trainer.checkpoint import latest_complete_checkpoint
from trainer.config import ConfigError, dump_config, load_config, resolve_grad_accum
from trainer.distributed import DistributedContext, barrier, seed_everything, setup_distributed, teardown
from trainer.evaluate import encoder_without_pooler, load_matching_heads, make_report, write_report
from trainer.few_shot import sample_ids, summarize_runs
from trainer.finetune_config import FinetuneConfig
from trainer.finetune_tasks import TaskSpec, filter_training_items, pair_translations, task_spec_from_config
from trainer.loop import CHECKPOINTS, METRICS_FILE, Strategy, TrainResult, autocast_context, to_device, train
from trainer.pretrain import check_positions, encoder_source
from trainer.strategies import plan_data
from trainer.task_data import DataSource, ExampleBatches, endless, parse_sources, read_sentences_file
from trainer.tokenizer_training import train_wordpiece

logger = logging.getLogger("trainer.finetune")
TOKENIZER_DIR = "tokenizer"
FEW_SHOT_IDS = "few_shot_ids.json"


@dataclass
class FinetuneResult:
    train: TrainResult
    spec: TaskSpec
    report: dict | None = None  # the final evaluation (main rank)
    warmup: list[dict] = field(default_factory=list)  # MTL-WS warm-up records


# ---- data -------------------------------------------------------------------------------------------------

@dataclass
class TaskData:
    source: list  # labelled source-language examples (after few-shot sampling)
    translated: dict[str, list]  # target language -> translated labelled examples
    eval: list  # evaluation examples, every language
    eval_translations: dict[str, list] = field(default_factory=dict)  # FILTER: language -> translations


def _read_all(spec: TaskSpec, sources: list[DataSource]) -> list:
    examples = []
    for source in sources:
        read = spec.read(source)
        if not read:
            raise ValueError(f"{source.path}: no examples")
        examples += read
    return examples


def load_task_data(config: FinetuneConfig, spec: TaskSpec) -> TaskData:
    data = config.data
    source = _read_all(spec, parse_sources(data.train, data.limit, "data.train"))
    translated = {s.lang: spec.read(s) for s in parse_sources(data.translated, data.limit, "data.translated")}
    for lang, examples in translated.items():
        if not examples:
            raise ValueError(f"data.translated.{lang}: no examples")
    evaluation = _read_all(spec, parse_sources(data.eval, data.limit, "data.eval"))
    translations = {s.lang: spec.read(s) for s in parse_sources(data.eval_translations, data.limit,
                                                                "data.eval_translations")}
    if config.few_shot.size is not None:
        ids = [spec.example_id(e) for e in source]
        keep = set(sample_ids(ids, config.few_shot.size, config.few_shot.seed))
        source = [e for e in source if spec.example_id(e) in keep]  # the file's order: sampling is keyed
    return TaskData(source, translated, evaluation, translations)


def training_examples(config: FinetuneConfig, data: TaskData) -> tuple[list, dict[str, list]]:
    """The examples the loop trains on and the MTL-WS warm-up examples per language, by strategy
    (``trainer.strategies.plan_data``). Its weights are the datasets' sizes - every example weighted
    equally - which a plain concatenation of the datasets realises."""
    names = {"source": data.source, **{f"translated/{lang}": rows for lang, rows in data.translated.items()}}
    plan = plan_data(config.strategy.adaptation, "source",
                     {lang: f"translated/{lang}" for lang in data.translated}, config.strategy.target,
                     sizes={name: len(rows) for name, rows in names.items()})
    examples = [example for name, _ in plan.train for example in names[name]]
    warmup = {lang: names[name] for lang, name in plan.warmup.items()}
    return examples, warmup


# ---- tokenizer and model ----------------------------------------------------------------------------------

def load_tokenizer(config: FinetuneConfig, spec: TaskSpec, data: TaskData, ctx: DistributedContext,
                   resume: Path | None):
    """The checkpoint's tokenizer when resuming, a given one, or one trained on the task text (rank 0 trains
    and saves it under output_dir; every rank reads that copy)."""
    if resume is not None:
        return AutoTokenizer.from_pretrained(resume)
    if config.tokenizer.path is not None:
        return AutoTokenizer.from_pretrained(config.tokenizer.path)
    if config.tokenizer.train_vocab_size is not None:
        directory = Path(config.output_dir) / TOKENIZER_DIR
        if ctx.is_main and not (directory / "tokenizer.json").is_file():
            examples = data.source + [e for rows in data.translated.values() for e in rows]
            if config.tokenizer.include_eval_text:
                examples += data.eval
            texts = [text for example in examples for text in spec.texts(example)]
            tokenizer = train_wordpiece(texts[:config.tokenizer.train_max_rows], config.tokenizer.train_vocab_size,
                                        lowercase=config.tokenizer.lowercase)
            tokenizer.save_pretrained(directory)
        barrier()
        return AutoTokenizer.from_pretrained(directory)
    return AutoTokenizer.from_pretrained(config.model.name_or_path)


def build_encoder(config: FinetuneConfig, tokenizer, with_mlm_head: bool):
    """``(encoder, masked_lm)``: the backbone without pooler, and - for MLM memories - the masked LM whose base
    model it is (its head scores the memories; a checkpoint without an MLM head gets a fresh one)."""
    source = encoder_source(config, tokenizer)
    if with_mlm_head:
        masked_lm = AutoModelForMaskedLM.from_config(source) if not isinstance(source, str) else \
            AutoModelForMaskedLM.from_pretrained(source)
        if masked_lm.get_input_embeddings().num_embeddings < len(tokenizer):
            masked_lm.resize_token_embeddings(len(tokenizer))
        return masked_lm.base_model, masked_lm
    if isinstance(source, str):
        encoder = encoder_without_pooler(source)
    else:
        from transformers import AutoModel
        try:
            encoder = AutoModel.from_config(source, add_pooling_layer=False)
        except TypeError:
            encoder = AutoModel.from_config(source)
    if encoder.get_input_embeddings().num_embeddings < len(tokenizer):
        encoder.resize_token_embeddings(len(tokenizer))
    return encoder, None


def build_memories(config: FinetuneConfig, tokenizer, masked_lm) -> list:
    """Paper 003's episodic memories: one MLM memory per language, one XSR memory per parallel pair of files."""
    from trainer.gem import MLMMemory, XSRMemory
    from trainer.mlm_probe import MaskedLanguageModel
    from trainer.retrieval import read_parallel

    options = config.strategy.memories
    memories = []
    for lang, path in options.mlm.items():
        sentences = read_sentences_file(path, options.size)
        memories.append(MLMMemory.from_sentences(
            MaskedLanguageModel.from_masked_lm(masked_lm), tokenizer,
            [(f"{lang}-{n}", text) for n, text in enumerate(sentences)], name=f"mlm_{lang}",
            seed=config.train.seed, batch_size=options.batch_size, max_length=options.max_length))
    for name, (source_file, target_file) in options.xsr.items():
        pairs = read_parallel(source_file, target_file, limit=options.size)
        memories.append(XSRMemory.from_pairs(tokenizer, pairs, name=f"xsr_{name}", batch_size=options.batch_size,
                                             max_length=options.max_length, temperature=options.temperature))
    return memories


def build_constraint(config: FinetuneConfig, model: nn.Module, tokenizer, masked_lm,
                     ctx: DistributedContext) -> Strategy:
    """The loop strategy of ``strategy.constraint`` (trainer/gem.py); ``frozen`` freezes layers here."""
    from trainer.gem import build_strategy, freeze_lower_layers

    constraint = config.strategy.constraint
    if constraint == "none":
        return Strategy()
    if constraint == "frozen":
        frozen = freeze_lower_layers(model, config.strategy.frozen_layers)
        logger.info("frozen: embeddings and %d layers (%d tensors)", config.strategy.frozen_layers, len(frozen))
        return build_strategy("frozen")
    memories = build_memories(config, tokenizer, masked_lm)

    def autocast():
        return autocast_context(config.train.precision, ctx.device)

    if constraint == "gem":
        return build_strategy("gem", memories, margin=config.strategy.gem_margin, autocast=autocast)
    return build_strategy("mtf", memories, weights=config.strategy.mtf_weights, autocast=autocast)


# ---- evaluation during training --------------------------------------------------------------------------

class PeriodicEvaluation(Strategy):
    """Wraps the run's strategy; every ``every`` steps (not the last: the final evaluation follows) scores the
    task on the evaluation data and appends a ``task_eval`` record to ``metrics.jsonl``."""

    def __init__(self, inner: Strategy, every: int, evaluate: Callable[[nn.Module], dict], log_path: Path,
                 total_steps: int, enabled: bool):
        self.inner, self.every, self.evaluate = inner, every, evaluate
        self.log_path, self.total_steps, self.enabled = log_path, total_steps, enabled

    def loss(self, model, batch):
        return self.inner.loss(model, batch)

    def before_optimizer_step(self, module, optimizer, step):
        return self.inner.before_optimizer_step(module, optimizer, step)

    def after_optimizer_step(self, module, optimizer, step):
        self.inner.after_optimizer_step(module, optimizer, step)
        if self.enabled and step % self.every == 0 and step < self.total_steps:
            append_record(self.log_path, {"split": "task_eval", "step": step, **self.evaluate(module)})

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


def append_record(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def _flat_scores(report: dict) -> dict:
    """Per-language and average metrics as flat keys (``de_f1``, ``avg_f1``) for a metrics record."""
    flat = {f"{lang}_{metric}": value for lang, scores in report["languages"].items()
            for metric, value in scores.items()}
    flat.update({f"avg_{metric}": value for metric, value in report["average"].items()})
    return flat


# ---- the run ----------------------------------------------------------------------------------------------

def run(config: FinetuneConfig) -> FinetuneResult:
    ctx = setup_distributed()
    try:
        return _run(config, ctx)
    finally:
        teardown()


def _run(config: FinetuneConfig, ctx: DistributedContext) -> FinetuneResult:
    output_dir = Path(config.output_dir)
    resume = latest_complete_checkpoint(output_dir / CHECKPOINTS) if config.train.resume else None
    if resume is None and not config.train.resume and latest_complete_checkpoint(output_dir / CHECKPOINTS):
        raise ConfigError(f"{output_dir} already holds checkpoints and train.resume is false: choose another "
                          "output_dir or resume")
    spec = task_spec_from_config(config)
    data = load_task_data(config, spec)
    examples, warmup_examples = training_examples(config, data)
    tokenizer = load_tokenizer(config, spec, data, ctx, resume)
    spec = task_spec_from_config(config, tokenizer)  # the separator layout follows the tokenizer
    spec.prepare_tokenizer(tokenizer)
    labelled = data.source + [e for rows in data.translated.values() for e in rows] if spec.filter else \
        examples + [e for rows in warmup_examples.values() for e in rows]
    spec.fit_labels(labelled, config.task.entity_types)
    seed_everything(config.train.seed)  # the same initial parameters on every rank
    with_mlm = config.strategy.constraint in ("mtf", "gem") and bool(config.strategy.memories.mlm)
    encoder, masked_lm = build_encoder(config, tokenizer, with_mlm)
    model = spec.build_model(encoder)
    if config.model.name_or_path is not None and config.model.load_heads and resume is None:
        loaded, ignored = load_matching_heads(model, config.model.name_or_path)
        if loaded or ignored:
            logger.info("head parameters from %s: loaded %s; not used %s", config.model.name_or_path,
                        loaded or "none", ignored or "none")
    check_positions(model.encoder.config, spec.max_input_length())
    strategy = build_constraint(config, model, tokenizer, masked_lm, ctx)
    seed_everything(config.train.seed + ctx.rank)  # dropout masks differ between ranks

    items, collate = training_items(config, spec, tokenizer, data, examples)
    batches = ExampleBatches(items, config.data.batch_size, collate, seed=config.train.seed, rank=ctx.rank,
                             world_size=ctx.world_size)
    grad_accum = resolve_grad_accum(config.train, config.data.batch_size, ctx.world_size)
    run_info = {"config": config.to_dict(), "task": spec.to_dict()}
    if ctx.is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "config.yaml").write_text(dump_config(config), encoding="utf-8")
        (output_dir / "task.json").write_text(json.dumps(spec.to_dict(), indent=1) + "\n", encoding="utf-8")
        if config.few_shot.size is not None:
            (output_dir / FEW_SHOT_IDS).write_text(json.dumps(
                {"size": config.few_shot.size, "seed": config.few_shot.seed,
                 "ids": [spec.example_id(e) for e in data.source]}, indent=1) + "\n", encoding="utf-8")
        logger.info("task %s/%s, strategy %s, constraint %s: %d training examples -> %d items, %d per epoch "
                    "batches, %.1fM parameters, %s", spec.name, spec.head, config.strategy.name,
                    config.strategy.constraint, len(examples), len(items), len(batches),
                    sum(p.numel() for p in model.parameters()) / 1e6, ctx.device)

    warmup_records = []
    if warmup_examples and resume is None:
        warmup_records = mtl_ws_warmup(config, spec, model, tokenizer, warmup_examples, ctx)

    eval_batches = None
    if data.eval and config.train.eval_every:
        eval_items, eval_collate = evaluation_items(config, spec, tokenizer, data)

        def evaluation_batches():
            return ExampleBatches(eval_items, config.data.eval_batch_size, eval_collate, shuffle=False,
                                  rank=ctx.rank, world_size=ctx.world_size)

        eval_batches = evaluation_batches

    if data.eval and config.evaluation.every:
        limited = _limit_per_language(spec, data.eval, config.evaluation.max_examples)

        def evaluate_now(module: nn.Module) -> dict:
            report = make_report(spec, spec.evaluate(module, tokenizer, limited, config.data.eval_batch_size,
                                                     data.eval_translations))
            return _flat_scores(report)

        strategy = PeriodicEvaluation(strategy, config.evaluation.every, evaluate_now, output_dir / METRICS_FILE,
                                      config.train.total_steps, ctx.is_main)

    result = train(model, batches, config.train, output_dir, ctx=ctx, tokenizer=tokenizer,
                   eval_batches=eval_batches, strategy=strategy, grad_accum=grad_accum, resume_from=resume,
                   run_info=run_info)
    report = None
    if ctx.is_main and data.eval and config.evaluation.final:
        per_language = spec.evaluate(model, tokenizer, data.eval, config.data.eval_batch_size,
                                     data.eval_translations)
        report = make_report(spec, per_language, step=result.step, model=str(result.checkpoint or ""),
                             strategy=config.strategy.name, constraint=config.strategy.constraint,
                             few_shot=dataclasses.asdict(config.few_shot) if config.few_shot.size else None)
        write_report(report, output_dir)
        append_record(output_dir / METRICS_FILE, {"split": "task_eval", "step": result.step, **_flat_scores(report)})
    return FinetuneResult(result, spec, report, warmup_records)


def training_items(config: FinetuneConfig, spec: TaskSpec, tokenizer, data: TaskData, examples: list):
    """The batch stream's items and collate function; FILTER trains on (translated example, its source) pairs
    of the target languages (the one of translate-train, or every one)."""
    if not spec.filter:
        return spec.training_items(tokenizer, examples)
    languages = [config.strategy.target] if config.strategy.adaptation == "to" else sorted(data.translated)
    pairs = [pair for lang in languages for pair in pair_translations(
        data.translated[lang], data.source, spec.filter["pair_by"], f"data.translated.{lang}")]
    return filter_training_items(spec, tokenizer, pairs, config.model.filter.target_labels)


def evaluation_items(config: FinetuneConfig, spec: TaskSpec, tokenizer, data: TaskData):
    """Items and collate function of the loop's evaluation loss (``train.eval_every``)."""
    if not spec.filter:
        return spec.training_items(tokenizer, data.eval)
    pairs = []
    for lang in dict.fromkeys(example["lang"] for example in data.eval):
        pairs += pair_translations([e for e in data.eval if e["lang"] == lang], data.eval_translations[lang],
                                   spec.filter["pair_by"], f"data.eval.{lang}")
    return filter_training_items(spec, tokenizer, pairs)


def _limit_per_language(spec: TaskSpec, examples: list, limit: int | None) -> list:
    if limit is None:
        return examples
    seen: dict[str, int] = {}
    kept = []
    for example in examples:
        lang = getattr(example, "lang", None) or example["lang"]
        if seen.get(lang, 0) < limit:
            kept.append(example)
            seen[lang] = seen.get(lang, 0) + 1
    return kept


def mtl_ws_warmup(config: FinetuneConfig, spec: TaskSpec, model: nn.Module, tokenizer,
                  warmup_examples: dict[str, list], ctx: DistributedContext) -> list[dict]:
    """MTL-WS's Z warm-up iterations (paper 002 eq. 7-8) on each target's translated data, in place, before the
    loop adapts the model zero-shot on the source data (eq. 9). Every rank runs the same warm-up (the same
    batches, seeded by (seed, language)); DDP then starts from rank 0's parameters."""
    from trainer.mtl_ws import MTLWarmStart, MTLWSConfig

    options = config.strategy.mtl_ws
    streams = {}
    for n, (lang, rows) in enumerate(sorted(warmup_examples.items())):
        items, collate = spec.training_items(tokenizer, rows)
        streams[lang] = endless(ExampleBatches(items, config.data.batch_size, collate,
                                               seed=config.train.seed + 1000 * (n + 1)))
    model.to(ctx.device)
    warm = MTLWarmStart(model, streams, MTLWSConfig(options.iterations, options.inner_steps, options.step_size,
                                                    options.inner_lr),
                        move_batch=lambda batch: to_device(batch, ctx.device))
    log_path = Path(config.output_dir) / METRICS_FILE

    def record(entry: dict) -> None:
        flat = {"split": "warmup", "step": 0, "iteration": entry["iteration"], "update_norm": entry["update_norm"],
                **{f"loss_{lang}": value for lang, value in entry["inner_loss"].items()}}
        if ctx.is_main:
            append_record(log_path, flat)
            logger.info("MTL-WS warm-up iteration %d/%d: %s", entry["iteration"], options.iterations,
                        ", ".join(f"{k} {v:.4g}" for k, v in flat.items() if k.startswith("loss_")))

    return warm.run(on_iteration=record)


# ---- few-shot sweep ---------------------------------------------------------------------------------------

def few_shot_sweep(config: FinetuneConfig) -> dict:
    """Every (size, seed) of the few-shot grid as its own run under ``<output_dir>/few-shot/size-N/seed-S``, each
    ``few_shot.steps`` steps; returns (and writes as ``few_shot_summary.json``/``.md``) mean ± std per size of
    every average metric."""
    runs = []
    output_dir = Path(config.output_dir)
    for size in config.few_shot.sizes:
        for seed in config.few_shot.seeds:
            one = copy.deepcopy(config)
            one.output_dir = str(output_dir / "few-shot" / f"size-{size}" / f"seed-{seed}")
            one.few_shot.size, one.few_shot.seed = size, seed
            one.train.total_steps = config.few_shot.steps
            one.train.warmup_steps = min(one.train.warmup_steps, one.train.total_steps)
            one.evaluation.final = True
            one.check()  # e.g. FILTER does not combine with few-shot samples
            result = run(one)
            if result.report is None:
                raise ConfigError("a few-shot sweep needs data.eval to score its runs")
            runs.append({"size": size, "seed": seed, "metrics": dict(result.report["average"])})
            logger.info("few-shot size %d seed %d: %s", size, seed, result.report["average"])
    summary = {"runs": runs, "summary": {str(k): v for k, v in summarize_runs(runs).items()},
               "steps": config.few_shot.steps}
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "few_shot_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (output_dir / "few_shot_summary.md").write_text(few_shot_markdown(summary), encoding="utf-8")
    return summary


def few_shot_markdown(summary: dict, digits: int = 1) -> str:
    sizes = list(summary["summary"])
    metrics = list(next(iter(summary["summary"].values()))) if sizes else []
    lines = ["| size | " + " | ".join(f"{m} (mean ± std)" for m in metrics) + " | runs |",
             "|---|" + "---|" * (len(metrics) + 1)]
    for size in sizes:
        cells = [f"{summary['summary'][size][m]['mean']:.{digits}f} ± {summary['summary'][size][m]['std']:.{digits}f}"
                 for m in metrics]
        runs = summary["summary"][size][metrics[0]]["runs"] if metrics else 0
        lines.append(f"| {size} | " + " | ".join(cells) + f" | {runs} |")
    return "\n".join(lines) + "\n"


# ---- command line -----------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.finetune", description=__doc__.split("\n\n")[0],
        epilog="Overrides: dotted keys of the config, e.g. train.lr=3e-5 strategy.name=mtl "
               "few_shot.size=256 data.eval.de=../shared/data/qa/xquad/xquad.de.json. Example: "
               "python -m trainer.finetune --config configs/demo_tiny_finetune_qa.yaml")
    parser.add_argument("--config", required=True, help="YAML config file (see configs/finetune_*.yaml)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--few-shot-sweep", action="store_true",
                        help="run every few_shot.sizes x few_shot.seeds for few_shot.steps steps; report mean ± std")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    transformers_logging.disable_progress_bar()
    try:
        config = load_config(args.config, args.overrides, cls=FinetuneConfig)
        if args.print_config:
            print(dump_config(config), end="")
            return 0
        if args.few_shot_sweep:
            summary = few_shot_sweep(config)
            if int(os.environ.get("RANK", 0)) == 0:
                print(few_shot_markdown(summary), end="")
            return 0
        result = run(config)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ConfigError, DatasetError, FileNotFoundError, OSError, ValueError, KeyError) as err:
        message = " ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__
        print(f"error: {message}", file=sys.stderr)
        logger.debug("full error", exc_info=True)
        return 1
    if int(os.environ.get("RANK", 0)) != 0:
        return 0
    train_records = [r for r in result.train.records if r["split"] == "train"]
    if train_records:
        print(f"trained to step {result.train.step}; loss {train_records[-1]['loss']:.4f}; "
              f"checkpoint {result.train.checkpoint}")
    else:
        print(f"nothing to train: {result.train.resumed_from} is step {result.train.step} of "
              f"{config.train.total_steps}")
    if result.report is not None:
        from trainer.metrics import report_markdown
        print(report_markdown(result.report), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
