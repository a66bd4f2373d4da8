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

Retention (paper 003 Table 1): with memories configured (or a ``probes`` section), whatever the constraint, MLM
perplexity per language (``trainer.mlm_probe``) and XSR P@1/5/10 (``trainer.retrieval``) are measured on held-out
probe slices before the first step and after the last, written to ``retention.json`` and to the report's
``retention`` table. Self-teaching (paper 004; ner/tagging and pair/classifier, FILTER or single-stream): a
teacher run with ``self_teaching.write=NAME`` writes its logits on the translated training text to
``<write_dir>/soft_labels/NAME.parquet``; a student run with ``self_teaching.teacher=PATH`` gets the teacher's
logits in its batches (matched by example id) and adds ``kl_weight`` x KL to its loss, logged as ``loss_kl``.

Evaluation: on ``data.eval`` at the end (``eval_report.json`` / ``.md`` in the output directory, the same
report as ``python -m trainer.evaluate``), every ``evaluation.every`` steps (task metrics, ``task_eval``
records in ``metrics.jsonl``), and the loss on the evaluation data every ``train.eval_every`` steps (the loop's
own evaluation).
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import nn
from transformers import AutoModelForMaskedLM, AutoTokenizer

from trainer.checkpoint import resume_point
from trainer.cli import run_command
from trainer.config import ConfigError, dump_config, load_config, resolve_grad_accum
from trainer.distributed import DistributedContext, barrier, distributed_run, seed_everything
from trainer.evaluate import encoder_without_pooler, load_matching_heads, make_report, retention_markdown, write_report
from trainer.few_shot import sample_ids, summarize_runs
from trainer.finetune_config import FinetuneConfig
from trainer.finetune_tasks import (FILTER_TASKS, TaskSpec, TeacherCollate, filter_training_items, pair_translations,
                                    task_spec_from_config)
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
    retention: dict | None = None  # probes before/after fine-tuning (main rank; paper 003 Table 1)
    soft_labels: Path | None = None  # the teacher predictions written (self_teaching.write)
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


# ---- retention probes (paper 003, Table 1) ----------------------------------------------------------------

RETENTION_FILE = "retention.json"


@dataclass
class ProbeData:
    """Held-out probe data: MLM ``(sentence id, text)`` per language, XSR ``(source, target)`` pairs per name,
    and where each probe came from (files, lines skipped, items kept, items dropped for sharing a memory's text)."""

    mlm: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    xsr: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)


def _same_file(path: str, others: set[str]) -> bool:
    return os.path.realpath(path) in others


def load_probe_data(config: FinetuneConfig) -> ProbeData | None:
    """The probe slices of ``config.probes`` (or of the memory files when it names none); None when nothing is
    to be measured. Memory and probe items come from different slices of a file (see ``ProbeConfig``), and a
    probe item sharing a text with any memory is dropped and counted."""
    from trainer.retrieval import read_parallel

    probes, memories = config.probes, config.strategy.memories
    mlm_files = probes.mlm or memories.mlm
    xsr_files = probes.xsr or memories.xsr
    if not probes.enabled or not (mlm_files or xsr_files):
        return None
    memory_files = {os.path.realpath(p) for p in memories.mlm.values()}
    memory_files |= {os.path.realpath(p) for files in memories.xsr.values() for p in files}
    # What the memories hold (the same readers and limits as build_memories), whatever the constraint: the
    # constraint-free baselines are measured on the same probe data as GEM and MTF.
    remembered: set[str] = set()
    for path in memories.mlm.values():
        remembered.update(read_sentences_file(path, memories.size))
    for source_file, target_file in memories.xsr.values():
        for source, target in read_parallel(source_file, target_file, limit=memories.size):
            remembered.update((source, target))

    def skip_for(paths: list[str]) -> int:
        if probes.skip is not None:
            return probes.skip
        return memories.size if any(_same_file(p, memory_files) for p in paths) else 0

    data = ProbeData()
    for lang, path in mlm_files.items():
        skip = skip_for([path])
        sentences = read_sentences_file(path)[skip:skip + probes.size]
        # Ids by position among the file's sentences: the masking is keyed by them (mlm_probe.mask_sentence).
        kept = [(f"probe-{lang}-{skip + n}", text) for n, text in enumerate(sentences) if text not in remembered]
        if not kept:
            raise ValueError(f"probes.mlm.{lang}: {path} has no sentence after the first {skip} that no memory "
                             "holds")
        data.mlm[lang] = kept
        data.sources.append({"kind": "mlm", "name": lang, "files": [str(path)], "skip": skip, "items": len(kept),
                             "dropped_in_memory": len(sentences) - len(kept)})
    for name, (source_file, target_file) in xsr_files.items():
        skip = skip_for([source_file, target_file])
        pairs = read_parallel(source_file, target_file, limit=skip + probes.size)[skip:]
        kept = [(s, t) for s, t in pairs if s not in remembered and t not in remembered]
        if len(kept) < 2:
            raise ValueError(f"probes.xsr.{name}: {len(kept)} pair(s) of {source_file} / {target_file} after the "
                             f"first {skip} that no memory holds; retrieval needs at least 2")
        data.xsr[name] = kept
        data.sources.append({"kind": "xsr", "name": name, "files": [str(source_file), str(target_file)],
                             "skip": skip, "items": len(kept), "dropped_in_memory": len(pairs) - len(kept)})
    return data


def probe_masked_lm(config: FinetuneConfig, tokenizer, model: nn.Module, masked_lm):
    """The MLM head that scores the probes, on the training module's encoder: the memories' masked LM when there
    is one, otherwise the backbone's own (a checkpoint's head, or a fresh one for a from-scratch model), built
    under a forked random state so the fine-tuned model's initial parameters do not depend on the probes."""
    from trainer.mlm_probe import MaskedLanguageModel

    if masked_lm is None:
        with torch.random.fork_rng(devices=[]):
            source = encoder_source(config, tokenizer)
            masked_lm = AutoModelForMaskedLM.from_pretrained(source) if isinstance(source, str) else \
                AutoModelForMaskedLM.from_config(source)
        if masked_lm.get_input_embeddings().num_embeddings != model.encoder.get_input_embeddings().num_embeddings:
            masked_lm.resize_token_embeddings(model.encoder.get_input_embeddings().num_embeddings)
    return MaskedLanguageModel.from_masked_lm(masked_lm, model.encoder)


def measure_retention(config: FinetuneConfig, model: nn.Module, mlm_model: nn.Module, tokenizer,
                      probes: ProbeData, device) -> dict:
    """``{"mlm": {lang: perplexity figures}, "xsr": {name: {"p@1", "p@5", "p@10"}}}`` of the model now; P@k
    in percent, like the task metrics."""
    from trainer.mlm_probe import perplexity_by_language
    from trainer.retrieval import xsr_precision

    options = config.probes
    seed = config.train.seed if options.seed is None else options.seed
    mlm_model.to(device)
    measured: dict = {"mlm": {}, "xsr": {}}
    if probes.mlm:
        for lang, result in perplexity_by_language(mlm_model, tokenizer, probes.mlm, seed=seed,
                                                   batch_size=options.batch_size,
                                                   max_length=options.max_length).items():
            measured["mlm"][lang] = {"perplexity": result.perplexity, "mean_nll": result.mean_nll,
                                     "masked_tokens": result.masked_tokens, "sentences": result.sentences,
                                     "sentences_without_mask": result.sentences_without_mask}
    for name, pairs in probes.xsr.items():
        precision = xsr_precision(model.encoder, tokenizer, [s for s, _ in pairs], [t for _, t in pairs],
                                  batch_size=options.batch_size, max_length=options.max_length)
        measured["xsr"][name] = {key: 100.0 * value for key, value in precision.items()}
    return measured


def retention_table(before: dict | None, after: dict, probes: ProbeData, steps: tuple[int, int]) -> dict:
    """The report's ``retention`` entry: per probe, its figures before and after fine-tuning."""
    table: dict = {"mlm": {}, "xsr": {}, "probes": probes.sources, "step_before": steps[0], "step_after": steps[1]}
    for kind in ("mlm", "xsr"):
        for name, figures in after[kind].items():
            table[kind][name] = {"before": (before or {}).get(kind, {}).get(name), "after": figures}
    return table


# ---- self-teaching (paper 004) ----------------------------------------------------------------------------

def teacher_items(config: FinetuneConfig, spec: TaskSpec, tokenizer, data: TaskData) -> tuple[list, Callable, list]:
    """What a teacher predicts on: every translated training example (a FILTER model reads each with the source
    example it translates); returns items, collate and the example ids."""
    if spec.filter:
        pairs = [pair for lang in sorted(data.translated) for pair in pair_translations(
            data.translated[lang], data.source, spec.filter["pair_by"], f"data.translated.{lang}")]
        items, collate = filter_training_items(spec, tokenizer, pairs, target_labels=False)
        return items, collate, [spec.example_id(target) for target, _ in pairs]
    examples = [e for lang in sorted(data.translated) for e in data.translated[lang]]
    items, collate = spec.training_items(tokenizer, examples)
    return items, collate, [spec.example_id(e) for e in examples]


@torch.no_grad()
def write_soft_labels(config: FinetuneConfig, spec: TaskSpec, model: nn.Module, tokenizer, data: TaskData,
                      device, step: int) -> Path:
    """The teacher's logits on the translated training text (target stream, eval mode) as
    ``<write_dir>/soft_labels/<write>.parquet`` (``trainer.self_teaching.write_teacher_predictions``)."""
    from trainer.self_teaching import rows_from_outputs, teacher_predictions_path, write_teacher_predictions

    options = config.self_teaching
    task = FILTER_TASKS[(spec.name, spec.head)]
    items, collate, ids = teacher_items(config, spec, tokenizer, data)
    was_training = model.training
    model.eval()
    rows = []
    try:
        for start in range(0, len(items), config.data.eval_batch_size):
            batch = collate(items[start:start + config.data.eval_batch_size])
            tensors = {k: v.to(device) for k, v in batch.items()
                       if isinstance(v, torch.Tensor) and k not in ("labels", "source_labels")}
            with autocast_context(config.train.precision, device):
                logits = model(**tensors)["logits"]
            rows += rows_from_outputs(task, ids[start:start + len(logits)], {"logits": logits},
                                      batch["attention_mask"] if task == "tagging" else None)
    finally:
        model.train(was_training)
    path = teacher_predictions_path(options.write_dir or config.output_dir, options.write)
    info = {"model": config.output_dir, "step": step, "filter": spec.filter, "tokenizer": tokenizer_fingerprint(
        tokenizer), "max_length": spec.max_length, "languages": sorted(data.translated)}
    return write_teacher_predictions(path, task, rows, label_names=spec.labels, info=info)


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of what makes token positions (normaliser, pre-tokeniser, vocabulary): token-level teacher logits
    are only meaningful for a student that tokenises the same way."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        described = {key: spec.get(key) for key in ("normalizer", "pre_tokenizer", "model", "added_tokens")}
    else:
        described = {"vocab": sorted(tokenizer.get_vocab().items())}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def load_teacher(config: FinetuneConfig, spec: TaskSpec, tokenizer, data: TaskData):
    """The student's teacher predictions, checked: the task, the label set, the tokenisation (tagging) and a
    prediction for every translated training example."""
    from trainer.self_teaching import TeacherPredictions

    teacher = TeacherPredictions.load(config.self_teaching.teacher)
    task = FILTER_TASKS[(spec.name, spec.head)]
    where = f"self_teaching.teacher {teacher.path}"
    if teacher.task != task:
        raise ValueError(f"{where}: {teacher.task} predictions, but this student is a {task} model")
    if list(teacher.label_names) != list(spec.labels):
        raise ValueError(f"{where}: labels {teacher.label_names} differ from the student's {spec.labels}")
    if task == "tagging" and teacher.info.get("tokenizer") not in (None, tokenizer_fingerprint(tokenizer)):
        raise ValueError(f"{where}: written with another tokenizer; token-level logits need the teacher's "
                         "tokenizer (tokenizer.path=<teacher output_dir>/tokenizer)")
    missing = [e for rows in data.translated.values() for e in rows if spec.example_id(e) not in teacher]
    if missing:
        raise ValueError(f"{where}: no prediction for {len(missing)} translated training example(s), e.g. "
                         f"{spec.example_id(missing[0])!r}: not the teacher of this data")
    return teacher


def self_teaching_weights(config: FinetuneConfig, spec: TaskSpec) -> tuple[float, float]:
    """``(kl_weight, label_weight)`` of eq. 6: the configured values or paper 004's defaults."""
    from trainer.self_teaching import DEFAULT_KL_WEIGHTS

    options = config.self_teaching
    kl_weight = DEFAULT_KL_WEIGHTS[FILTER_TASKS[(spec.name, spec.head)]] if options.kl_weight is None else \
        options.kl_weight
    label_weight = 1.0 - kl_weight if options.label_weight is None else options.label_weight
    return kl_weight, label_weight


class SelfTeachingLoss(Strategy):
    """A single-stream student: ``label_weight · task loss + kl_weight · KL(teacher ‖ student)`` over the batch's
    ``teacher_logits``/``teacher_mask`` (``TeacherCollate``); ``loss_task`` and ``loss_kl`` are logged. Wraps the
    run's constraint strategy. (A FILTER student's own forward computes the same terms, eq. 6.)"""

    def __init__(self, inner: Strategy, kl_weight: float, label_weight: float, temperature: float):
        self.inner, self.kl_weight, self.label_weight, self.temperature = inner, kl_weight, label_weight, temperature

    def loss(self, model, batch):
        if "teacher_logits" not in batch:
            return self.inner.loss(model, batch)
        from trainer.self_teaching import kl_over_last_dim

        batch = dict(batch)
        teacher, mask = batch.pop("teacher_logits"), batch.pop("teacher_mask")
        output = self.inner.loss(model, batch)
        terms = dict(output.items()) if isinstance(output, Mapping) else dict(vars(output))
        kl = kl_over_last_dim(terms["logits"], teacher, self.temperature, mask)
        task_loss = terms["loss"]
        terms["loss"] = self.label_weight * task_loss + self.kl_weight * kl
        terms["loss_task"], terms["loss_kl"] = task_loss.detach(), kl.detach()
        return terms

    def before_optimizer_step(self, module, optimizer, step):
        return self.inner.before_optimizer_step(module, optimizer, step)

    def after_optimizer_step(self, module, optimizer, step):
        return self.inner.after_optimizer_step(module, optimizer, step)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


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
    with distributed_run() as ctx:
        return _run(config, ctx)


def _run(config: FinetuneConfig, ctx: DistributedContext) -> FinetuneResult:
    output_dir = Path(config.output_dir)
    resume = resume_point(output_dir / CHECKPOINTS, config.train.resume)
    spec = task_spec_from_config(config)
    data = load_task_data(config, spec)
    examples, warmup_examples = training_examples(config, data)
    tokenizer = load_tokenizer(config, spec, data, ctx, resume)
    spec = task_spec_from_config(config, tokenizer)  # the separator layout follows the tokenizer
    spec.prepare_tokenizer(tokenizer)
    labelled = data.source + [e for rows in data.translated.values() for e in rows] if spec.filter else \
        examples + [e for rows in warmup_examples.values() for e in rows]
    spec.fit_labels(labelled, config.task.entity_types)
    probes = load_probe_data(config)
    teacher = load_teacher(config, spec, tokenizer, data) if config.self_teaching.teacher else None
    seed_everything(config.train.seed)  # the same initial parameters on every rank
    with_mlm = config.strategy.constraint in ("mtf", "gem") and bool(config.strategy.memories.mlm)
    encoder, masked_lm = build_encoder(config, tokenizer, with_mlm)
    model = spec.build_model(encoder)
    if teacher is not None and spec.filter:
        # FILTER's own forward adds the KL term (eq. 6) when the batch carries teacher logits.
        kl_weight, label_weight = self_teaching_weights(config, spec)
        model.config.kl_weight, model.config.target_label_weight = kl_weight, label_weight
        model.config.temperature = config.self_teaching.temperature
    if config.model.name_or_path is not None and config.model.load_heads and resume is None:
        loaded, ignored = load_matching_heads(model, config.model.name_or_path)
        if loaded or ignored:
            logger.info("head parameters from %s: loaded %s; not used %s", config.model.name_or_path,
                        loaded or "none", ignored or "none")
    check_positions(model.encoder.config, spec.max_input_length())
    strategy = build_constraint(config, model, tokenizer, masked_lm, ctx)
    retention_before, probe_model = None, None
    if probes is not None and ctx.is_main:
        probe_model = probe_masked_lm(config, tokenizer, model, masked_lm)
        retention_before = initial_retention(config, model, probe_model, tokenizer, probes, ctx, resume)
    if teacher is not None and not spec.filter:
        kl_weight, label_weight = self_teaching_weights(config, spec)
        strategy = SelfTeachingLoss(strategy, kl_weight, label_weight, config.self_teaching.temperature)
    seed_everything(config.train.seed + ctx.rank)  # dropout masks differ between ranks

    items, collate = training_items(config, spec, tokenizer, data, examples)
    if teacher is not None:
        item_id = (lambda pair: spec.example_id(pair[0])) if spec.filter else spec.example_id
        collate = TeacherCollate(collate, teacher, item_id)
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
    report = retention = soft_labels = None
    if ctx.is_main and probes is not None:
        after = measure_retention(config, model, probe_model, tokenizer, probes, ctx.device)
        before = retention_before or {}
        retention = retention_table(before.get("figures"), after, probes, (before.get("step", 0), result.step))
        (output_dir / RETENTION_FILE).write_text(json.dumps(retention, indent=1) + "\n", encoding="utf-8")
    if ctx.is_main and config.self_teaching.write:
        soft_labels = write_soft_labels(config, spec, model, tokenizer, data, ctx.device, result.step)
        logger.info("teacher predictions on the translated training text: %s", soft_labels)
    if ctx.is_main and data.eval and config.evaluation.final:
        per_language = spec.evaluate(model, tokenizer, data.eval, config.data.eval_batch_size,
                                     data.eval_translations)
        report = make_report(spec, per_language, step=result.step, model=str(result.checkpoint or ""),
                             strategy=config.strategy.name, constraint=config.strategy.constraint,
                             few_shot=dataclasses.asdict(config.few_shot) if config.few_shot.size else None)
        if retention is not None:
            report["retention"] = retention
        if teacher is not None:
            kl_weight, label_weight = self_teaching_weights(config, spec)
            report["self_teaching"] = {"teacher": str(teacher.path), "kl_weight": kl_weight,
                                       "label_weight": label_weight, "temperature": config.self_teaching.temperature}
        write_report(report, output_dir)
        append_record(output_dir / METRICS_FILE, {"split": "task_eval", "step": result.step, **_flat_scores(report)})
    return FinetuneResult(result, spec, report, retention=retention, soft_labels=soft_labels, warmup=warmup_records)


def initial_retention(config: FinetuneConfig, model: nn.Module, probe_model: nn.Module, tokenizer,
                      probes: ProbeData, ctx: DistributedContext, resume: Path | None) -> dict | None:
    """The probes' figures before fine-tuning (before any warm-up or step), kept in ``retention_before.json``; a
    resumed run reads them back (its model is no longer the initial one)."""
    path = Path(config.output_dir) / "retention_before.json"
    if resume is not None:
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
        logger.warning("resumed from %s without %s: no 'before' figures for the retention probes", resume, path)
        return None
    model.to(ctx.device)
    before = {"step": 0, "figures": measure_retention(config, model, probe_model, tokenizer, probes, ctx.device)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(before, indent=1) + "\n", encoding="utf-8")
    return before


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
    return run_command(lambda: _command(args), logger)


def _command(args: argparse.Namespace) -> int:
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
    if int(os.environ.get("RANK", 0)) != 0:
        return 0
    train_records = [r for r in result.train.records if r["split"] == "train"]
    if train_records:
        print(f"trained to step {result.train.step}; loss {train_records[-1]['loss']:.4f}; "
              f"checkpoint {result.train.checkpoint}")
    else:
        print(f"nothing to train: {result.train.resumed_from} is step {result.train.step} of "
              f"{config.train.total_steps}")
    if result.soft_labels is not None:
        print(f"teacher predictions: {result.soft_labels}")
    if result.report is not None:
        from trainer.metrics import report_markdown
        print(report_markdown(result.report), end="")
    if result.retention is not None:
        print(retention_markdown(result.retention), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
