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
from trainer.adaptation.retention import ProbeConfig
from trainer.adaptation.self_teaching import SelfTeachingConfig
from trainer.config import ConfigError, ModelConfig, TokenizerConfig, TrainConfig
from trainer.data.few_shot import FEW_SHOT_SEEDS, FEW_SHOT_SIZES, FEW_SHOT_STEPS
from trainer.tasks.paired import PAIR_BY
from trainer.tasks.registry import filter_tasks, self_teaching_tasks, task_class, task_heads


@dataclass
class TaskConfig:
    name: str = "qa"  # a task of trainer/tasks/registry.py: qa | ner | pair | absa
    # qa: start_end | extractor | que; ner: tagging | mrc; pair: classifier | mrc; absa: mrc | tagging | pair
    head: str | None = None
    pair_task: str = "pawsx"  # pair: pawsx | xnli (labels and MRC queries)
    scheme: str = "BIOES"  # ner tagging: the scheme the softmax predicts (BIOES or BIO)
    entity_types: list[str] | None = None  # ner; None: the types of the training data
    constrained_decoding: bool = True  # ner tagging: Viterbi over the scheme's allowed transitions
    max_answer_length: int = 30  # qa decoding, in tokens
    n_best: int = 20
    max_span_length: int | None = None  # extractor heads: longest span scored (tokens); None: any
    mrc_threshold: float = 0.0  # ner mrc: spans with S_ij above it are entities (paper 001: 0)
    # `[CLS] Q [SEP] [SEP] C [SEP]`; None: when the tokenizer takes no token type ids (XLM-R).
    double_separator: bool | None = None
    que_token: str = "[QUE]"


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


@dataclass
class FinetuneModelConfig(ModelConfig):
    # Load the head parameters whose names and shapes match from <name_or_path>/heads.safetensors (an mPMR
    # checkpoint's extractor for the extractor heads, CLISM's W_s/W_e for the [QUE] head).
    load_heads: bool = True
    filter: FilterOptions = field(default_factory=FilterOptions)


@dataclass
class FinetuneTokenizerConfig(TokenizerConfig):
    # A tokenizer trained on the fly (tiny from-scratch models) also reads the evaluation text (never its
    # labels), so target-language characters are in the vocabulary.
    include_eval_text: bool = True


@dataclass
class FinetuneDataConfig:
    source_lang: str = "en"
    train: dict[str, Any] = field(default_factory=dict)  # language -> labelled source data
    translated: dict[str, Any] = field(default_factory=dict)  # target language -> translated labelled data
    eval: dict[str, Any] = field(default_factory=dict)  # language -> evaluation data
    # FILTER: language -> the evaluation data's translation into the source language
    eval_translations: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None  # examples read from each file (a slice of its beginning); None: all
    batch_size: int = 8  # per rank and micro-step (QA: windows)
    eval_batch_size: int = 32
    max_length: int = 384  # QA/MRC input tokens (paper 000 App. C, paper 001 Table 5); tagging: 128 is plenty
    doc_stride: int = 128
    max_query_length: int = 64


@dataclass
class FewShotConfig:
    size: int | None = None  # source training examples kept; None: all
    seed: int = 0
    sizes: list[int] = field(default_factory=lambda: list(FEW_SHOT_SIZES))  # --few-shot-sweep grid
    seeds: list[int] = field(default_factory=lambda: list(FEW_SHOT_SEEDS))
    steps: int = FEW_SHOT_STEPS  # optimisation steps of every sweep run (paper 000 App. C: 200)


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

    RENAMED = {"strategy": "strategy.name and strategy.target are adaptation.name and adaptation.target, "
                           "strategy.mtl_ws is adaptation.mtl_ws; strategy.constraint is constraint.name and "
                           "strategy.frozen_layers, mtf_weights, gem_margin and memories are in constraint"}

    def check(self) -> None:
        """Consistency checks that no single field can make."""
        task, heads = self.task, task_heads()
        if task.name not in heads:
            raise ConfigError(f"task.name must be one of {', '.join(heads)}, not {task.name!r}")
        if task.head is None:
            task.head = heads[task.name][0]
        if task.head not in heads[task.name]:
            raise ConfigError(f"task.head {task.head!r} is not a head of {task.name} ({', '.join(heads[task.name])})")
        wired = "/".join
        if task.scheme not in ("BIO", "BIOES"):
            raise ConfigError(f"task.scheme must be BIO or BIOES, not {task.scheme!r}")
        if task.pair_task not in ("pawsx", "xnli"):
            raise ConfigError(f"task.pair_task must be pawsx or xnli, not {task.pair_task!r}")
        if (self.model.name_or_path is None) == (self.model.from_scratch is None):
            raise ConfigError("set exactly one of model.name_or_path and model.from_scratch")
        self.model.check_pretrained()
        if self.model.from_scratch is not None and "model_type" not in self.model.from_scratch:
            raise ConfigError("model.from_scratch needs a model_type (bert, xlm-roberta, ...)")
        if self.model.from_scratch is not None and self.tokenizer.path is None and \
                self.tokenizer.train_vocab_size is None:
            raise ConfigError("a from-scratch model needs tokenizer.path or tokenizer.train_vocab_size")
        adaptation, constraint = self.adaptation, self.constraint
        fil = self.model.filter
        if (fil.local_layers is None) != (fil.fusion_layers is None):
            raise ConfigError("model.filter needs both local_layers and fusion_layers (or neither)")
        if fil.local_layers is not None:
            if (task.name, task.head) not in filter_tasks():
                raise ConfigError(f"model.filter: FILTER is wired for {', '.join(map(wired, filter_tasks()))}, "
                                  f"not {task.name}/{task.head}")
            if fil.pair_by not in PAIR_BY:
                raise ConfigError(f"model.filter.pair_by must be one of {', '.join(PAIR_BY)}, not {fil.pair_by!r}")
            if not self.data.translated:
                raise ConfigError("model.filter needs data.translated (the target-language training text)")
            missing = sorted(set(self.data.eval) - set(self.data.eval_translations))
            if missing:
                raise ConfigError(f"model.filter needs data.eval_translations for {', '.join(missing)} (FILTER "
                                  "reads each test example with its translation into the source language)")
            if self.few_shot.size is not None:
                raise ConfigError("model.filter pairs examples with their translations: few_shot.size does not "
                                  "combine with it")
            if constraint.name != "none" or adaptation.plan_name not in ("zero-shot", "to", "mtl"):
                raise ConfigError("model.filter is its own adaptation: use adaptation.name translate-train (one "
                                  "target) or mtl (every target), and constraint.name none")
        if self.evaluation.predictions and not self.evaluation.final:
            raise ConfigError("evaluation.predictions writes the final evaluation's predictions: it needs "
                              "evaluation.final true")
        if self.evaluation.predictions and fil.local_layers is not None:
            raise ConfigError("evaluation.predictions: a FILTER model's predictions are not written out (it reads "
                              "each example with its translation); leave it false with model.filter")
        if adaptation.name not in ADAPTATIONS:
            raise ConfigError(f"adaptation.name must be one of {', '.join(ADAPTATIONS)}, not {adaptation.name!r}")
        if constraint.name not in CONSTRAINTS:
            raise ConfigError(f"constraint.name must be one of {', '.join(CONSTRAINTS)}, not {constraint.name!r}")
        memories = constraint.memories
        if constraint.needs_memories and not (memories.mlm or memories.xsr):
            raise ConfigError(f"constraint {constraint.name} needs constraint.memories.mlm and/or "
                              "constraint.memories.xsr")
        for name, files in memories.xsr.items():
            if not (isinstance(files, (list, tuple)) and len(files) == 2):
                raise ConfigError(f"constraint.memories.xsr.{name}: expected [source file, target file]")
        if adaptation.plan_name in ("to", "bilingual") and adaptation.target is None:
            if len(self.data.translated) != 1:
                raise ConfigError(f"adaptation {adaptation.name} needs adaptation.target (one of data.translated: "
                                  f"{', '.join(self.data.translated) or 'none given'})")
            adaptation.target = next(iter(self.data.translated))
        if adaptation.plan_name != "zero-shot" and not self.data.translated:
            raise ConfigError(f"adaptation {adaptation.name} needs data.translated (translated, labelled data of "
                              "the target languages)")
        if adaptation.plan_name != "to" and not self.data.train:
            raise ConfigError("data.train lists no source data")
        if self.train.precision not in ("auto", "bf16", "fp32"):
            raise ConfigError(f"train.precision must be auto, bf16 or fp32, not {self.train.precision!r}")
        for name in ("total_steps", "grad_accum", "log_every"):
            if getattr(self.train, name) < 1:
                raise ConfigError(f"train.{name} must be at least 1")
        if self.data.batch_size < 1 or self.data.eval_batch_size < 1:
            raise ConfigError("data.batch_size and data.eval_batch_size must be at least 1")
        if self.train.warmup_steps > self.train.total_steps:
            raise ConfigError("train.warmup_steps is larger than train.total_steps")
        if self.few_shot.size is not None and self.few_shot.size < 1:
            raise ConfigError("few_shot.size must be at least 1")
        evaluation = self.evaluation
        if evaluation.select is not None and not (evaluation.every and self.data.eval):
            raise ConfigError("evaluation.select picks the best of the periodic evaluations: it needs "
                              "evaluation.every and data.eval")
        probes = self.probes
        for name, files in probes.xsr.items():
            if not (isinstance(files, (list, tuple)) and len(files) == 2):
                raise ConfigError(f"probes.xsr.{name}: expected [source file, target file]")
        if probes.size < 1 or probes.batch_size < 1 or (probes.skip is not None and probes.skip < 0):
            raise ConfigError("probes.size and probes.batch_size must be at least 1, probes.skip at least 0")
        self._check_self_teaching()

    def _check_self_teaching(self) -> None:
        teaching, task = self.self_teaching, self.task
        if teaching.write is not None or teaching.teacher is not None:
            if (task.name, task.head) not in self_teaching_tasks():
                raise ConfigError(f"self_teaching is wired for {', '.join('/'.join(t) for t in self_teaching_tasks())}"
                                  f", not {task.name}/{task.head}")
            if not self.data.translated:
                raise ConfigError("self_teaching needs data.translated (the translated training text the teacher "
                                  "predicts on and the student learns from)")
            if task_class(task.name, task.head).self_teaching_needs_filter and self.model.filter.local_layers is None:
                raise ConfigError(f"self_teaching for {task.name}/{task.head} reads one window per example, as a "
                                  "FILTER model does: set model.filter (teacher and student)")
            if teaching.teacher is not None and self.model.filter.local_layers is None and \
                    self.adaptation.plan_name != "to":
                raise ConfigError("a single-stream self-teaching student trains on the translated data only: use "
                                  "adaptation.name translate-train, or a FILTER student (model.filter)")
        if teaching.write is not None and (not teaching.write or "/" in teaching.write):
            raise ConfigError(f"self_teaching.write is a file name without '/', not {teaching.write!r}")
        if teaching.temperature <= 0:
            raise ConfigError(f"self_teaching.temperature must be positive, not {teaching.temperature}")
        for name in ("kl_weight", "label_weight"):
            value = getattr(teaching, name)
            if value is not None and value < 0:
                raise ConfigError(f"self_teaching.{name} must be at least 0, not {value}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
