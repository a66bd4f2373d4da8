"""GEM-constrained fine-tuning (paper 003) and its baselines, as strategies for the training loop.

Paper 003 fine-tunes a multilingual encoder on a task while keeping the loss on episodic memories of what the
pretrained model could do - MLM and cross-lingual sentence retrieval (XSR) - from rising (eq. 2-3). GEM
(Lopez-Paz & Ranzato 2017) turns each memory k into a constraint on the update direction: with the task
gradient g and the memory gradient g_k, the update must satisfy <g̃, g_k> >= 0 for every k. When g already does,
g̃ = g; otherwise g̃ is the closest vector to g (Euclidean) that does:

    minimise_z ½‖z - g‖²   subject to   G z >= 0          (G: the memory gradients as rows)

whose dual is the small non-negative quadratic programme

    minimise_v ½ vᵀ (G Gᵀ) v + (G g)ᵀ v   subject to   v >= 0,      g̃ = Gᵀ v + g.

With one violated constraint the answer is closed form, g̃ = g - (<g, g_k>/‖g_k‖²) g_k. With several, the dual is
solved exactly by Lawson-Hanson's active-set NNLS on the k x k Gram matrix (finite termination; k is the number
of memories, 1-3 in paper 003), so no QP library is needed. The Gram matrix and <G, g> are accumulated in float64
over chunks of the flat gradients, which keeps the tiny dual problem accurate even for 10^8-10^9 parameters.
GEM's reference code adds a ``margin`` (its "memory strength"): v >= margin instead of v >= 0 once a projection
happens, pushing the update further towards the memories; 0 (the default) is the exact minimal change.

Strategies are ``trainer.loop.Strategy`` subclasses: the loop calls ``before_optimizer_step(module, optimizer,
step)`` once per optimisation step, after gradient accumulation and the DDP all-reduce and before clipping, with
the task gradients in ``.grad``; the hook rewrites them in place. The previous step's memory losses and
projection figures come back through ``loss`` as ``loss_*`` terms, so the loop's metrics log shows them.

- ``GemStrategy(memories)``: GEM w/ MLM, w/ XSR, or w/ both, depending on the memories given.
- ``MultiTaskFineTuning(memories, weights)``: MTF - the memory losses added to the task loss (their gradients
  added to ``.grad``), the paper's multi-task baseline.
- ``freeze_lower_layers(model, n)``: the partially frozen baseline (embeddings and the lowest n layers).
- Naive fine-tuning: no strategy at all.

Memory gradients are taken with ``torch.autograd.grad`` (never ``backward``), so ``.grad`` is untouched until the
projection is written back and DDP's gradient hooks do not fire. By default GEM evaluates memories in eval mode
(no dropout): the constraint is on the memory loss itself (eq. 1) rather than a noisy sample of it, every rank
computes the same memory gradient from the same memory batch, and no random numbers are drawn, so a step with no
violated constraint is exactly a plain step. A memory serves batch ``step % len(batches)`` at each step, so a
resumed run sees the same memory batches.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, ContextManager, Mapping, Protocol, Sequence

import numpy as np
import torch
from torch import nn

from trainer.loop import Strategy
from trainer.mlm_masking import MaskingConfig
from trainer.mlm_probe import MaskedLanguageModel, build_mlm_batches
from trainer.retrieval import sentence_embeddings, tokenize_batch, xsr_contrastive_loss

# Elements per chunk when dot products are accumulated in float64 (bounds the temporary float64 copies).
_DOT_CHUNK = 1 << 24


# --------------------------------------------------------------------------------------------- flat gradients

def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the optimizer updates (``requires_grad``), in a fixed order, each once."""
    return [p for p in model.parameters() if p.requires_grad]


def flatten_gradients(parameters: Sequence[nn.Parameter], gradients: Sequence[torch.Tensor | None] | None = None
                      ) -> torch.Tensor:
    """One flat float32 vector of ``gradients`` (default: each parameter's ``.grad``); a missing gradient
    counts as zeros."""
    if gradients is None:
        gradients = [p.grad for p in parameters]
    if not parameters:
        raise ValueError("no trainable parameters")
    device = parameters[0].device
    return torch.cat([(torch.zeros(p.numel(), device=device) if grad is None else grad.reshape(-1).float())
                      for p, grad in zip(parameters, gradients)])


def assign_flat_gradient(parameters: Sequence[nn.Parameter], flat: torch.Tensor) -> None:
    """Writes ``flat`` back into each parameter's ``.grad`` (allocating it where missing)."""
    total = sum(p.numel() for p in parameters)
    if flat.numel() != total:
        raise ValueError(f"flat gradient has {flat.numel()} elements, the parameters {total}")
    offset = 0
    for p in parameters:
        piece = flat[offset:offset + p.numel()].view_as(p).to(p.dtype)
        if p.grad is None:
            p.grad = piece.clone()
        else:
            p.grad.copy_(piece)
        offset += p.numel()


def _dots64(rows: torch.Tensor, vector: torch.Tensor) -> np.ndarray:
    """``rows @ vector`` accumulated in float64 over chunks."""
    out = torch.zeros(rows.shape[0], dtype=torch.float64, device=rows.device)
    for start in range(0, vector.numel(), _DOT_CHUNK):
        out += rows[:, start:start + _DOT_CHUNK].double() @ vector[start:start + _DOT_CHUNK].double()
    return out.cpu().numpy()


def _gram64(rows: torch.Tensor) -> np.ndarray:
    out = torch.zeros((rows.shape[0], rows.shape[0]), dtype=torch.float64, device=rows.device)
    for start in range(0, rows.shape[1], _DOT_CHUNK):
        chunk = rows[:, start:start + _DOT_CHUNK].double()
        out += chunk @ chunk.T
    return out.cpu().numpy()


# ------------------------------------------------------------------------------------------- the projection

def solve_gem_dual(gram: np.ndarray, linear: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Exact minimiser of ½ vᵀ P v + qᵀ v subject to v >= margin (P = G Gᵀ positive semidefinite, q = G g).

    Lawson-Hanson active-set NNLS written on the normal equations (P, -q): it adds the coordinate with the most
    negative gradient to the passive set, solves the unconstrained problem on that set, and steps back to the
    feasible boundary when a coordinate would turn negative. A singular P (parallel or zero memory gradients) is
    handled by least squares on the passive set."""
    gram = np.asarray(gram, dtype=np.float64)
    linear = np.asarray(linear, dtype=np.float64)
    k = linear.shape[0]
    if gram.shape != (k, k):
        raise ValueError(f"Gram matrix of shape {gram.shape} for {k} constraints")
    # v = margin + u with u >= 0 moves the margin into the linear term.
    linear = linear + gram @ np.full(k, float(margin))
    # The minimiser is unchanged by scaling the objective; scaling keeps the tolerances meaningful whatever the
    # gradients' magnitude.
    scale = max(float(np.max(np.abs(np.diag(gram)))), float(np.max(np.abs(linear))), 1e-300)
    gram, linear = gram / scale, linear / scale
    tolerance = 1e-12 * max(1.0, float(np.max(np.abs(gram))))
    solution = np.zeros(k)
    passive = np.zeros(k, dtype=bool)
    negative_gradient = -(gram @ solution + linear)
    for _ in range(3 * k + 10):
        candidates = ~passive & (negative_gradient > tolerance)
        if not candidates.any():
            break
        passive[np.argmax(np.where(candidates, negative_gradient, -np.inf))] = True
        for _ in range(3 * k + 10):
            trial = np.zeros(k)
            index = np.flatnonzero(passive)
            trial[index] = np.linalg.lstsq(gram[np.ix_(index, index)], -linear[index], rcond=None)[0]
            if np.all(trial[index] > tolerance):
                solution = trial
                break
            blocking = index[trial[index] <= tolerance]
            steps = solution[blocking] / np.maximum(solution[blocking] - trial[blocking], 1e-300)
            alpha = float(np.min(steps))
            solution = solution + alpha * (trial - solution)
            passive &= solution > tolerance
            solution[~passive] = 0.0
        negative_gradient = -(gram @ solution + linear)
    return solution + float(margin)


@dataclass
class GemProjection:
    gradient: torch.Tensor  # g̃ (g itself, the same tensor, when nothing was violated)
    projected: bool
    violated: int  # constraints with <g, g_k> < 0 before projection
    dots_before: np.ndarray  # <g, g_k>
    dots_after: np.ndarray  # <g̃, g_k>
    dual: np.ndarray  # v (zeros when not projected)
    memory_norms: np.ndarray  # ‖g_k‖, to judge <g̃, g_k> against rounding

    def constraints_hold(self, relative_tolerance: float = 1e-5) -> bool:
        """<g̃, g_k> >= -tolerance · ‖g̃‖ · ‖g_k‖ for every memory (float32 rounding allowed for)."""
        scale = float(self.gradient.double().norm()) * self.memory_norms
        return bool(np.all(self.dots_after >= -relative_tolerance * scale))


def _as_rows(memories: torch.Tensor | Sequence[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    if isinstance(memories, torch.Tensor):
        rows = memories.reshape(1, -1) if memories.dim() == 1 else memories
    else:
        rows = torch.stack([m.reshape(-1) for m in memories]) if len(memories) else like.new_zeros((0, like.numel()))
    if rows.shape[1] != like.numel():
        raise ValueError(f"memory gradients have {rows.shape[1]} elements, the task gradient {like.numel()}")
    return rows.to(device=like.device, dtype=like.dtype)


def gem_projection(gradient: torch.Tensor, memories: torch.Tensor | Sequence[torch.Tensor],
                   margin: float = 0.0) -> GemProjection:
    """GEM's projection of the flat task gradient onto {z : <z, g_k> >= 0 for all k}, with details."""
    g = gradient.reshape(-1)
    rows = _as_rows(memories, g)
    k = rows.shape[0]
    dots = _dots64(rows, g) if k else np.zeros(0)
    violated = int(np.sum(dots < 0))
    if violated == 0:
        norms = np.sqrt(np.array([_dots64(row[None], row)[0] for row in rows]))
        return GemProjection(gradient, False, 0, dots, dots, np.zeros(k), norms)
    gram = _gram64(rows)
    if k == 1 and margin == 0.0:
        # The closed form of the single-constraint case (paper 003 §3.1 with n = 2).
        dual = np.array([-dots[0] / gram[0, 0]])
    else:
        dual = solve_gem_dual(gram, dots, margin)
    projected = g.clone()
    for weight, row in zip(dual.tolist(), rows):
        if weight:
            projected.add_(row, alpha=weight)
    return GemProjection(projected.view_as(gradient), True, violated, dots, _dots64(rows, projected), dual,
                         np.sqrt(np.diag(gram)))


def project_gradient(gradient: torch.Tensor, memories: torch.Tensor | Sequence[torch.Tensor],
                     margin: float = 0.0) -> torch.Tensor:
    """g̃: ``gradient`` unchanged when <g, g_k> >= 0 for every memory gradient g_k, otherwise the closest vector
    satisfying all constraints (closed form for one memory, GEM's dual QP for several)."""
    return gem_projection(gradient, memories, margin).gradient


# ------------------------------------------------------------------------------------------------- memories

class EpisodicMemory(Protocol):
    """One remembered task: a name (for logs) and its loss on the current model at a given step."""

    name: str

    def loss(self, model: nn.Module, step: int) -> torch.Tensor: ...


def unwrap(model: nn.Module) -> nn.Module:
    """The training module inside a DDP / FSDP-style wrapper (``.module``), or the module itself."""
    return getattr(model, "module", model)


def _to_device(batch: dict, device: torch.device) -> dict:
    return {key: value.to(device) for key, value in batch.items() if isinstance(value, torch.Tensor)}


class MLMMemory:
    """An MLM memory: pre-masked batches scored by an MLM head on the training module's encoder.

    Build ``masked_lm`` with ``MaskedLanguageModel.from_masked_lm(pretrained_masked_lm, model.encoder)`` so the
    head's decoder is the encoder's word embeddings. One memory is one constraint: give one memory per language
    for per-language constraints, or one memory over mixed languages (paper 003's "MLM (all)")."""

    def __init__(self, masked_lm: MaskedLanguageModel, batches: Sequence[dict], name: str = "mlm"):
        if not batches:
            raise ValueError(f"memory {name!r} has no batches")
        self.masked_lm, self.batches, self.name = masked_lm, list(batches), name

    @classmethod
    def from_sentences(cls, masked_lm: MaskedLanguageModel, tokenizer, sentences: Sequence[tuple[str, str]], *,
                       name: str = "mlm", seed: int = 0, batch_size: int = 16, max_length: int = 128,
                       masking: MaskingConfig | None = None) -> "MLMMemory":
        """``(sentence id, text)`` pairs, masked once, deterministically by ``(seed, id)``; batch size 16 is
        paper 003's (Appendix A)."""
        return cls(masked_lm, build_mlm_batches(tokenizer, sentences, seed=seed, batch_size=batch_size,
                                                max_length=max_length, masking=masking), name)

    def loss(self, model: nn.Module, step: int) -> torch.Tensor:
        if self.masked_lm.encoder is not unwrap(model).encoder:
            raise ValueError(f"memory {self.name!r}: its MLM head is bound to another encoder than the model's; "
                             "build it with MaskedLanguageModel.from_masked_lm(masked_lm, model.encoder)")
        batch = self.batches[step % len(self.batches)]
        device = self.masked_lm.encoder.device
        # The head is not part of the training module, so the loop's ``model.to(device)`` did not move it.
        self.masked_lm.head.to(device)
        return self.masked_lm(**_to_device(batch, device))["loss"]


class XSRMemory:
    """An XSR memory: batches of parallel sentence pairs; loss = InfoNCE between the mean-pooled encoder states
    of each side (``trainer/retrieval.py``)."""

    def __init__(self, batches: Sequence[tuple[dict, dict]], name: str = "xsr", temperature: float = 0.05,
                 layer: int | None = None):
        if not batches:
            raise ValueError(f"memory {name!r} has no batches")
        if any(source["input_ids"].shape[0] < 2 for source, _ in batches):
            raise ValueError(f"memory {name!r}: an XSR batch needs at least two pairs (in-batch negatives)")
        self.batches, self.name, self.temperature, self.layer = list(batches), name, temperature, layer

    @classmethod
    def from_pairs(cls, tokenizer, pairs: Sequence[tuple[str, str]], *, name: str = "xsr", batch_size: int = 16,
                   max_length: int = 128, temperature: float = 0.05, layer: int | None = None) -> "XSRMemory":
        """``(source, target)`` sentence pairs in order, ``batch_size`` pairs per batch; a last batch of one pair
        is dropped (it has no negative)."""
        batches = []
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            if len(chunk) < 2:
                continue
            batches.append((tokenize_batch(tokenizer, [s for s, _ in chunk], max_length),
                            tokenize_batch(tokenizer, [t for _, t in chunk], max_length)))
        return cls(batches, name, temperature, layer)

    def loss(self, model: nn.Module, step: int) -> torch.Tensor:
        encoder = unwrap(model).encoder
        source, target = self.batches[step % len(self.batches)]
        device = next(encoder.parameters()).device
        return xsr_contrastive_loss(sentence_embeddings(encoder, layer=self.layer, **_to_device(source, device)),
                                    sentence_embeddings(encoder, layer=self.layer, **_to_device(target, device)),
                                    self.temperature)


class CallableMemory:
    """Any loss as a memory: ``function(model, step) -> scalar``."""

    def __init__(self, name: str, function: Callable[[nn.Module, int], torch.Tensor]):
        self.name, self.function = name, function

    def loss(self, model: nn.Module, step: int) -> torch.Tensor:
        return self.function(model, step)


# ----------------------------------------------------------------------------------------------- strategies

@contextlib.contextmanager
def _mode(model: nn.Module, training: bool | None):
    """Temporarily puts ``model`` in train/eval mode (None: leave it)."""
    if training is None or model.training == training:
        yield
        return
    was = model.training
    model.train(training)
    try:
        yield
    finally:
        model.train(was)


class _MemoryGradients(Strategy):
    """What GEM and MTF share: evaluating memories and their gradients over the trainable parameters, and
    reporting the last step's figures to the loop's log."""

    def __init__(self, memories: Sequence[EpisodicMemory], memory_training_mode: bool | None,
                 autocast: Callable[[], ContextManager] | None):
        if not memories:
            raise ValueError("a memory strategy needs at least one memory")
        names = [m.name for m in memories]
        if len(set(names)) != len(names):
            raise ValueError(f"memory names must be distinct, got {names}")
        self.memories = list(memories)
        self.memory_training_mode = memory_training_mode
        self.autocast = autocast
        self.last_stats: dict[str, float] = {}

    def loss(self, model: nn.Module, batch: dict) -> Mapping[str, torch.Tensor]:
        """The model's forward, plus the previous step's memory figures as ``loss_*`` terms while training
        (the loop logs every ``loss_*`` term and back-propagates only ``loss``; these are plain numbers)."""
        output = model(**batch)
        if not model.training or not self.last_stats:
            return output
        terms = dict(output.items()) if isinstance(output, Mapping) else dict(vars(output))
        loss = terms["loss"]
        for key, value in self.last_stats.items():
            terms[f"loss_{key}"] = torch.tensor(value, device=loss.device)
        return terms

    def memory_gradients(self, model: nn.Module, parameters: Sequence[nn.Parameter], step: int
                         ) -> tuple[list[torch.Tensor], dict[str, float]]:
        """One flat gradient per memory, and each memory's loss (``memory_<name>``)."""
        flats, losses = [], {}
        with _mode(model, self.memory_training_mode):
            for memory in self.memories:
                with self.autocast() if self.autocast else contextlib.nullcontext():
                    loss = memory.loss(model, step)
                grads = torch.autograd.grad(loss, parameters, allow_unused=True)
                flats.append(flatten_gradients(parameters, grads))
                losses[f"memory_{memory.name}"] = loss.item()
        return flats, losses


class GemStrategy(_MemoryGradients):
    """GEM fine-tuning (paper 003 eq. 3): the task gradient in ``.grad`` is projected so that no memory's loss
    rises to first order. GEM w/ MLM, w/ XSR or w/ both is a matter of which memories are given.

    ``memory_training_mode``: False (default) evaluates memories without dropout; True with dropout; None in
    whatever mode the model is. ``autocast``: a context factory the memory forwards run under (e.g.
    ``lambda: trainer.loop.autocast_context(precision, device)``; the loop calls the hook outside autocast).
    ``margin``: GEM's memory strength (see the module docstring)."""

    def __init__(self, memories: Sequence[EpisodicMemory], margin: float = 0.0,
                 memory_training_mode: bool | None = False, autocast: Callable[[], ContextManager] | None = None):
        super().__init__(memories, memory_training_mode, autocast)
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.margin = margin
        self.last_projection: GemProjection | None = None

    def before_optimizer_step(self, module: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                              step: int = 0) -> dict[str, float]:
        """Projects the accumulated task gradient in place. Returns (and keeps in ``last_stats``): each
        memory's loss ``memory_<name>``, ``gem_violated`` (constraints violated before projection),
        ``gem_projected`` (0/1) and ``gem_dot_<name>`` (<g̃, g_k>: >= 0 up to rounding)."""
        parameters = trainable_parameters(module)
        task_gradient = flatten_gradients(parameters)
        memory_flats, stats = self.memory_gradients(module, parameters, step)
        projection = gem_projection(task_gradient, memory_flats, self.margin)
        if projection.projected:
            assign_flat_gradient(parameters, projection.gradient)
        self.last_projection = projection
        stats["gem_violated"] = float(projection.violated)
        stats["gem_projected"] = float(projection.projected)
        for memory, dot in zip(self.memories, projection.dots_after):
            stats[f"gem_dot_{memory.name}"] = float(dot)
        self.last_stats = stats
        return stats


class MultiTaskFineTuning(_MemoryGradients):
    """MTF (paper 003 §4.2): task loss + Σ weight_k · memory loss_k. The memory gradients are added to the task
    gradient in ``.grad``, which is the gradient of the summed loss. Memories run in the model's own mode by
    default (they are trained, dropout included)."""

    def __init__(self, memories: Sequence[EpisodicMemory], weights: Sequence[float] | None = None,
                 memory_training_mode: bool | None = None, autocast: Callable[[], ContextManager] | None = None):
        super().__init__(memories, memory_training_mode, autocast)
        self.weights = [1.0] * len(self.memories) if weights is None else [float(w) for w in weights]
        if len(self.weights) != len(self.memories):
            raise ValueError(f"{len(self.weights)} weights for {len(self.memories)} memories")

    def before_optimizer_step(self, module: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                              step: int = 0) -> dict[str, float]:
        parameters = trainable_parameters(module)
        total = flatten_gradients(parameters)
        memory_flats, stats = self.memory_gradients(module, parameters, step)
        for weight, flat in zip(self.weights, memory_flats):
            total = total + weight * flat
        assign_flat_gradient(parameters, total)
        self.last_stats = stats
        return stats


def freeze_lower_layers(model: nn.Module, num_layers: int, freeze_embeddings: bool = True) -> list[str]:
    """The "partially frozen" baseline (Wu & Dredze 2019, paper 003 §4.2): no gradient for the embeddings and
    the lowest ``num_layers`` transformer layers of ``model.encoder`` (or of ``model`` itself when it is the
    encoder). Call before building the optimizer. Returns the frozen parameter names."""
    encoder = getattr(unwrap(model), "encoder", None)
    encoder = encoder if isinstance(encoder, nn.Module) and hasattr(encoder, "embeddings") else unwrap(model)
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not hasattr(encoder, "embeddings") or layers is None:
        raise ValueError(f"{type(encoder).__name__}: freezing layers needs a BERT-family encoder "
                         "(embeddings + encoder.layer)")
    if not 0 <= num_layers <= len(layers):
        raise ValueError(f"cannot freeze {num_layers} layers of a {len(layers)}-layer encoder")
    modules: list[tuple[str, nn.Module]] = [(f"encoder.layer.{i}", layers[i]) for i in range(num_layers)]
    if freeze_embeddings:
        modules.insert(0, ("embeddings", encoder.embeddings))
    frozen = []
    for prefix, module in modules:
        for name, parameter in module.named_parameters():
            parameter.requires_grad_(False)
            frozen.append(f"{prefix}.{name}")
    return frozen


STRATEGY_NAMES = ("naive", "frozen", "mtf", "gem")


def build_strategy(name: str, memories: Sequence[EpisodicMemory] = (), **options) -> Strategy:
    """``naive``/``frozen`` -> the loop's plain ``Strategy`` (``frozen`` also needs ``freeze_lower_layers``), ``mtf`` ->
    ``MultiTaskFineTuning(memories, **options)``, ``gem`` -> ``GemStrategy(memories, **options)``."""
    if name in ("naive", "frozen"):
        return Strategy()
    if name == "mtf":
        return MultiTaskFineTuning(memories, **options)
    if name == "gem":
        return GemStrategy(memories, **options)
    raise ValueError(f"unknown fine-tuning strategy {name!r}; known: {', '.join(STRATEGY_NAMES)}")

