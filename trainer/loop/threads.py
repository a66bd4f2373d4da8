"""torch's CPU threads for a training process (``runtime.threads``).

Left alone, torch starts one intra-op thread per core of the machine in every process: on a shared 2-core machine
a tiny model then took twice the CPU for the same speed, and thirteen times under load, and under torchrun
every rank of a node starts as many threads as the node has cores. The trainer therefore sets the count before
the model is built: ``runtime.threads`` when given, else the launcher's ``OMP_NUM_THREADS`` when set, else the
CPUs this process may run on (its affinity mask, which a SLURM or container CPU limit narrows) divided by the
processes of its node (``LOCAL_WORLD_SIZE``, set by torchrun), at least 1.
"""
from __future__ import annotations

import logging
import os

import torch

logger = logging.getLogger(__name__)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def resolve_threads(requested: int) -> tuple[int, str]:
    """``(threads, why)``: the count ``requested`` (0: automatic, as the module docstring says) and where it
    came from, for the log."""
    if requested > 0:
        return requested, "runtime.threads"
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if omp:
        try:
            if int(omp) > 0:
                return int(omp), "OMP_NUM_THREADS"
        except ValueError:
            pass
        logger.warning("OMP_NUM_THREADS=%r is not a positive number of threads: ignored", omp)
    processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", 1) or 1))
    cpus = usable_cpus()
    return max(1, cpus // processes), f"{cpus} usable CPU(s) / {processes} process(es) on this node"


def apply_threads(requested: int, log: bool = True) -> int:
    """Set torch's intra-op (and, while it still can be, inter-op) thread count; returns the intra-op count torch
    reports back. ``log``: say it once (the main rank)."""
    threads, why = resolve_threads(requested)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        # Only possible once per process and before any inter-op work (a second run in one process, a test);
        # eager training hardly uses that pool, so the first count stays.
        pass
    threads = torch.get_num_threads()
    if log:
        logger.info("torch threads: %d intra-op, %d inter-op (%s)", threads, torch.get_num_interop_threads(), why)
    return threads
