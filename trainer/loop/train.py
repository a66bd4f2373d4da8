"""The one training loop: pretraining and fine-tuning alike (DESIGN.md, "One training loop").

``train(model, batches, config, output_dir)`` runs ``config.total_steps`` optimisation steps. One step is

1. ``grad_accum`` micro-steps: draw a batch, move its tensors to the device, forward under bf16 autocast (on
   CUDA), backward of ``loss / grad_accum``. Under DDP only the last micro-step all-reduces gradients
   (``no_sync`` on the others);
2. ``rule.before_optimizer_step`` (gradients are complete and averaged over ranks here), gradient
   clipping, the AdamW step, the linear warm-up/decay schedule, ``zero_grad``,
   ``rule.after_optimizer_step``;
3. every ``log_every`` steps, the mean of every ``loss`` / ``loss_*`` term over the window and the ranks,
   learning rate, gradient norm and tokens/s go to ``<output_dir>/metrics.jsonl`` (and TensorBoard when
   installed) and the progress bar; every ``eval_every`` steps an evaluation of the loss; then every hook's
   ``after_step`` (its records are logged the same way); every ``checkpoint_every`` steps (and at the end) a
   checkpoint (trainer/loop/checkpoint.py).

A run whose ``output_dir`` holds a complete checkpoint continues from it (``config.resume``) with the same
parameters, optimizer and schedule state, random states and data position, so it makes the same steps the
uninterrupted run would have made.

**What the loop trains.** An ``nn.Module`` with an ``encoder`` attribute (a transformers ``PreTrainedModel``)
whose ``forward(**batch)`` returns a mapping with a scalar ``"loss"`` and optionally more scalar terms named
``"loss_*"``. ``batches`` is any iterable of batch dicts (tensors are moved to the device, other values are
passed as they are); with ``state_dict``/``load_state_dict`` (``ResumableBatches``) its position is saved in
checkpoints. A finite iterable is restarted (with ``set_epoch`` when it has one) when it runs out.

**Step rules and hooks.** Two extension points customise a run without copying the loop. A ``StepRule`` (one
per run) decides how a micro-batch becomes a loss and how the gradient becomes an update; GEM and MTF
(trainer/adaptation/constraints.py) are step rules::

    class StepRule:
        def loss(self, model, batch) -> Mapping[str, Tensor]        # forward of one micro-batch
        def before_optimizer_step(self, module, optimizer, step)    # grads complete; may edit p.grad
        def after_optimizer_step(self, module, optimizer, step)     # parameters updated

``loss`` gets the (possibly DDP-wrapped) model, so its forward takes part in gradient synchronisation; the
other two get the bare module. ``LoopHook``s (trainer/loop/hooks.py; any number) observe and extend the run
around the rule: a hook names the batch entries it takes out before the forward (``batch_keys``) and may
add loss terms from them (``adjust_loss``: self-teaching's KL), and after each optimizer step it may return
records to log (``after_step``: task metrics on the dev data, model selection). Rules and hooks with state
save it via ``state_dict``/``load_state_dict`` (stored in the checkpoint's ``trainer_state.json``).
"""
from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from trainer.config import TrainConfig
from trainer.loop.checkpoint import latest_complete_checkpoint, load_checkpoint, save_checkpoint
from trainer.loop.distributed import DistributedContext, all_reduce_sum
from trainer.loop import progress
from trainer.loop.hooks import LoopHook, forward_with_hooks

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
METRICS_FILE = "metrics.jsonl"


class StepRule:
    """The default: plain forward/backward and an unmodified optimizer step. Subclass to customise.

    A rule with ``whole_step = True`` makes each step itself - ``step(model, module, batch, step, autocast)``
    returns its terms (a ``loss`` among them, and the ``tokens`` it read as a plain number) - and the loop neither differentiates nor steps its optimizer:
    MTL-WS's warm-up iterations are such steps (trainer/adaptation/mtl_ws.py). They still get the loop's
    batches, DDP (``model`` is the wrapped module), autocast, logging and checkpoints with exact resume."""

    whole_step = False

    def step(self, model: nn.Module, module: nn.Module, batch: dict, step: int,
             autocast: Callable[[], contextlib.AbstractContextManager]) -> Mapping[str, torch.Tensor]:
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: dict) -> Mapping[str, torch.Tensor]:
        return model(**batch)

    def before_optimizer_step(self, module: nn.Module, optimizer: torch.optim.Optimizer, step: int) -> None:
        pass

    def after_optimizer_step(self, module: nn.Module, optimizer: torch.optim.Optimizer, step: int) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@dataclass
class TrainResult:
    step: int  # the last optimizer step done
    records: list[dict] = field(default_factory=list)  # every metrics record of this process, in order
    checkpoint: Path | None = None  # the last checkpoint written
    resumed_from: Path | None = None


# ---- pieces of a step ------------------------------------------------------------------------------------

def loss_terms(output: Any) -> dict[str, torch.Tensor]:
    """The ``loss`` and ``loss_*`` entries of a module's output (a mapping or an object with attributes)."""
    items = output.items() if isinstance(output, Mapping) else vars(output).items()
    terms = {k: v for k, v in items if (k == "loss" or k.startswith("loss_")) and isinstance(v, torch.Tensor)}
    if "loss" not in terms:
        raise ValueError("the model's forward returned no 'loss' (training modules return a dict with a "
                         "scalar 'loss', trainer/loop/train.py)")
    return terms


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def build_optimizer(module: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; biases and normalisation weights (1-d tensors) without weight decay, as BERT/XLM-R train.

    The fused implementation (one kernel over all parameters, on CUDA and CPU alike) is several times faster
    than the default per-parameter loop on CPU (bench/train.py) and avoids a launch per tensor on GPUs."""
    params = [p for p in module.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    fused = device.type in ("cuda", "cpu") and all(p.is_floating_point() for p in params)
    return torch.optim.AdamW(groups, lr=config.lr, betas=tuple(config.adam_betas), eps=config.adam_eps,
                             fused=fused)


def linear_warmup_decay(optimizer: torch.optim.Optimizer, warmup_steps: int,
                        total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the peak learning rate over ``warmup_steps``, then linear decay to 0 at the end."""
    def factor(step: int) -> float:  # step: optimizer steps done so far
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def autocast_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA ("auto"), or where asked for; full precision otherwise."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def batch_tokens(batch: dict) -> int:
    """Non-padding tokens of a batch (counted on the CPU before the transfer, so it costs no device sync)."""
    if isinstance(batch.get("attention_mask"), torch.Tensor):
        return int(batch["attention_mask"].sum())
    ids = batch.get("input_ids")
    return ids.numel() if isinstance(ids, torch.Tensor) else 0


def _endless(batches: Iterable[dict]) -> Iterator[dict]:
    epoch = getattr(batches, "epoch", 0)
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ValueError("the training data yielded no batch")
        epoch += 1
        if hasattr(batches, "set_epoch"):
            batches.set_epoch(epoch)


class _Window:
    """Sums of loss terms and counts since the last log line, kept as device tensors (no sync per step)."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.micro_steps = self.steps = self.tokens = self.examples = 0
        self.counts: dict[str, int] = {}
        self.started = time.perf_counter()

    def add(self, terms: Mapping[str, torch.Tensor]) -> None:
        for key, value in terms.items():
            value = value.detach().float()
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.micro_steps += 1

    def add_counts(self, batch: dict, keys: Sequence[str]) -> None:
        """Sum per-example count tensors (``batch[key]``) or count dicts (``{name: n}``) of the batch."""
        for key in keys:
            value = batch.get(key)
            counts = value.items() if isinstance(value, Mapping) else [(key, value)] if value is not None else []
            for name, n in counts:
                self.counts[name] = self.counts.get(name, 0) + int(n.sum() if isinstance(n, torch.Tensor) else n)


class MetricsLog:
    """JSON lines (and TensorBoard when installed) on the main rank; a no-op on the others."""

    def __init__(self, output_dir: Path, enabled: bool, resume_step: int = 0):
        self.enabled, self.path, self.writer = enabled, output_dir / METRICS_FILE, None
        if not enabled:
            return
        output_dir.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            # Records past the step we resume from belong to the run that was killed; they are redone.
            lines = self.path.read_text(encoding="utf-8").splitlines()
            kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= resume_step]
            self.path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(output_dir / "tensorboard"), purge_step=resume_step + 1)
        except ImportError:
            self.writer = None

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step",):
                    self.writer.add_scalar(f"{record['split']}/{key}", value, record["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def append_record(path: Path, record: dict) -> None:
    """One more line of a metrics log, outside a running loop (records of a run's set-up, such as MTL-WS)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


class _RunProgress:
    """The run's bar or lines (trainer/loop/progress.py) and its records: a train record's loss terms and
    learning rate go with the step count; any other record (an evaluation's figures) is a line of its own.
    With progress off every record is a plain line, as the log had before there were bars."""

    def __init__(self, total: int, initial: int, enabled: bool):
        self.enabled = enabled
        self.bar = progress.Progress(total, "train", "step", initial=initial, announce=True, final=True,
                                     mode=None if enabled else "off")

    def update(self) -> None:
        self.bar.update(1)

    def show(self, record: dict) -> None:
        if not self.enabled:
            return
        if record["split"] == "train" and self.bar.mode != "off":
            self.bar.set_values({k: v for k, v in record.items() if k.startswith("loss") or k == "lr"})
        else:
            self.bar.write(_format(record))

    def close(self) -> None:
        self.bar.close()


def _format(record: dict) -> str:
    parts = [f"{record['split']} step {record['step']}"]
    parts += [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()
              if k not in ("split", "step")]
    return " | ".join(parts)


def _reduced_means(sums: dict[str, torch.Tensor], count: int, device: torch.device) -> dict[str, float]:
    """Means of ``sums`` over ``count`` items per rank and over all ranks (a collective when distributed)."""
    keys = sorted(sums, key=lambda k: (not k.startswith("loss"), k))  # the same order on every rank
    packed = torch.stack([sums[k].to(device) for k in keys] + [torch.tensor(float(count), device=device)])
    packed = all_reduce_sum(packed).tolist()
    return {k: v / max(packed[-1], 1.0) for k, v in zip(keys, packed[:-1])}


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[dict], ctx: DistributedContext, rule: StepRule,
             precision: str = "auto", max_batches: int | None = None,
             hooks: Sequence[LoopHook] = ()) -> dict[str, float]:
    """Mean loss terms over ``batches`` (each rank its own share), averaged over ranks. Every rank needs at
    least one batch (the reduction packs the loss terms it saw)."""
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    count = 0
    total = max_batches
    if total is None:
        try:
            total = len(batches)  # type: ignore[arg-type]
        except TypeError:  # a stream (an IterableDataset's loader): a count without a total
            total = None
    with progress.Progress(total, "eval loss", "batch", leave=False,
                           mode=None if ctx.is_main else "off") as shown:
        for batch in batches:
            if max_batches is not None and count >= max_batches:
                break
            with autocast_context(precision, ctx.device):
                terms = loss_terms(forward_with_hooks(rule, hooks, model, to_device(batch, ctx.device)))
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + value.detach().float()
            count += 1
            shown.update(1)
    model.train(was_training)
    if not sums:
        sums = {"loss": torch.zeros((), device=ctx.device)}
    return _reduced_means(sums, count, ctx.device)


def _maybe_no_sync(model: nn.Module, skip_sync: bool) -> contextlib.AbstractContextManager:
    if skip_sync and isinstance(model, DistributedDataParallel):
        return model.no_sync()
    return contextlib.nullcontext()


# ---- the loop ------------------------------------------------------------------------------------------

def train(model: nn.Module, batches: Iterable[dict], config: TrainConfig, output_dir: str | Path, *,
          ctx: DistributedContext | None = None, tokenizer: Any = None,
          eval_batches: Callable[[], Iterable[dict]] | None = None, rule: StepRule | None = None,
          hooks: Sequence[LoopHook] = (), grad_accum: int | None = None, resume_from: str | Path | None = None,
          run_info: dict | None = None, count_keys: Sequence[str] = ()) -> TrainResult:
    """Train ``model`` on ``batches`` for ``config.total_steps`` steps (see the module docstring).

    ``eval_batches`` makes a fresh iterable of evaluation batches; ``resume_from`` is an explicit checkpoint
    (default: the latest complete one under ``output_dir/checkpoints`` when ``config.resume``);
    ``run_info`` (e.g. the whole config) is stored in every checkpoint; ``count_keys`` are batch entries
    (per-example counts from the collator) whose sums are logged; ``rule`` and ``hooks``: see the module
    docstring."""
    ctx = ctx or DistributedContext()
    rule = rule or StepRule()
    hooks = list(hooks)
    accum = grad_accum or config.grad_accum
    output_dir = Path(output_dir)
    module = model.to(ctx.device)
    optimizer = build_optimizer(module, config, ctx.device)
    scheduler = linear_warmup_decay(optimizer, config.warmup_steps, config.total_steps)

    step, result = 0, TrainResult(step=0)
    if resume_from is None and config.resume:
        resume_from = latest_complete_checkpoint(output_dir / CHECKPOINTS)
    if resume_from is not None:
        state = load_checkpoint(resume_from, module, optimizer, scheduler, ctx=ctx)
        step, result.resumed_from = state.step, Path(resume_from)
        if state.data_state is not None and hasattr(batches, "load_state_dict"):
            batches.load_state_dict(state.data_state)
        elif state.data_state is not None:
            logger.warning("the batches have no load_state_dict: data restart from their beginning, so the "
                           "resumed run sees other batches than the interrupted one would have")
        rule.load_state_dict(state.extra.get("rule", {}))
        for n, hook in enumerate(hooks):
            hook.load_state_dict(state.extra.get("hooks", {}).get(str(n), {}))
        logger.info("resumed from %s at step %d", resume_from, step)

    ddp_model = module
    if ctx.distributed:
        ddp_model = DistributedDataParallel(module, device_ids=[ctx.device.index] if ctx.device.type == "cuda"
                                            else None)
    log = MetricsLog(output_dir, ctx.is_main, resume_step=step)
    # The run's setting holds for the rest of the process: the final evaluation after train() follows it.
    progress.configure(config.progress, config.progress_every_s, enabled=ctx.is_main)
    shown = _RunProgress(config.total_steps, step, ctx.is_main)
    stream = _endless(batches)
    window = _Window()
    module.train()

    def record(split: str, values: dict) -> None:
        entry = {"split": split, "step": step, **values}
        result.records.append(entry)
        log.write(entry)
        shown.show(entry)

    while step < config.total_steps:
        step += 1
        if rule.whole_step:  # the rule makes the whole step (MTL-WS's warm-up iteration): no optimizer step
            lr = 0.0
            terms = rule.step(ddp_model, module, to_device(next(stream), ctx.device), step,
                              lambda: autocast_context(config.precision, ctx.device))
            if not isinstance(terms.get("loss"), torch.Tensor):
                raise ValueError(f"{type(rule).__name__}.step returned no 'loss'")
            window.tokens += int(terms.get("tokens", 0))  # the inputs the rule read, counted on the CPU
            window.add({k: v for k, v in terms.items() if isinstance(v, torch.Tensor)})
        else:
            for micro_step in range(accum):
                batch = next(stream)
                window.tokens += batch_tokens(batch)
                window.add_counts(batch, count_keys)
                batch = to_device(batch, ctx.device)
                with _maybe_no_sync(ddp_model, skip_sync=micro_step < accum - 1):
                    with autocast_context(config.precision, ctx.device):
                        terms = loss_terms(forward_with_hooks(rule, hooks, ddp_model, batch))
                    (terms["loss"] / accum if accum > 1 else terms["loss"]).backward()
                window.add(terms)

            rule.before_optimizer_step(module, optimizer, step)
            if config.max_grad_norm:
                grad_norm = torch.nn.utils.clip_grad_norm_(module.parameters(), config.max_grad_norm)
                # Weighted by accum: the window's means divide by micro-steps, and this is one value per step.
                window.sums["grad_norm"] = window.sums.get("grad_norm", 0.0) + grad_norm.detach().float() * accum
            lr = scheduler.get_last_lr()[0]  # the rate this step uses
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            rule.after_optimizer_step(module, optimizer, step)
        window.steps += 1

        if step % config.log_every == 0 or step == config.total_steps:
            values = _reduced_means(window.sums, window.micro_steps, ctx.device)
            totals = all_reduce_sum(torch.tensor([window.tokens, *window.counts.values()],
                                                 dtype=torch.float64, device=ctx.device)).tolist()
            elapsed = time.perf_counter() - window.started
            values.update(lr=lr, tokens=int(totals[0]),
                          tokens_per_s=totals[0] / max(elapsed, 1e-9),
                          **{key: int(n) for key, n in zip(window.counts, totals[1:])})
            record("train", values)
            window = _Window()
        shown.update()  # after the step's record: its progress line shows this step's loss

        if eval_batches is not None and config.eval_every and (
                step % config.eval_every == 0 or step == config.total_steps):
            record("eval", evaluate(module, eval_batches(), ctx, rule, config.precision,
                                    config.eval_max_batches, hooks))
        for hook in hooks:
            for split, values in (hook.after_step(module, step, config.total_steps) or {}).items():
                record(split, values)

        every = config.checkpoint_every
        if (every > 0 and step % every == 0) or (every >= 0 and step == config.total_steps):
            extra = {"run": run_info or {}}
            rule_state = rule.state_dict()
            if rule_state:
                extra["rule"] = rule_state
            hook_states = {str(n): hook.state_dict() for n, hook in enumerate(hooks) if hook.state_dict()}
            if hook_states:
                extra["hooks"] = hook_states
            result.checkpoint = save_checkpoint(
                output_dir / CHECKPOINTS, step, module, optimizer, scheduler, ctx=ctx, tokenizer=tokenizer,
                data_state=batches.state_dict() if hasattr(batches, "state_dict") else None,
                extra=extra, keep_last=config.keep_last)
        if window.steps == 0:
            window.started = time.perf_counter()  # evaluation and saving are not training time

    shown.close()
    log.close()
    result.step = step
    return result

