"""The self-teaching KL term (paper 004 eq. 6) between a student's and a teacher's logits, with a distillation
temperature."""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F

TASKS = ("classification", "tagging", "qa")


# Paper 004, "Implementation Details": weight of the KL term by task (1 - λ of eq. 6).
DEFAULT_KL_WEIGHTS = {"tagging": 1.0, "classification": 0.5, "qa": 0.1}


def _check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    return task


def kl_over_last_dim(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0,
                     mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over rows of ``KL(softmax(teacher/T) ‖ softmax(student/T)) · T²``, distributions along the last
    dimension; ``mask`` (the leading dimensions' shape) selects the rows that count. Computed in float32."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} differ in shape")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    student_log = F.log_softmax(student_logits.float() / temperature, dim=-1)
    teacher_log = F.log_softmax(teacher_logits.float().to(student_log.device) / temperature, dim=-1)
    per_row = (teacher_log.exp() * (teacher_log - student_log)).sum(dim=-1)
    if mask is None:
        return per_row.mean() * temperature ** 2
    weights = mask.to(device=per_row.device, dtype=per_row.dtype)
    if weights.shape != per_row.shape:
        raise ValueError(f"mask of shape {tuple(mask.shape)} for rows of shape {tuple(per_row.shape)}")
    return (per_row * weights).sum() / weights.sum().clamp(min=1.0) * temperature ** 2


def kl_over_positions(student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor,
                      temperature: float = 1.0) -> torch.Tensor:
    """QA: ``[B, L]`` logits over positions; positions outside ``mask`` are excluded from both softmaxes."""
    valid = mask.to(device=student_logits.device, dtype=torch.bool)
    if valid.shape != student_logits.shape:
        raise ValueError(f"mask of shape {tuple(mask.shape)} for logits of shape {tuple(student_logits.shape)}")
    # A large negative number, not -inf: 0 * -inf would turn masked positions into NaN inside the KL sum.
    floor = torch.finfo(torch.float32).min / 4
    student = student_logits.float().masked_fill(~valid, floor)
    teacher = teacher_logits.float().to(student.device).masked_fill(~valid, floor)
    rows = valid.any(dim=-1)
    return kl_over_last_dim(student, teacher, temperature, rows)


def self_teaching_loss(task: str, student: Mapping[str, torch.Tensor], teacher: Mapping[str, torch.Tensor],
                       mask: torch.Tensor | None = None, temperature: float = 1.0) -> torch.Tensor:
    """The KL term for ``task``: ``student``/``teacher`` hold ``logits`` (classification ``[B, C]``, tagging
    ``[B, L, C]``) or ``start_logits``/``end_logits`` (QA, ``[B, L]``). ``mask`` ``[B, L]``: tokens/positions
    that count (required for tagging and QA)."""
    _check_task(task)
    if task == "classification":
        return kl_over_last_dim(student["logits"], teacher["logits"], temperature)
    if mask is None:
        raise ValueError(f"{task}: the self-teaching KL needs a token mask")
    if task == "tagging":
        return kl_over_last_dim(student["logits"], teacher["logits"], temperature, mask)
    return (kl_over_positions(student["start_logits"], teacher["start_logits"], mask, temperature)
            + kl_over_positions(student["end_logits"], teacher["end_logits"], mask, temperature)) / 2
