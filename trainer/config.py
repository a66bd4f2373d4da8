"""Training configuration: plain dataclasses, read from YAML, with ``section.key=value`` overrides.

A config file mirrors ``PretrainConfig`` (sections ``model``, ``tokenizer``, ``data``, ``train``,
``objective`` and the top-level ``output_dir``). Values are converted to the field's declared type, so
``lr: 1e-5`` (a string to YAML 1.1) is a float and ``train.lr=2e-5`` on the command line works the same way.
An unknown key is an error that names it (and the file), never silently ignored.

Batch sizes: ``data.batch_size`` is what one rank feeds the model in one forward pass (a micro-batch). The
optimizer sees ``batch_size x grad_accum x world_size`` examples per step; set ``train.global_batch_size`` to
a paper's batch size and ``grad_accum`` follows from the world size of the launch.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from schemas.errors import UserError


class ConfigError(UserError, ValueError):
    """A configuration that cannot be used, with where it came from."""


@dataclass
class ModelConfig:
    # A pretrained encoder: local directory or model name (loaded with from_pretrained; nothing downloads
    # here, so a name must already be in the local cache).
    name_or_path: str | None = None
    # Or a randomly initialised encoder: transformers config fields, with ``model_type`` (bert,
    # xlm-roberta, ...). ``vocab_size`` and the special token ids are taken from the tokenizer.
    from_scratch: dict[str, Any] | None = None

    def check(self) -> None:
        if (self.name_or_path is None) == (self.from_scratch is None):
            raise ConfigError("set exactly one of model.name_or_path and model.from_scratch")
        if self.from_scratch is not None and "model_type" not in self.from_scratch:
            raise ConfigError("model.from_scratch needs a model_type (bert, xlm-roberta, ...)")
        self.check_pretrained()

    def check_pretrained(self) -> None:
        """A local checkpoint directory must hold weights of the model its ``config.json`` names: otherwise
        ``from_pretrained`` builds that model type, initialises every weight it does not find at random (with
        a warning only), and the run trains noise."""
        directory = Path(self.name_or_path) if self.name_or_path else None
        if directory is not None and not (directory / "model.safetensors").is_file() and \
                any(directory.glob("pytorch_model*.bin")):
            # Never unpickled: a pickle can run any code when loaded, and a model folder can come from anywhere.
            raise ConfigError(f"{next(directory.glob('pytorch_model*.bin'))}: pickled weights; the trainer reads "
                              "safetensors only (re-save the model with save_pretrained(safe_serialization=True))")
        if directory is None or not (directory / "config.json").is_file() or \
                not (directory / "model.safetensors").is_file():
            return  # a hub name or sharded weights: from_pretrained's own checks apply
        import torch
        from safetensors import safe_open
        from transformers import AutoConfig, AutoModel
        try:
            config = AutoConfig.from_pretrained(directory, trust_remote_code=False)  # never the folder's code
            with torch.device("meta"):  # the parameter names only: no memory, no initialisation
                expected = set(AutoModel.from_config(config, trust_remote_code=False).state_dict())
        except (ValueError, KeyError) as err:
            raise ConfigError(f"{directory / 'config.json'}: {err}") from None
        with safe_open(str(directory / "model.safetensors"), framework="pt") as weights:
            saved = set(weights.keys())
        # A masked-LM checkpoint prefixes the encoder's names ("bert.embeddings..."): compare without it.
        saved |= {name.split(".", 1)[1] for name in saved if "." in name}
        found = len(expected & saved)
        if found < len(expected) / 2:  # a pooler or a tied head may be absent; most of the encoder may not
            raise ConfigError(f"{directory / 'config.json'}: model_type {config.model_type!r}, but "
                              f"{directory / 'model.safetensors'} holds only {found} of its {len(expected)} "
                              "weights: the weights of another model type")


@dataclass
class TokenizerConfig:
    # A tokenizer directory or name; None: the model's name_or_path, or a trained one (train_vocab_size).
    path: str | None = None
    # Train a WordPiece tokenizer of about this many pieces on the text columns of the training shards
    # (tiny from-scratch models, the demo and tests).
    train_vocab_size: int | None = None
    train_max_rows: int = 100_000
    lowercase: bool = True

    def check(self, model: ModelConfig) -> None:
        """A from-scratch ``model`` has no tokenizer of its own: this section must name or train one."""
        if model.from_scratch is not None and self.path is None and self.train_vocab_size is None:
            raise ConfigError("a from-scratch model needs tokenizer.path or tokenizer.train_vocab_size")


@dataclass
class DataConfig:
    train: list[str] = field(default_factory=list)  # dataset directories (local or fsspec/pyarrow URIs)
    weights: list[float] | None = None  # mixing weight per directory; None: equal
    eval: list[str] = field(default_factory=list)
    batch_size: int = 8  # per rank and micro-step
    eval_batch_size: int | None = None  # None: batch_size
    num_workers: int = 0  # dataloader worker processes per rank
    shuffle_buffer: int = 4096
    max_length: int = 384  # tokens of one model input (CLISM: of one sentence)
    max_query_length: int = 64  # tokens of an MRC query

    def check(self) -> None:
        if not self.train:
            raise ConfigError("data.train lists no dataset directory")
        if self.weights is not None and len(self.weights) != len(self.train):
            raise ConfigError(f"data.weights has {len(self.weights)} values for {len(self.train)} data.train "
                              "directories")
        if self.batch_size < 1:
            raise ConfigError("data.batch_size must be at least 1")


@dataclass
class TrainConfig:
    lr: float = 1e-5
    weight_decay: float = 0.01
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    adam_eps: float = 1e-8
    warmup_steps: int = 0
    total_steps: int = 1000
    grad_accum: int = 1
    global_batch_size: int | None = None  # when set, grad_accum = global / (batch_size x world size)
    max_grad_norm: float | None = 1.0  # None or 0: no clipping
    seed: int = 0
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU), bf16 or fp32
    log_every: int = 10
    eval_every: int = 0  # 0: never during training
    eval_max_batches: int | None = None
    checkpoint_every: int = 0  # 0: only at the end; negative: never (benchmarks)
    keep_last: int = 3  # complete checkpoints kept; 0 keeps all
    resume: bool = True  # continue from the latest complete checkpoint under output_dir
    # auto: a bar on a terminal, plain lines otherwise (log files, CI, SLURM); bar, lines or off to choose
    progress: str = "auto"
    progress_every_s: float = 30.0  # lines: at most this long between two (and one per 10 % done)

    def __post_init__(self) -> None:
        if str(self.progress).lower() == "false":  # YAML reads a bare `off` as false
            self.progress = "off"

    def check(self) -> None:
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ConfigError(f"train.precision must be auto, bf16 or fp32, not {self.precision!r}")
        if self.progress not in ("auto", "bar", "lines", "off"):
            raise ConfigError(f"train.progress must be auto, bar, lines or off, not {self.progress!r}")
        if self.progress_every_s < 0:
            raise ConfigError("train.progress_every_s must not be negative")
        for name in ("total_steps", "grad_accum", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be at least 1")
        if not self.lr > 0:  # also NaN: a rate of 0 runs every step, logs losses and changes no weight
            raise ConfigError(f"train.lr must be positive, not {self.lr!r} (with lr 0 a run trains nothing)")
        if self.warmup_steps > self.total_steps:
            raise ConfigError("train.warmup_steps is larger than train.total_steps")


# The train keys a resumed run may change: how often it logs, evaluates its loss and saves, how many checkpoints it
# keeps, its progress display, and total_steps - raising it continues a finished run (the linear decay is then
# recomputed over the new total from the next step on, so the rate jumps up once; the command logs it).
TRAIN_MAY_DIFFER = ("train.total_steps", "train.log_every", "train.eval_every", "train.eval_max_batches",
                    "train.checkpoint_every", "train.keep_last", "train.resume", "train.progress",
                    "train.progress_every_s")


@dataclass
class ObjectiveConfig:
    name: str = "wae"
    # Objective-specific options, checked by the objective (e.g. loss weights, max_span_length).
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class RuntimeConfig:
    """How the process runs, not what it computes: a resumed run may change it (``RESUME_MAY_DIFFER``)."""

    # torch's CPU threads per process (trainer/loop/threads.py); 0: OMP_NUM_THREADS when set, else the CPUs this
    # process may use divided by the processes of its node (torchrun's LOCAL_WORLD_SIZE), at least 1.
    threads: int = 0

    def check(self) -> None:
        if self.threads < 0:
            raise ConfigError(f"runtime.threads must be 0 (auto) or a number of threads, not {self.threads}")


@dataclass
class PretrainConfig:
    output_dir: str = "out/pretrain"
    model: ModelConfig = field(default_factory=ModelConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    # Keys a run resumed from a checkpoint may change (trainer/loop/resume.py): where it writes, how it runs, how
    # often it logs, evaluates and saves, and the evaluation data (pretraining only logs their loss). Any other
    # difference - model, tokenizer, training data, optimisation, objective - is refused.
    RESUME_MAY_DIFFER = ("output_dir", "runtime") + TRAIN_MAY_DIFFER + ("data.eval", "data.eval_batch_size")

    def check(self) -> None:
        """Each section's own checks, and the tokenizer against the model; changes nothing."""
        self.model.check()
        self.tokenizer.check(self.model)
        self.data.check()
        self.train.check()
        self.runtime.check()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def resolve_grad_accum(train: TrainConfig, batch_size: int, world_size: int) -> int:
    """Micro-steps per optimizer step: ``train.grad_accum``, or what ``global_batch_size`` asks for."""
    if train.global_batch_size is None:
        return train.grad_accum
    per_step = batch_size * world_size
    if train.global_batch_size % per_step:
        raise ConfigError(f"train.global_batch_size {train.global_batch_size} is not a multiple of "
                          f"data.batch_size {batch_size} x {world_size} rank(s)")
    return train.global_batch_size // per_step


# ---- building dataclasses from plain values ----------------------------------------------------------------

def _type_name(type_: Any) -> str:
    return getattr(type_, "__name__", None) or str(type_).replace("typing.", "")


def _coerce(value: Any, type_: Any, key: str) -> Any:
    """``value`` as ``type_`` (the subset of types the config uses), or a ConfigError naming ``key``."""
    origin, args = typing.get_origin(type_), typing.get_args(type_)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.lower() in ("none", "null", "~") and type(None) in args:
            return None
        problems = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, key)
            except ConfigError as err:
                problems.append(str(err))
        raise ConfigError(problems[0] if len(problems) == 1 else f"{key}: cannot read {value!r} as {type_}")
    if dataclasses.is_dataclass(type_):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {_type_name(type_)} fields, got {value!r}")
        return build(type_, value, prefix=f"{key}.")
    if origin is list:
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip().startswith("[") else [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [_coerce(item, args[0] if args else Any, f"{key}[{n}]") for n, item in enumerate(value)]
    if origin is dict or type_ is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if type_ is Any:
        return value
    if type_ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.lower() in ("true", "yes", "on", "1")
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if type_ in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            number = float(value) if type_ is float else int(str(value).replace("_", ""))
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected {'a number' if type_ is float else 'an integer'}, "
                              f"got {value!r}") from None
        return number
    if type_ is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{key}: unsupported config type {type_}")


def build(cls: type, values: dict, prefix: str = "") -> Any:
    """An instance of dataclass ``cls`` from a (nested) dict; unknown keys are errors naming the key."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in values if k not in names]
    _check_renamed(cls, unknown, prefix)
    if unknown:
        raise ConfigError(f"unknown key '{prefix}{unknown[0]}' (known in {prefix.rstrip('.') or 'the top level'}: "
                          f"{', '.join(names)})")
    return cls(**{k: _coerce(v, hints[k], f"{prefix}{k}") for k, v in values.items()})


def _check_renamed(cls: type, keys: list[str], prefix: str) -> None:
    """A key a config class lists in its ``RENAMED`` (old key -> where it went) is an error that says where."""
    for key in keys:
        if key in getattr(cls, "RENAMED", {}):
            raise ConfigError(f"'{prefix}{key}' is gone: {cls.RENAMED[key]}")


def apply_overrides(values: dict, overrides: list[str], cls: type = None) -> dict:
    """``values`` with each ``a.b.c=value`` set (value read as YAML: numbers, lists, null, true/false).
    Keys are checked against ``cls`` so a typo is an error naming the key."""
    result = _deep_copy(values)
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {override!r} is not key=value (e.g. train.lr=2e-5)")
        key, raw = override.split("=", 1)
        path = key.strip().split(".")
        if cls is not None:
            _check_path(cls, path, key)
        try:
            value = read_yaml(raw) if raw.strip() else ""
        except DuplicateKeyError as err:
            raise ConfigError(f"override {override!r}: {err.problem}") from None
        except yaml.YAMLError:
            value = raw
        target = result
        for part in path[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[path[-1]] = value
    return result


def _check_path(cls: type, path: list[str], key: str) -> None:
    current: Any = cls
    for depth, part in enumerate(path):
        if not (isinstance(current, type) and dataclasses.is_dataclass(current)):
            # Inside a free-form mapping (objective.options, model.from_scratch): anything goes here; the
            # objective or transformers checks it.
            return
        hints = typing.get_type_hints(current)
        if part not in hints:
            _check_renamed(current, [part], ".".join(path[:depth]) + "." if depth else "")
            where = ".".join(path[:depth]) or "the top level"
            raise ConfigError(f"unknown key '{key}' (known in {where}: {', '.join(hints)})")
        current = hints[part]
        if typing.get_origin(current) in (typing.Union, types.UnionType):
            current = next((a for a in typing.get_args(current) if a is not type(None)), current)


def _deep_copy(values: dict) -> dict:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in values.items()}


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping that gives one key twice: YAML would keep the last value without a word."""

    def __init__(self, key: Any, first: yaml.Mark, again: yaml.Mark):
        where = (f"lines {first.line + 1} and {again.line + 1}" if first.line != again.line else
                 f"line {again.line + 1}, columns {first.column + 1} and {again.column + 1}")
        super().__init__(problem=f"key {key!r} given twice ({where}): a key takes one value", problem_mark=again)


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping, at any depth (a merge key ``<<``
    may still be overridden: that is what it is for)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: the base class says what is wrong with it
                    continue
                if first is not key_node.start_mark:
                    raise DuplicateKeyError(key, first, key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def read_yaml(text: str) -> Any:
    """``text`` as YAML (the safe subset), a key given twice in one mapping being a ``DuplicateKeyError``."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


def load_config(path: str | Path | None, overrides: list[str] = (), cls: type = PretrainConfig) -> Any:
    """The config in YAML file ``path`` (None: the defaults) with ``overrides`` applied, completed (a config
    class's ``complete()`` fills in the values that follow from other fields) and checked (its ``check()``,
    which raises a ``ConfigError`` and changes nothing). A default lives in the dataclass field only."""
    values: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found")
        try:
            values = read_yaml(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as err:
            raise ConfigError(f"{path}: byte {err.object[err.start:err.start + 1]!r} at offset {err.start} is not "
                              "UTF-8 (a config is a UTF-8 YAML file)") from None
        except DuplicateKeyError as err:
            raise ConfigError(f"{path}:{err.problem_mark.line + 1}: {err.problem}") from None
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            raise ConfigError(f"{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
    merged = apply_overrides(values, list(overrides), cls)  # an unknown override key is named as given
    try:
        config = build(cls, merged)
    except ConfigError as err:
        where = f"{path}{' with overrides' if overrides else ''}: " if path is not None else ""
        raise ConfigError(f"{where}{err}") from None
    # Completing (values whose default depends on other fields) and checking are apart: check() only raises.
    if hasattr(config, "complete"):
        config.complete()
    if hasattr(config, "check"):
        config.check()
    return config


def dump_config(config: Any) -> str:
    return yaml.safe_dump(dataclasses.asdict(config), sort_keys=False)
