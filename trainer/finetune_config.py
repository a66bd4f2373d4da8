"""Fine-tuning configuration: plain dataclasses read from YAML with ``section.key=value`` overrides
(``trainer.config.load_config``), like the pretraining config.

Sections: ``task`` (what is learnt and how it is read out; trainer/tasks/registry.py), ``model`` (backbone,
FILTER), ``tokenizer``, ``data`` (files per language), ``train`` (the loop's ``TrainConfig``), ``adaptation``
(which data: paper 002's zero-shot, translate-train, bilingual, MTL, MTL-WS; trainer/adaptation/mixing.py),
``constraint`` (how the update is kept from forgetting: paper 003's frozen, MTF, GEM and their memories;
trainer/adaptation/constraints.py), ``probes`` (paper 003's retention measurement), ``self_teaching``
(FILTER's teacher/student runs, paper 004), ``few_shot`` and ``evaluation`` (periodic scores, model
selection). The sections a room owns are defined in that room. A data entry is a path, or a mapping
``{path, encoding, limit, format}``::

    data:
      source_lang: en
      train: {en: ../shared/data/ner/conll2003/eng.train}
      translated: {de: out/projected/de}              # `tagged` shards of pipelines.project_labels
      eval: {es: {path: ../shared/data/ner/conll2002/esp.testa, encoding: latin-1}}
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from trainer.adaptation.constraints import CONSTRAINTS, ConstraintConfig
from trainer.adaptation.mixing import ADAPTATIONS
from trainer.adaptation.mixing import AdaptationConfig
from trainer.adaptation.probe_config import ProbeConfig
from trainer.adaptation.self_teaching import SelfTeachingConfig
from trainer.config import TRAIN_MAY_DIFFER, ConfigError, ModelConfig, RuntimeConfig, TokenizerConfig, TrainConfig
from trainer.data.few_shot import FEW_SHOT_SEEDS, FEW_SHOT_SIZES, FEW_SHOT_STEPS
from trainer.tasks.registry import filter_tasks, self_teaching_tasks, task_head, task_heads
from trainer.tasks.settings import PAIR_BY, TaskSettings


@dataclass
class TaskConfig:
    """What is learnt and how it is read out. The defaults are those of ``TaskSettings`` (what a checkpoint
    records), so a default is written once."""

    name: str = "qa"  # a task of trainer/tasks/registry.py: qa | ner | pair | absa
    # qa: start_end | extractor | que; ner: tagging | mrc; pair: classifier | mrc; absa: mrc | tagging | pair
    head: str | None = None
    pair_task: str = TaskSettings.pair_task  # pair: pawsx | xnli (labels and MRC queries)
    scheme: str = TaskSettings.scheme  # ner tagging: the scheme the softmax predicts (BIOES or BIO)
    entity_types: list[str] | None = None  # ner; None: the types of the training data
    # ner tagging: Viterbi over the scheme's allowed transitions
    constrained_decoding: bool = TaskSettings.constrained_decoding
    max_answer_length: int = TaskSettings.max_answer_length  # qa decoding, in tokens
    n_best: int = TaskSettings.n_best
    # extractor heads: longest span scored (tokens); None: any
    max_span_length: int | None = TaskSettings.max_span_length
    mrc_threshold: float = TaskSettings.mrc_threshold  # ner mrc: spans with S_ij above it are entities (paper 001: 0)
    # `[CLS] Q [SEP] [SEP] C [SEP]`; None: when the tokenizer takes no token type ids (XLM-R).
    double_separator: bool | None = None
    que_token: str = TaskSettings.que_token

    def complete(self) -> None:
        """No head named: the task's first (its registry order)."""
        heads = task_heads()
        if self.head is None and self.name in heads:
            self.head = heads[self.name][0]

    def check(self) -> None:
        heads = task_heads()
        if self.name not in heads:
            raise ConfigError(f"task.name must be one of {', '.join(heads)}, not {self.name!r}")
        if self.head not in heads[self.name]:
            raise ConfigError(f"task.head {self.head!r} is not a head of {self.name} ({', '.join(heads[self.name])})")
        if self.scheme not in ("BIO", "BIOES"):
            raise ConfigError(f"task.scheme must be BIO or BIOES, not {self.scheme!r}")
        if self.pair_task not in ("pawsx", "xnli"):
            raise ConfigError(f"task.pair_task must be pawsx or xnli, not {self.pair_task!r}")


@dataclass
class FilterOptions:
    """FILTER (paper 004): m local and k fusion layers over the encoder's own layers; both None: off.

    Training pairs each translated (target-language) example of ``data.translated`` with the source example
    it translates; evaluation pairs each ``data.eval`` example with its translation in
    ``data.eval_translations``. ``pair_by``: ``index`` (the k-th example of both files: line-parallel data such
    as Europarl), ``id`` (equal example ids: XQuAD, PAWS-X), ``source_id`` (a tagged row's ``source_id``, what
    pipelines.project_labels writes, against the source ids)."""

    local_layers: int | None = None
    fusion_layers: int | None = None
    pair_by: str = "index"
    target_labels: bool = True  # the translated examples' own (projected) labels give L^t; false: L^s only

    @property
    def enabled(self) -> bool:
        return self.local_layers is not None

    def check(self) -> None:
        if (self.local_layers is None) != (self.fusion_layers is None):
            raise ConfigError("model.filter needs both local_layers and fusion_layers (or neither)")
        if self.enabled and self.pair_by not in PAIR_BY:
            raise ConfigError(f"model.filter.pair_by must be one of {', '.join(PAIR_BY)}, not {self.pair_by!r}")


@dataclass
class FinetuneModelConfig(ModelConfig):
    # Load the head parameters whose names and shapes match from <name_or_path>/heads.safetensors (an mPMR
    # checkpoint's extractor for the extractor heads, CLISM's W_s/W_e for the [QUE] head).
    load_heads: bool = True
    filter: FilterOptions = field(default_factory=FilterOptions)

    def check(self) -> None:
        super().check()
        self.filter.check()


@dataclass
class FinetuneTokenizerConfig(TokenizerConfig):
    # A tokenizer trained on the fly (tiny from-scratch models) also reads the evaluation text (never its
    # labels), so target-language characters are in the vocabulary.
    include_eval_text: bool = True


@dataclass
class FinetuneDataConfig:
    source_lang: str = TaskSettings.source_lang
    train: dict[str, Any] = field(default_factory=dict)  # language -> labelled source data
    translated: dict[str, Any] = field(default_factory=dict)  # target language -> translated labelled data
    eval: dict[str, Any] = field(default_factory=dict)  # language -> evaluation data
    # FILTER: language -> the evaluation data's translation into the source language
    eval_translations: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None  # examples read from each file (a slice of its beginning); None: all
    batch_size: int = 8  # per rank and micro-step (QA: windows)
    eval_batch_size: int = 32
    # QA/MRC input tokens (paper 000 App. C, paper 001 Table 5); tagging: 128 is plenty
    max_length: int = TaskSettings.max_length
    doc_stride: int = TaskSettings.doc_stride
    max_query_length: int = TaskSettings.max_query_length

    def check(self) -> None:
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError("data.batch_size and data.eval_batch_size must be at least 1")


@dataclass
class FewShotConfig:
    size: int | None = None  # source training examples kept; None: all
    seed: int = 0
    sizes: list[int] = field(default_factory=lambda: list(FEW_SHOT_SIZES))  # --few-shot-sweep grid
    seeds: list[int] = field(default_factory=lambda: list(FEW_SHOT_SEEDS))
    steps: int = FEW_SHOT_STEPS  # optimisation steps of every sweep run (paper 000 App. C: 200)

    def check(self) -> None:
        if self.size is not None and self.size < 1:
            raise ConfigError("few_shot.size must be at least 1")


@dataclass
class EvaluationConfig:
    every: int = 0  # task metrics on data.eval every N steps (0: only at the end)
    final: bool = True
    max_examples: int | None = None  # per language during training (the final evaluation reads all)
    # Model selection: keep the weights of the step with the best value of this figure of the periodic
    # evaluation (``avg_f1``, ``de_f1``, ``avg_accuracy``; "primary": the average of the task's primary metric)
    # in <output_dir>/best, and give the final report for them. None: the last step is the model.
    select: str | None = None
    # Write the final evaluation's prediction of every data.eval example (trainer.predict's rows) to
    # <output_dir>/predictions.jsonl, from the same pass that scores them (error analysis, breakdowns).
    predictions: bool = False

    def check(self) -> None:
        if self.predictions and not self.final:
            raise ConfigError("evaluation.predictions writes the final evaluation's predictions: it needs "
                              "evaluation.final true")


@dataclass
class FinetuneConfig:
    output_dir: str = "out/finetune"
    task: TaskConfig = field(default_factory=TaskConfig)
    model: FinetuneModelConfig = field(default_factory=FinetuneModelConfig)
    tokenizer: FinetuneTokenizerConfig = field(default_factory=FinetuneTokenizerConfig)
    data: FinetuneDataConfig = field(default_factory=FinetuneDataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    adaptation: AdaptationConfig = field(default_factory=AdaptationConfig)
    constraint: ConstraintConfig = field(default_factory=ConstraintConfig)
    probes: ProbeConfig = field(default_factory=ProbeConfig)
    self_teaching: SelfTeachingConfig = field(default_factory=SelfTeachingConfig)
    few_shot: FewShotConfig = field(default_factory=FewShotConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    # Keys a run resumed from a checkpoint may change (trainer/loop/resume.py): where it writes, how it
    # runs, how often it logs, evaluates and saves, whether it ends with a report, predictions or soft labels, and
    # the few-shot sweep's grid (each of its runs has its own output_dir). Everything that decides what the
    # weights become - model, tokenizer, data, task, optimisation, adaptation, constraint, the teacher, the
    # evaluation that selects the model (evaluation.select, max_examples, data.eval) - is refused.
    RESUME_MAY_DIFFER = ("output_dir", "runtime") + TRAIN_MAY_DIFFER + (
        "data.eval_batch_size", "evaluation.every", "evaluation.final", "evaluation.predictions",
        "self_teaching.write", "self_teaching.write_dir", "few_shot.sizes", "few_shot.seeds", "few_shot.steps",
        "adaptation.mtl_ws.checkpoint_every")

    RENAMED = {"strategy": "strategy.name and strategy.target are adaptation.name and adaptation.target, "
                           "strategy.mtl_ws is adaptation.mtl_ws; strategy.constraint is constraint.name and "
                           "strategy.frozen_layers, mtf_weights, gem_margin and memories are in constraint"}

    def complete(self) -> None:
        """The values whose default follows from other fields: the task's first head, and the one translated
        language as the target of translate-train and bilingual."""
        self.task.complete()
        adaptation = self.adaptation
        if adaptation.plan_name in ("to", "bilingual") and adaptation.target is None and len(self.data.translated) == 1:
            adaptation.target = next(iter(self.data.translated))

    def check(self) -> None:
        """Each section's own checks, then what no single section can check; changes nothing."""
        self.task.check()
        self.model.check()
        self.tokenizer.check(self.model)
        self.data.check()
        self.train.check()
        self._check_adaptation()
        self._check_constraint()
        self.probes.check()
        self.self_teaching.check()
        self.few_shot.check()
        self.evaluation.check()
        self.runtime.check()
        self._check_filter()
        self._check_self_teaching()
        if self.evaluation.select is not None and not (self.evaluation.every and self.data.eval):
            raise ConfigError("evaluation.select picks the best of the periodic evaluations: it needs "
                              "evaluation.every and data.eval")

    def _check_adaptation(self) -> None:
        adaptation = self.adaptation
        if adaptation.name not in ADAPTATIONS:
            raise ConfigError(f"adaptation.name must be one of {', '.join(ADAPTATIONS)}, not {adaptation.name!r}")
        if adaptation.plan_name in ("to", "bilingual") and adaptation.target is None:
            raise ConfigError(f"adaptation {adaptation.name} needs adaptation.target (one of data.translated: "
                              f"{', '.join(self.data.translated) or 'none given'})")
        if adaptation.plan_name != "zero-shot" and not self.data.translated:
            raise ConfigError(f"adaptation {adaptation.name} needs data.translated (translated, labelled data of "
                              "the target languages)")
        if adaptation.plan_name != "to" and not self.data.train:
            raise ConfigError("data.train lists no source data")

    def _check_constraint(self) -> None:
        constraint = self.constraint
        if constraint.name not in CONSTRAINTS:
            raise ConfigError(f"constraint.name must be one of {', '.join(CONSTRAINTS)}, not {constraint.name!r}")
        memories = constraint.memories
        if constraint.needs_memories and not (memories.mlm or memories.xsr):
            raise ConfigError(f"constraint {constraint.name} needs constraint.memories.mlm and/or "
                              "constraint.memories.xsr")
        for name, files in memories.xsr.items():
            if not (isinstance(files, (list, tuple)) and len(files) == 2):
                raise ConfigError(f"constraint.memories.xsr.{name}: expected [source file, target file]")

    def _check_filter(self) -> None:
        """FILTER against the task, the data and the adaptation it replaces."""
        task, fil = self.task, self.model.filter
        if not fil.enabled:
            return
        if (task.name, task.head) not in filter_tasks():
            raise ConfigError(f"model.filter: FILTER is wired for {', '.join(map('/'.join, filter_tasks()))}, "
                              f"not {task.name}/{task.head}")
        if not self.data.translated:
            raise ConfigError("model.filter needs data.translated (the target-language training text)")
        missing = sorted(set(self.data.eval) - set(self.data.eval_translations))
        if missing:
            raise ConfigError(f"model.filter needs data.eval_translations for {', '.join(missing)} (FILTER "
                              "reads each test example with its translation into the source language)")
        if self.few_shot.size is not None:
            raise ConfigError("model.filter pairs examples with their translations: few_shot.size does not "
                              "combine with it")
        if self.constraint.name != "none" or self.adaptation.plan_name not in ("zero-shot", "to", "mtl"):
            raise ConfigError("model.filter is its own adaptation: use adaptation.name translate-train (one "
                              "target) or mtl (every target), and constraint.name none")
        if self.evaluation.predictions:
            raise ConfigError("evaluation.predictions: a FILTER model's predictions are not written out (it reads "
                              "each example with its translation); leave it false with model.filter")

    def _check_self_teaching(self) -> None:
        """Self-teaching against the task, the model and the data."""
        teaching, task = self.self_teaching, self.task
        if teaching.write is None and teaching.teacher is None:
            return
        if (task.name, task.head) not in self_teaching_tasks():
            raise ConfigError(f"self_teaching is wired for {', '.join('/'.join(t) for t in self_teaching_tasks())}"
                              f", not {task.name}/{task.head}")
        if not self.data.translated:
            raise ConfigError("self_teaching needs data.translated (the translated training text the teacher "
                              "predicts on and the student learns from)")
        if task_head(task.name, task.head).self_teaching_needs_filter and not self.model.filter.enabled:
            raise ConfigError(f"self_teaching for {task.name}/{task.head} reads one window per example, as a "
                              "FILTER model does: set model.filter (teacher and student)")
        if teaching.teacher is not None and not self.model.filter.enabled and self.adaptation.plan_name != "to":
            raise ConfigError("a single-stream self-teaching student trains on the translated data only: use "
                              "adaptation.name translate-train, or a FILTER student (model.filter)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
