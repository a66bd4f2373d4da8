"""Examples streamed from polyspan dataset directories: split across ranks and workers, shuffled, resumable.

A ``ShardDataset`` reads one dataset directory through ``schemas.open_dataset`` (so a shard that does not
match its kind stops the run before training starts) and yields its rows as dicts. How an epoch is laid out:

1. The units of work are the Parquet row groups of all shards. Each epoch they are put in an order drawn
   from ``(seed, epoch)`` - the same order on every rank and worker, with no communication.
2. The rows of that ordered concatenation are cut into one contiguous range per *consumer* (one consumer is
   one dataloader worker of one rank). Ranges are cut at row granularity, so consumers never overlap, every
   row is read once per epoch, and it works with fewer shards (or row groups) than consumers.
3. A consumer reads its range sequentially, batch by batch (never more than one Arrow batch plus one shuffle
   block in memory), and shuffles it in blocks of ``shuffle_buffer`` rows, each block with a generator seeded
   by ``(seed, epoch, consumer, block)``.

Block shuffling (rather than a reservoir buffer) keeps resuming cheap and exact: the position ``n`` of a
consumer's output lies in block ``n // shuffle_buffer``, whose rows are known without reading anything, so a
resumed run reads from that block's first row on instead of replaying the epoch.

``MixedDataset`` interleaves several ``ShardDataset``s by weight (languages, kinds) with a seeded choice
sequence, restarting each source on its next epoch when it runs out; it is resumable the same way.
"""
from __future__ import annotations

import bisect
import itertools
import os
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch.distributed as dist
from torch.utils.data import IterableDataset, get_worker_info

from schemas.errors import InputDataError
from schemas import open_dataset
from schemas.dataset import parquet_batches, parquet_file

# Stream tags for the generators drawn from the global seed, so the unit order, the block shuffles and the
# mixing choices never share a random stream (DESIGN.md: seeded by (global seed, stable key), never by
# process state).
_UNIT_ORDER, _BLOCK_SHUFFLE, _MIX_CHOICE = 0, 1, 2
# Mixing choices are drawn in fixed-size chunks so replaying them for a resume is fast and gives the same
# sequence as the original run.
_MIX_CHUNK = 4096


@dataclass
class ShardStreamConfig:
    """How a ``ShardDataset`` reads, splits and shuffles."""

    seed: int = 0
    shuffle: bool = True
    # Rows held and permuted together; larger mixes better and costs memory (rows are Python dicts).
    shuffle_buffer: int = 4096
    # Rows per Arrow record batch read from Parquet.
    read_batch_size: int = 1024
    # Columns to read (None: all of the kind's columns).
    columns: list[str] | None = None
    # Give every consumer floor(rows / consumers) rows, so all DDP ranks take the same number of steps;
    # the few rows left over differ from epoch to epoch because the unit order does.
    drop_uneven: bool = False
    # When set, every row carries the epoch it is read in under this key (``EPOCH_FIELD`` by convention), so
    # per-row random choices that should change from epoch to epoch (MLM masks) can be seeded by it.
    epoch_field: str | None = None


EPOCH_FIELD = "_epoch"  # not a column of any schema: a leading underscore marks it as added on reading


def distributed_rank_and_world_size() -> tuple[int, int]:
    """``(rank, world_size)``: from an initialised process group, else torchrun's ``RANK``/``WORLD_SIZE``
    environment variables, else a single process."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _rank_and_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is None or world_size is None:
        found_rank, found_world = distributed_rank_and_world_size()
        rank = found_rank if rank is None else rank
        world_size = found_world if world_size is None else world_size
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside a world of size {world_size}")
    return rank, world_size


def current_consumer(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """``(consumer index, number of consumers)`` of the calling process: a consumer is one dataloader worker
    of one rank (the main process counts as the single worker of its rank)."""
    consumer, consumers, _ = _consumer_and_skip(rank, world_size, None)
    return consumer, consumers


@dataclass(frozen=True)
class RowGroup:
    """One unit of work: a row group of one shard."""

    shard: int
    index: int
    rows: int


@dataclass
class _EpochPlan:
    units: list[RowGroup]
    starts: list[int] = field(default_factory=list)  # first row (in the epoch's concatenation) of each unit

    def __post_init__(self):
        self.starts = [0, *itertools.accumulate(unit.rows for unit in self.units)][:-1]


class ShardDataset(IterableDataset):
    """Rows of one dataset directory (local path or ``gs://``, ``s3://``, ``hdfs://`` URI) as dicts.

    Call ``set_epoch(epoch)`` before each epoch (like ``DistributedSampler``). ``rank``/``world_size``
    override what ``torch.distributed`` or the environment say (tests, or reading another rank's share).
    """

    def __init__(self, directory: str | os.PathLike, kind: str | None = None,
                 config: ShardStreamConfig | None = None, rank: int | None = None,
                 world_size: int | None = None):
        super().__init__()
        self.config = config or ShardStreamConfig()
        if self.config.shuffle_buffer < 1 or self.config.read_batch_size < 1:
            raise ValueError("shuffle_buffer and read_batch_size must be positive")
        self.dataset = open_dataset(directory, kind=kind)
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self._resume: dict | None = None
        self._yielded = 0
        self._iter_epoch = 0
        self.row_groups = self._row_groups()
        self.num_rows = sum(unit.rows for unit in self.row_groups)

    @property
    def directory(self) -> str:
        return self.dataset.directory

    def _row_groups(self) -> list[RowGroup]:
        # Only the footers are read; the manifest's row counts were already checked by open_dataset.
        units = []
        for shard, path in enumerate(self.dataset.shard_paths):
            with self.dataset.filesystem.open_input_file(path) as handle:
                metadata = parquet_file(handle, self.directory, os.path.basename(path)).metadata
            units += [RowGroup(shard, index, metadata.row_group(index).num_rows)
                      for index in range(metadata.num_row_groups) if metadata.row_group(index).num_rows]
        return units

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    # ---- the layout of an epoch ------------------------------------------------------------------------

    def _plan(self, epoch: int) -> _EpochPlan:
        units = list(self.row_groups)
        if self.config.shuffle:
            order = np.random.default_rng([self.config.seed, _UNIT_ORDER, epoch]).permutation(len(units))
            units = [units[i] for i in order]
        return _EpochPlan(units)

    def consumer_range(self, consumer: int, consumers: int) -> tuple[int, int]:
        """``[start, stop)`` of the epoch's row order read by ``consumer`` of ``consumers``."""
        if not 0 <= consumer < consumers:
            raise ValueError(f"consumer {consumer} outside {consumers} consumers")
        if self.config.drop_uneven:
            share = self.num_rows // consumers
            return consumer * share, (consumer + 1) * share
        return consumer * self.num_rows // consumers, (consumer + 1) * self.num_rows // consumers

    def consumer_length(self, consumer: int, consumers: int) -> int:
        start, stop = self.consumer_range(consumer, consumers)
        return stop - start

    def iter_consumer(self, epoch: int, consumer: int, consumers: int, skip: int = 0) -> Iterator[dict]:
        """The rows ``consumer`` of ``consumers`` yields in ``epoch``, from its ``skip``-th on."""
        start, stop = self.consumer_range(consumer, consumers)
        length = stop - start
        if skip >= length:
            return
        block_size = self.config.shuffle_buffer
        first_block, within = divmod(skip, block_size)
        rows = self._read(self._plan(epoch), start + first_block * block_size, stop)
        for block in itertools.count(first_block):
            chunk = list(itertools.islice(rows, block_size))
            if not chunk:
                return
            order = range(len(chunk))
            if self.config.shuffle:
                rng = np.random.default_rng([self.config.seed, _BLOCK_SHUFFLE, epoch, consumer, consumers, block])
                order = rng.permutation(len(chunk))
            epoch_key = self.config.epoch_field
            for position in order[within if block == first_block else 0:]:
                if epoch_key:
                    chunk[position][epoch_key] = epoch
                yield chunk[position]

    def _read(self, plan: _EpochPlan, start: int, stop: int) -> Iterator[dict]:
        """Rows ``[start, stop)`` of the epoch's concatenation, read sequentially batch by batch."""
        index = bisect.bisect_right(plan.starts, start) - 1
        position = start
        while position < stop:
            unit = plan.units[index]
            offset = position - plan.starts[index]
            take = min(unit.rows - offset, stop - position)
            yield from self._read_unit(unit, offset, take)
            position += take
            index += 1

    def _read_unit(self, unit: RowGroup, offset: int, take: int) -> Iterator[dict]:
        path = self.dataset.shard_paths[unit.shard]
        with self.dataset.filesystem.open_input_file(path) as handle:
            seen = 0
            batches = parquet_batches(handle, self.directory, os.path.basename(path),
                                      batch_size=self.config.read_batch_size, row_groups=[unit.index],
                                      columns=self.config.columns)
            for batch in batches:
                low, high = max(offset - seen, 0), min(offset + take - seen, batch.num_rows)
                seen += batch.num_rows
                if high > low:
                    yield from batch.slice(low, high - low).to_pylist()
                if seen >= offset + take:
                    return

    # ---- iteration and resume --------------------------------------------------------------------------

    def __iter__(self) -> Iterator[dict]:
        epoch = self.epoch
        resume = self._resume if self._resume is not None and self._resume["epoch"] == epoch else None
        consumer, consumers, skip = _consumer_and_skip(self.rank, self.world_size, resume)
        # A recorded position applies to the first pass over its epoch only.
        self._resume = None
        self._iter_epoch, self._yielded = epoch, skip
        # Not a generator itself: the position above is set when iteration starts, not at the first row.
        return self._counting(self.iter_consumer(epoch, consumer, consumers, skip))

    def _counting(self, rows: Iterator[dict]) -> Iterator[dict]:
        for row in rows:
            self._yielded += 1
            yield row

    def state_dict(self) -> dict:
        """Position of this consumer: its epoch and how many rows it has yielded in it. Exact when iterated
        in the calling process; with dataloader workers use ``dataloader_state``."""
        if self._resume is not None:
            return dict(self._resume)
        return {"epoch": self._iter_epoch, "yielded": self._yielded}

    def dataloader_state(self, epoch: int, batches: int, batch_size: int, num_workers: int,
                         drop_last: bool = False) -> dict:
        """The ``load_state_dict`` state after a ``DataLoader(self, batch_size, num_workers)`` of this rank has
        yielded ``batches`` batches of ``epoch``: one count of yielded rows per worker."""
        rank, world_size = _rank_and_world(self.rank, self.world_size)
        workers = max(num_workers, 1)
        lengths = [self.consumer_length(rank * workers + w, world_size * workers) for w in range(workers)]
        per_worker = [n // batch_size if drop_last else -(-n // batch_size) for n in lengths]
        taken, first_worker = batches_per_worker(batches, per_worker)
        return {"epoch": epoch, "yielded": [min(t * batch_size, n) for t, n in zip(taken, lengths)],
                "first_worker": first_worker}

    def load_state_dict(self, state: dict) -> None:
        """Resume at a recorded position: the next iteration over ``state['epoch']`` yields exactly the rows
        not yet yielded. ``yielded`` is one count, or a list with one count per dataloader worker."""
        self.set_epoch(state["epoch"])
        self._resume = {**state, "epoch": int(state["epoch"])}
        self._iter_epoch = int(state["epoch"])
        self._yielded = state["yielded"] if isinstance(state["yielded"], int) else 0


def _consumer_and_skip(rank: int | None, world_size: int | None, resume: dict | None) -> tuple[int, int, int]:
    """``(consumer, consumers, rows to skip)`` for the calling process, resuming at ``resume``."""
    rank, world_size = _rank_and_world(rank, world_size)
    info = get_worker_info()
    worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
    skip = 0
    if resume is not None:
        yielded = resume["yielded"]
        if isinstance(yielded, int):
            if workers > 1:
                raise ValueError("a single 'yielded' count cannot be split over several dataloader workers; "
                                 "record one count per worker (dataloader_state)")
            skip = yielded
        else:
            if len(yielded) != workers:
                raise ValueError(f"resume state has counts for {len(yielded)} workers, the dataloader has "
                                 f"{workers}")
            # The recording loader was about to take a batch from worker `first_worker`; a new loader starts
            # with its worker 0, so roles are rotated for the workers to take turns in the same order.
            worker = (worker + int(resume.get("first_worker", 0))) % workers
            skip = int(yielded[worker])
    return rank * workers + worker, world_size * workers, skip


def batches_per_worker(batches: int, worker_batches: Sequence[float]) -> tuple[list[int], int]:
    """``(batches delivered by each worker, worker whose turn is next)`` after a ``DataLoader`` yielded
    ``batches`` batches.

    A ``DataLoader`` over an ``IterableDataset`` takes batches from its workers in turn, skipping workers
    that have run out; ``worker_batches`` is how many batches each worker makes in the epoch."""
    taken = [0] * len(worker_batches)
    remaining, last = batches, -1
    while remaining > 0:
        active = [w for w, total in enumerate(worker_batches) if taken[w] < total]
        if not active:
            raise ValueError(f"{batches} batches is more than the epoch holds ({sum(worker_batches)})")
        # Whole rounds while no active worker runs out, then one partial round in worker order.
        rounds = min(remaining // len(active), min(worker_batches[w] - taken[w] for w in active))
        if rounds:
            for w in active:
                taken[w] += int(rounds)
            remaining -= int(rounds) * len(active)
            last = active[-1]
            continue
        for w in active[:remaining]:
            taken[w] += 1
        last, remaining = active[remaining - 1], 0
    return taken, (last + 1) % len(worker_batches)


class MixedDataset(IterableDataset):
    """Rows drawn from several ``ShardDataset``s with probabilities proportional to ``weights``.

    The stream is endless: a source that runs out starts its next epoch (its own epochs count from 0), so
    the training loop decides when to stop by steps. Every consumer draws its own seeded choice sequence
    over its own share of each source, so ranks and workers never overlap. Resuming replays only the
    choices (no reading) to find each source's epoch and position.
    """

    def __init__(self, sources: Sequence[ShardDataset], weights: Sequence[float], seed: int = 0):
        super().__init__()
        if len(sources) != len(weights) or not sources:
            raise ValueError("give one weight per source, and at least one source")
        weights_ = np.asarray(weights, dtype=np.float64)
        if (weights_ < 0).any() or weights_.sum() <= 0:
            raise ValueError(f"weights must be non-negative with a positive sum, got {list(weights)}")
        self.sources = list(sources)
        self.probabilities = weights_ / weights_.sum()
        self.seed = seed
        self._resume: dict | None = None
        self._yielded = 0

    def _choices(self, consumer: int, consumers: int) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, _MIX_CHOICE, consumer, consumers])
        while True:
            yield from rng.choice(len(self.sources), size=_MIX_CHUNK, p=self.probabilities).tolist()

    def _source_stream(self, source: ShardDataset, consumer: int, consumers: int, taken: int) -> Iterator[dict]:
        length = source.consumer_length(consumer, consumers)
        if length == 0:
            raise InputDataError(f"{source.directory} has {source.num_rows} rows, too few for {consumers} "
                                  "consumers to each get a share; lower the weight to 0 or add data")
        # A consumer's share has the same length every epoch, so the position is plain arithmetic.
        epoch, skip = divmod(taken, length)
        while True:
            yield from source.iter_consumer(epoch, consumer, consumers, skip)
            epoch, skip = epoch + 1, 0

    def iter_consumer(self, consumer: int, consumers: int, skip: int = 0) -> Iterator[dict]:
        choices = self._choices(consumer, consumers)
        taken = [0] * len(self.sources)
        for choice in itertools.islice(choices, skip):
            taken[choice] += 1
        streams = [self._source_stream(source, consumer, consumers, count) if self.probabilities[s] > 0 else None
                   for s, (source, count) in enumerate(zip(self.sources, taken))]
        for choice in choices:
            yield next(streams[choice])

    def __iter__(self) -> Iterator[dict]:
        consumer, consumers, skip = _consumer_and_skip(self.sources[0].rank, self.sources[0].world_size,
                                                        self._resume)
        self._resume = None
        self._yielded = skip
        return self._counting(self.iter_consumer(consumer, consumers, skip))

    def _counting(self, rows: Iterator[dict]) -> Iterator[dict]:
        for row in rows:
            self._yielded += 1
            yield row

    def state_dict(self) -> dict:
        """Rows this consumer has yielded (exact in the calling process; see ``dataloader_state``)."""
        return dict(self._resume) if self._resume is not None else {"yielded": self._yielded}

    def dataloader_state(self, batches: int, batch_size: int, num_workers: int) -> dict:
        """The ``load_state_dict`` state after a ``DataLoader(self, batch_size, num_workers)`` has yielded
        ``batches`` batches: the stream is endless, so workers take strict turns."""
        taken, first_worker = batches_per_worker(batches, [float("inf")] * max(num_workers, 1))
        return {"yielded": [t * batch_size for t in taken], "first_worker": first_worker}

    def load_state_dict(self, state: dict) -> None:
        """Resume after ``yielded`` rows (one count, or one per dataloader worker)."""
        self._resume = dict(state)
        self._yielded = state["yielded"] if isinstance(state["yielded"], int) else 0

