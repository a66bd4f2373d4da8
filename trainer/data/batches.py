"""The loop's batch streams, both resumable: ``ResumableBatches`` is pretraining's endless stream of a
``MixedDataset`` of shards through a ``DataLoader`` (its position: the batches taken); ``ExampleBatches`` is
fine-tuning's finite stream of in-memory examples.

Fine-tuning's items (rows or already featurised windows) are held in memory, shuffled per epoch by a generator
seeded with (seed, epoch) - never by process state - cut into batches, each rank taking every world_size-th batch.
Its position (epoch, batches taken) is what the loop stores in a checkpoint, so a resumed run draws exactly the
batches the interrupted one would have drawn.
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from schemas.errors import InputDataError


class ExampleBatches:
    """Batches over in-memory ``items`` for the training loop: one pass is one epoch; ``set_epoch`` (called by
    the loop when a pass ends) reshuffles. ``state_dict``/``load_state_dict`` carry the position.

    Every rank sees the same global order and takes batches ``rank, rank + world_size, ...``; the batches per
    epoch are cut to a multiple of ``world_size`` so ranks step together."""

    def __init__(self, items: Sequence, batch_size: int, collate: Callable[[list], dict], *, seed: int = 0,
                 shuffle: bool = True, drop_last: bool = False, rank: int = 0, world_size: int = 1):
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.items, self.batch_size, self.collate = list(items), batch_size, collate
        self.seed, self.shuffle, self.drop_last = seed, shuffle, drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.position = 0  # batches of this rank taken in the current epoch
        if len(self) == 0:
            raise InputDataError(f"{len(self.items)} examples make no batch of {batch_size} for {world_size} rank(s)")

    def _global_batches(self) -> int:
        full, rest = divmod(len(self.items), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __len__(self) -> int:
        return self._global_batches() // self.world_size

    def order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(len(self.items)))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.items)).tolist()

    def __iter__(self) -> Iterator[dict]:
        order = self.order(self.epoch)
        for local in range(self.position, len(self)):
            start = (local * self.world_size + self.rank) * self.batch_size
            chunk = [self.items[i] for i in order[start:start + self.batch_size]]
            self.position = local + 1
            yield self.collate(chunk)

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.position = epoch, 0

    def state_dict(self) -> dict:
        epoch, position = self.epoch, self.position
        if position >= len(self):  # the epoch was used up: the next draw starts the next one
            epoch, position = epoch + 1, 0
        return {"epoch": epoch, "position": position, "items": len(self.items)}

    def load_state_dict(self, state: dict) -> None:
        if state.get("items", len(self.items)) != len(self.items):
            raise InputDataError(f"the checkpoint's data position is over {state['items']} training items, this run "
                                  f"has {len(self.items)}: not the same training data")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        if self.position >= len(self):
            self.epoch, self.position = self.epoch + 1, 0


def endless(batches: ExampleBatches) -> Iterator[dict]:
    """Epoch after epoch of ``batches`` (MTL-WS's inner steps draw more batches than one pass holds)."""
    while True:
        yield from batches
        batches.set_epoch(batches.epoch + 1)


class ResumableBatches:
    """Batches of a ``MixedDataset`` (an endless stream) through a ``DataLoader``; its position is the number
    of batches taken, from which the dataset's per-worker resume state follows."""

    def __init__(self, dataset, batch_size: int, collate_fn: Callable, num_workers: int = 0, seed: int = 0,
                 pin_memory: bool = False):
        self.dataset, self.batch_size, self.collate_fn = dataset, batch_size, collate_fn
        self.num_workers, self.seed, self.pin_memory = num_workers, seed, pin_memory
        self.batches = 0

    def __iter__(self) -> Iterator[dict]:
        # An own generator: creating the loader must not draw from the global torch RNG, or a resumed run
        # (which creates it at another point of the random stream) would see other dropout masks.
        loader = DataLoader(self.dataset, batch_size=self.batch_size, collate_fn=self.collate_fn,
                            num_workers=self.num_workers, pin_memory=self.pin_memory,
                            generator=torch.Generator().manual_seed(self.seed),
                            prefetch_factor=4 if self.num_workers else None)
        for batch in loader:
            self.batches += 1
            yield batch

    def state_dict(self) -> dict:
        return {"batches": self.batches,
                "dataset": self.dataset.dataloader_state(self.batches, self.batch_size, self.num_workers)}

    def load_state_dict(self, state: dict) -> None:
        self.batches = int(state["batches"])
        self.dataset.load_state_dict(state["dataset"])
