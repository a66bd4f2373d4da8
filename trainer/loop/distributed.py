"""Everything distributed in one place: process group setup from torchrun's environment, the device of this
rank, seeding, barriers, reductions and teardown.

Under ``torchrun`` the variables ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``
are set; a plain ``python -m`` run has none of them and is a world of one (no process group at all, so the
same code runs without any distributed machinery). NCCL is the backend on GPUs, gloo on CPUs.
"""
from __future__ import annotations

import os
import random
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    backend: str | None = None  # None: no process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.backend is not None


def pick_device(device: str = "auto", local_rank: int = 0) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device(device)


def setup_distributed(device: str = "auto", backend: str | None = None) -> DistributedContext:
    """Join the process group torchrun described (a no-op for a single process) and pick this rank's device."""
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    torch_device = pick_device(device, local_rank)
    if torch_device.type == "cuda":
        torch.cuda.set_device(torch_device)
    if world_size == 1:
        return DistributedContext(device=torch_device)
    backend = backend or ("nccl" if torch_device.type == "cuda" else "gloo")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size,
                                device_id=torch_device if torch_device.type == "cuda" else None)
    return DistributedContext(rank=dist.get_rank(), local_rank=local_rank, world_size=dist.get_world_size(),
                              device=torch_device, backend=backend)


@contextmanager
def distributed_run(device: str = "auto", backend: str | None = None) -> Iterator[DistributedContext]:
    """``with distributed_run() as ctx:``: the process group (if any) for the block, torn down however it
    ends."""
    ctx = setup_distributed(device, backend)
    try:
        yield ctx
    finally:
        teardown()


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks, in place; the tensor itself when there is one process."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_rows(rows: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``rows`` (``[B_r, ...]``, B_r may differ between ranks) of every rank concatenated in rank order, with
    gradients flowing back to each rank's own rows, and the index of this rank's first row in the result.
    ``(rows, 0)`` without a process group. Every rank must call it, the same number of times (a collective)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return rows, 0
    from torch.distributed.nn.functional import all_gather  # the autograd-aware all_gather
    world, rank = dist.get_world_size(), dist.get_rank()
    sizes = [torch.zeros(1, dtype=torch.long, device=rows.device) for _ in range(world)]
    dist.all_gather(sizes, torch.tensor([rows.shape[0]], dtype=torch.long, device=rows.device))
    counts = [int(size.item()) for size in sizes]
    # all_gather needs one shape on every rank: pad to the largest share, cut the padding off again.
    padding = [0, 0] * (rows.dim() - 1) + [0, max(counts) - rows.shape[0]]
    gathered = all_gather(torch.nn.functional.pad(rows, padding))
    return torch.cat([part[:count] for part, count in zip(gathered, counts)]), sum(counts[:rank])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and every GPU) alike. Called with the same seed on every rank before
    the model is built, so all ranks start from the same parameters."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The random states a training step can draw from (dropout, sampling), to save with a checkpoint."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
