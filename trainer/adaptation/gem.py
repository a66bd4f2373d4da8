"""GEM's gradient projection (paper 003): the update closest to the task gradient that raises no memory's loss.

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

The step rule that applies it is the ``gem`` constraint (trainer/adaptation/gem_constraint.py; every constraint is
registered in trainer/adaptation/constraints.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

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


# ----------------------------------------------------------------------------------------------- strategies


