"""Fine-tune an encoder on a downstream task: ``python -m trainer.finetune --config FILE [key=value ...]``.

On a cluster the same command runs under ``torchrun``. The config (trainer/finetune_config.py) names the task
and head (trainer/tasks/registry.py), the backbone (a pretrained checkpoint directory or model name - head
parameters whose names match are loaded from its ``heads.safetensors`` - or a from-scratch architecture with a
tokenizer trained on the task text), the data per language, the adaptation (which data, paper 002:
trainer/adaptation/mixing.py) and the constraint (how forgetting is held back, paper 003:
trainer/adaptation/constraints.py); ``key=value`` arguments override it. Training is the one loop of
trainer/loop/train.py; a run whose ``output_dir`` holds a checkpoint continues from it exactly.

What a run adds around the loop, each from the room that owns it: MTL-WS's warm start, Z iterations as steps
of the same loop before the zero-shot adaptation (trainer/adaptation/warm_start.py); FILTER's two streams (trainer/tasks/paired.py); self-teaching, writing a
teacher's soft labels after the last step or learning from them (trainer/adaptation/self_teaching.py);
retention probes before the first and after the last step (trainer/adaptation/retention.py); task metrics
on the dev data every ``evaluation.every`` steps with model selection by ``evaluation.select``
(trainer/loop/hooks.py); and the final per-language report (trainer/tasks/report.py), the same as
``python -m trainer.evaluate`` gives (with ``evaluation.predictions``, also every dev example's prediction, from
the same pass, in ``predictions.jsonl``). Few-shot (paper 000 App. C): ``few_shot.size``/``few_shot.seed`` keep a
keyed sample of the source examples; ``--few-shot-sweep`` runs every size x seed of ``few_shot.sizes`` /
``few_shot.seeds`` for ``few_shot.steps`` steps and reports mean ± std.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from schemas.errors import InputDataError
from trainer.cli import command_config, config_parser, is_main_process, run_command, training_summary
from trainer.config import ConfigError, dump_config, resolve_grad_accum
from trainer.data.few_shot import sample_ids, summarize_runs
from trainer.data.readers import parse_sources
from trainer.tasks.metrics import report_markdown
from trainer.tasks.registry import build_task
from trainer.tasks.settings import TaskSettings

# What imports torch or transformers (the config too) is imported where it runs: --help answers without them.
if TYPE_CHECKING:
    from trainer.finetune_config import FinetuneConfig
    from trainer.loop.distributed import DistributedContext
    from trainer.loop.hooks import PeriodicEvaluation
    from trainer.loop.train import TrainResult
    from trainer.tasks.base import Task

logger = logging.getLogger("trainer.finetune")
FEW_SHOT_IDS = "few_shot_ids.json"
PREDICTIONS_FILE = "predictions.jsonl"  # evaluation.predictions: the final evaluation's rows


@dataclass
class FinetuneResult:
    train: TrainResult
    task: Task
    report: dict | None = None  # the final evaluation (main rank)
    retention: dict | None = None  # probes before/after fine-tuning (main rank; paper 003 Table 1)
    soft_labels: Path | None = None  # the teacher predictions written (self_teaching.write)
    warmup: list[dict] = field(default_factory=list)  # MTL-WS warm-up records (this process's)
    selected_step: int | None = None  # the step evaluation.select kept


# ---- data -------------------------------------------------------------------------------------------------

@dataclass
class TaskData:
    source: list  # labelled source-language examples (after few-shot sampling)
    translated: dict[str, list]  # target language -> translated labelled examples
    eval: list  # evaluation examples, every language
    eval_translations: dict[str, list] = field(default_factory=dict)  # FILTER: language -> translations

    def labelled(self) -> list:
        return self.source + [e for rows in self.translated.values() for e in rows]


def load_task_data(config: FinetuneConfig, task: Task) -> TaskData:
    data = config.data

    def read(entries: dict, where: str, every_one: bool) -> dict[str, list]:
        read_in = {}
        for source in parse_sources(entries, data.limit, where):
            read_in[source.lang] = read_in.get(source.lang, []) + task.read(source)
            if every_one and not read_in[source.lang]:
                raise InputDataError(f"{where}.{source.lang}: no examples ({source.path})")
        return read_in

    source = [e for rows in read(data.train, "data.train", True).values() for e in rows]
    translated = read(data.translated, "data.translated", True)
    evaluation = [e for rows in read(data.eval, "data.eval", True).values() for e in rows]
    translations = read(data.eval_translations, "data.eval_translations", False)
    if config.few_shot.size is not None:
        keep = set(sample_ids([task.example_id(e) for e in source], config.few_shot.size, config.few_shot.seed))
        source = [e for e in source if task.example_id(e) in keep]  # the file's order: sampling is keyed
    return TaskData(source, translated, evaluation, translations)


def training_examples(config: FinetuneConfig, data: TaskData) -> tuple[list, dict[str, list]]:
    """The examples the loop trains on and the MTL-WS warm-up examples per language, by adaptation
    (``plan_data``). Its weights are the datasets' sizes - every example weighted equally - which a plain
    concatenation of the datasets realises."""
    from trainer.adaptation.mixing import plan_data

    names = {"source": data.source, **{f"translated/{lang}": rows for lang, rows in data.translated.items()}}
    plan = plan_data(config.adaptation.plan_name, "source", {lang: f"translated/{lang}" for lang in data.translated},
                     config.adaptation.target, sizes={name: len(rows) for name, rows in names.items()})
    examples = [example for name, _ in plan.train for example in names[name]]
    return examples, {lang: names[name] for lang, name in plan.warmup.items()}


def task_settings(config: FinetuneConfig, tokenizer=None) -> TaskSettings:
    """The task's settings from the config (labels are fixed later from the training data)."""
    task, data, fil = config.task, config.data, config.model.filter
    double = task.double_separator
    if double is None:  # the separator layout follows the tokenizer: XLM-R takes no token type ids
        double = tokenizer is not None and "token_type_ids" not in tokenizer.model_input_names
    return TaskSettings(
        name=task.name, head=task.head, source_lang=data.source_lang, scheme=task.scheme, pair_task=task.pair_task,
        max_length=data.max_length, doc_stride=data.doc_stride, max_query_length=data.max_query_length,
        double_separator=double, max_answer_length=task.max_answer_length, n_best=task.n_best,
        max_span_length=task.max_span_length, mrc_threshold=task.mrc_threshold,
        constrained_decoding=task.constrained_decoding, que_token=task.que_token,
        filter=None if fil.local_layers is None else {"local_layers": fil.local_layers,
                                                      "fusion_layers": fil.fusion_layers, "pair_by": fil.pair_by})


def batch_items(config: FinetuneConfig, task: Task, tokenizer, data: TaskData, examples: list):
    """The training stream's items and collate function; FILTER trains on (translated example, its source)
    pairs of the target languages (the one of translate-train, or every one)."""
    from trainer.tasks.paired import paired_items, training_pairs

    if not task.settings.filter:
        return task.training_items(tokenizer, examples)
    languages = [config.adaptation.target] if config.adaptation.plan_name == "to" else sorted(data.translated)
    return paired_items(task, tokenizer, training_pairs(task, data.translated, data.source, languages),
                        config.model.filter.target_labels)


def eval_items(task: Task, tokenizer, data: TaskData):
    """Items and collate function of the loop's evaluation loss (``train.eval_every``)."""
    from trainer.tasks.paired import evaluation_pairs, paired_items

    if not task.settings.filter:
        return task.training_items(tokenizer, data.eval)
    return paired_items(task, tokenizer, evaluation_pairs(task, data.eval, data.eval_translations))


def per_language_sample(task: Task, examples: list, limit: int | None) -> list:
    """The first ``limit`` examples of each language (periodic evaluation during training)."""
    if limit is None:
        return examples
    return [e for rows in task.by_language(examples).values() for e in rows[:limit]]


# ---- the run ----------------------------------------------------------------------------------------------

def run(config: FinetuneConfig) -> FinetuneResult:
    from trainer.loop.distributed import distributed_run

    with distributed_run() as ctx:
        return _run(config, ctx)


def _run(config: FinetuneConfig, ctx: DistributedContext) -> FinetuneResult:
    from trainer.adaptation.constraints import build_constraint
    from trainer.adaptation.retention import RETENTION_FILE, retention_probes
    from trainer.adaptation.self_teaching import (SelfTeachingHook, TeacherCollate, load_teacher,
                                                  self_teaching_weights, write_soft_labels)
    from trainer.adaptation.warm_start import WARM_START_DIR, warm_start
    from trainer.data.batches import ExampleBatches
    from trainer.data.tokenizer_training import train_wordpiece
    from trainer.loop.checkpoint import (latest_complete_checkpoint, load_matching_heads, load_module_weights,
                                         resume_point)
    from trainer.loop.distributed import seed_everything
    from trainer.loop.hooks import BEST_DIR
    from trainer.loop.resume import check_resumed_config
    from trainer.loop.threads import apply_threads
    from trainer.loop.train import CHECKPOINTS, METRICS_FILE, append_record, autocast_context, train
    from trainer.models.backbone import build_encoder, check_positions, encoder_source, load_tokenizer
    from trainer.tasks.paired import build_model
    from trainer.tasks.report import flat_scores, write_report

    output_dir = Path(config.output_dir)
    apply_threads(config.runtime.threads, log=ctx.is_main)
    resume = resume_point(output_dir / CHECKPOINTS, config.train.resume)
    # Before anything is written; a run killed in MTL-WS's warm start resumes from the warm start's checkpoints.
    warm = latest_complete_checkpoint(output_dir / WARM_START_DIR / CHECKPOINTS) if config.train.resume else None
    check_resumed_config(resume or warm, config)
    task = build_task(task_settings(config))
    data = load_task_data(config, task)
    examples, warmup_examples = training_examples(config, data)

    def train_tokenizer():
        texts = data.labelled() + (data.eval if config.tokenizer.include_eval_text else [])
        texts = [text for example in texts for text in task.texts(example)]
        return train_wordpiece(texts[:config.tokenizer.train_max_rows], config.tokenizer.train_vocab_size,
                               lowercase=config.tokenizer.lowercase)

    tokenizer = load_tokenizer(config.tokenizer, config.model, output_dir, resume, ctx.is_main, train_tokenizer)
    task = build_task(task_settings(config, tokenizer))
    task.prepare_tokenizer(tokenizer)
    task.fit_labels(data.labelled() if task.settings.filter else
                    examples + [e for rows in warmup_examples.values() for e in rows], config.task.entity_types)
    teaching = config.self_teaching
    teacher = load_teacher(teaching, task, tokenizer, data.translated) if teaching.teacher else None
    weights = self_teaching_weights(teaching, task) if teacher is not None else None

    seed_everything(config.train.seed)  # the same initial parameters on every rank
    encoder, masked_lm = build_encoder(config.model, tokenizer,
                                       with_mlm_head=config.constraint.needs_memories and
                                       bool(config.constraint.memories.mlm))
    # With a teacher, a FILTER model's own forward adds the KL term (eq. 6).
    model = build_model(task, encoder, *(weights or (None, None)), temperature=teaching.temperature)
    if config.model.name_or_path is not None and config.model.load_heads and resume is None:
        loaded, ignored = load_matching_heads(model, config.model.name_or_path)
        if loaded or ignored:
            logger.info("head parameters from %s: loaded %s; not used %s", config.model.name_or_path,
                        loaded or "none", ignored or "none")
    check_positions(model.encoder.config, task.max_input_length())
    rule = build_constraint(config.constraint, model, tokenizer, masked_lm, config.train.seed,
                            autocast=lambda: autocast_context(config.train.precision, ctx.device))
    probes, retention_before = None, None
    if ctx.is_main:
        probes = retention_probes(config.probes, config.constraint.memories, config.train.seed,
                                  encoder_source(config.model, tokenizer), model, tokenizer, masked_lm)
        if probes is not None:
            retention_before = probes.before(model, ctx.device, output_dir, resume)
    seed_everything(config.train.seed + ctx.rank)  # dropout masks differ between ranks

    items, collate = batch_items(config, task, tokenizer, data, examples)
    hooks = []
    if teacher is not None:
        item_id = (lambda pair: task.example_id(pair[0])) if task.settings.filter else task.example_id
        collate = TeacherCollate(collate, teacher, item_id)
        if not task.settings.filter:
            hooks.append(SelfTeachingHook(*weights, teaching.temperature))
    batches = ExampleBatches(items, config.data.batch_size, collate, seed=config.train.seed, rank=ctx.rank,
                             world_size=ctx.world_size)
    run_info = {"config": config.to_dict(), "task": task.to_dict()}
    if ctx.is_main:
        write_run_files(config, task, data, output_dir)
        logger.info("task %s/%s, adaptation %s, constraint %s: %d training examples -> %d items, %d batches per "
                    "epoch, %.1fM parameters, %s", task.name, task.head, config.adaptation.name,
                    config.constraint.name, len(examples), len(items), len(batches),
                    sum(p.numel() for p in model.parameters()) / 1e6, ctx.device)

    warmup_records = []
    if warmup_examples and resume is None:  # a main checkpoint already holds the warmed-up model
        warmup_records = warm_start(task, model, tokenizer, warmup_examples, config.adaptation.mtl_ws, config.train,
                                    output_dir, batch_size=config.data.batch_size, ctx=ctx, run_info=run_info).records
        seed_everything(config.train.seed + ctx.rank)  # the main phase's dropout as without a warm start

    loss_batches = None
    if data.eval and config.train.eval_every:
        loss_items, loss_collate = eval_items(task, tokenizer, data)
        loss_batches = functools.partial(ExampleBatches, loss_items, config.data.eval_batch_size, loss_collate,
                                         shuffle=False, rank=ctx.rank, world_size=ctx.world_size)

    selection = None
    if data.eval and config.evaluation.every:
        selection = periodic_evaluation(config, task, tokenizer, data, ctx, run_info)
        hooks.append(selection)

    result = train(model, batches, config.train, output_dir, ctx=ctx, tokenizer=tokenizer,
                   eval_batches=loss_batches, rule=rule, hooks=hooks, grad_accum=resolve_grad_accum(
                       config.train, config.data.batch_size, ctx.world_size), resume_from=resume, run_info=run_info)
    report = retention = soft_labels = selected = None
    if ctx.is_main and selection is not None and selection.select is not None and selection.best_step is not None:
        selected = selection.best_step
        load_module_weights(output_dir / BEST_DIR, model)  # what follows reads the selected model
        logger.info("model selection: step %d (%s %.4g)", selected, selection.select, selection.best_value)
    if ctx.is_main and probes is not None:
        retention = probes.table(retention_before, probes.measure(model, ctx.device), selected or result.step)
        (output_dir / RETENTION_FILE).write_text(json.dumps(retention, indent=1) + "\n", encoding="utf-8")
    if ctx.is_main and teaching.write:
        soft_labels = write_soft_labels(teaching, task, model, tokenizer, data.translated, data.source,
                                        output_dir=config.output_dir, step=selected or result.step,
                                        batch_size=config.data.eval_batch_size, precision=config.train.precision,
                                        device=ctx.device)
        logger.info("teacher predictions on the translated training text: %s", soft_labels)
    if ctx.is_main and data.eval and config.evaluation.final:
        started = time.perf_counter()
        report = final_report(config, task, model, tokenizer, data, result, selected, retention, weights)
        write_report(report, output_dir)
        append_record(output_dir / METRICS_FILE, {"split": "task_eval", "step": result.step, **flat_scores(report),
                                                  "eval_seconds": round(time.perf_counter() - started, 3)})
    return FinetuneResult(result, task, report, retention=retention, soft_labels=soft_labels, warmup=warmup_records,
                          selected_step=selected)


def write_run_files(config: FinetuneConfig, task: Task, data: TaskData, output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    (output_dir / "task.json").write_text(json.dumps(task.to_dict(), indent=1) + "\n", encoding="utf-8")
    if config.few_shot.size is not None:
        (output_dir / FEW_SHOT_IDS).write_text(json.dumps(
            {"size": config.few_shot.size, "seed": config.few_shot.seed,
             "ids": [task.example_id(e) for e in data.source]}, indent=1) + "\n", encoding="utf-8")


def periodic_evaluation(config: FinetuneConfig, task: Task, tokenizer, data: TaskData, ctx: DistributedContext,
                        run_info: dict) -> PeriodicEvaluation:
    """The hook that scores the task on (a per-language sample of) the dev data every ``evaluation.every`` steps
    and, with ``evaluation.select``, keeps the best step's weights."""
    from trainer.loop.checkpoint import save_weights
    from trainer.loop.hooks import PeriodicEvaluation
    from trainer.tasks.paired import evaluate_task
    from trainer.tasks.report import flat_scores, make_report

    sample = per_language_sample(task, data.eval, config.evaluation.max_examples)
    select = config.evaluation.select
    if select == "primary":
        select = f"avg_{task.primary_metric}"

    def evaluate_now(module) -> dict:
        scores = evaluate_task(task, module, tokenizer, sample, config.data.eval_batch_size, data.eval_translations)
        return flat_scores(make_report(task, scores))

    def save(module, directory: Path, step: int) -> None:
        save_weights(directory, module, tokenizer, {"step": step, "run": run_info})

    return PeriodicEvaluation(config.evaluation.every, evaluate_now, enabled=ctx.is_main, select=select,
                              output_dir=config.output_dir, save=save)


def final_report(config: FinetuneConfig, task: Task, model, tokenizer, data: TaskData, result: TrainResult,
                 selected: int | None, retention: dict | None, weights: tuple[float, float] | None) -> dict:
    """The report of the final model (the selected one with ``evaluation.select``) on all of ``data.eval``."""
    from trainer.loop.hooks import BEST_DIR
    from trainer.tasks.paired import evaluate_task
    from trainer.tasks.report import json_lines, make_report

    if config.evaluation.predictions:  # not FILTER (FinetuneConfig.check)
        per_language, rows = task.evaluate_with_predictions(model, tokenizer, data.eval, config.data.eval_batch_size)
        (Path(config.output_dir) / PREDICTIONS_FILE).write_text(json_lines(rows), encoding="utf-8")
    else:
        per_language = evaluate_task(task, model, tokenizer, data.eval, config.data.eval_batch_size,
                                     data.eval_translations)
    checkpoint = Path(config.output_dir) / BEST_DIR if selected is not None else result.checkpoint
    report = make_report(task, per_language, step=selected or result.step, model=str(checkpoint or ""),
                         adaptation=config.adaptation.name, constraint=config.constraint.name,
                         few_shot=dataclasses.asdict(config.few_shot) if config.few_shot.size else None)
    if selected is not None:
        report["selection"] = {"metric": config.evaluation.select, "step": selected, "last_step": result.step}
    if retention is not None:
        report["retention"] = retention
    if weights is not None:
        report["self_teaching"] = {"teacher": config.self_teaching.teacher, "kl_weight": weights[0],
                                   "label_weight": weights[1], "temperature": config.self_teaching.temperature}
    return report


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
    parser = config_parser(
        "python -m trainer.finetune", __doc__, "YAML config file (see configs/finetune_*.yaml)",
        "Overrides: dotted keys of the config, e.g. train.lr=3e-5 adaptation.name=mtl "
        "constraint.name=gem few_shot.size=256 evaluation.every=100 evaluation.select=primary "
        "data.eval.de=../shared/data/qa/xquad/xquad.de.json. Example: "
        "python -m trainer.finetune --config configs/demo_tiny_finetune_qa.yaml")
    parser.add_argument("--few-shot-sweep", action="store_true",
                        help="run every few_shot.sizes x few_shot.seeds for few_shot.steps steps; report mean ± std")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: _command(args), logger)


def _command(args: argparse.Namespace) -> int:
    from trainer.finetune_config import FinetuneConfig
    from trainer.loop.hooks import BEST_DIR
    from trainer.tasks.report import retention_markdown

    config = command_config(args, FinetuneConfig)
    if config is None:
        return 0
    if args.few_shot_sweep:
        summary = few_shot_sweep(config)
        if is_main_process():
            print(few_shot_markdown(summary), end="")
        return 0
    result = run(config)
    if not is_main_process():  # one summary per run
        return 0
    print(training_summary(result.train, config.train.total_steps))
    if result.selected_step is not None:
        print(f"model selection ({config.evaluation.select}): step {result.selected_step}, "
              f"in {Path(config.output_dir) / BEST_DIR}")
    if result.soft_labels is not None:
        print(f"teacher predictions: {result.soft_labels}")
    if result.report is not None:
        print(report_markdown(result.report), end="")
    if result.retention is not None:
        print(retention_markdown(result.retention), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
