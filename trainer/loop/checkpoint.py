"""Checkpoints a run can be resumed from exactly, and whose encoder loads with ``from_pretrained``.

One checkpoint is one directory ``<root>/step-00001500`` holding

- ``config.json`` + ``model.safetensors``: ``module.encoder.save_pretrained()``, so
  ``AutoModel.from_pretrained(checkpoint)`` loads the encoder (and ``AutoTokenizer.from_pretrained`` the
  tokenizer files saved next to it);
- ``heads.safetensors``: every other parameter and buffer of the module (extractor, CLISM heads), by its name
  in ``module.state_dict()``;
- ``optimizer.pt``, ``scheduler.pt``: their ``state_dict()``s;
- ``rank-00000.pt`` (one per rank): that rank's random states (python, numpy, torch, CUDA) and data position;
- ``trainer_state.json``: step, world size and anything the caller adds (the run's config). Written last.

Atomicity: every rank writes into ``<root>/.tmp-step-00001500``; after a barrier rank 0 renames it to its
final name in one ``os.replace``. A run killed mid-save leaves only a ``.tmp-`` directory, which
``latest_complete_checkpoint`` never returns and the next save removes. The root must be one filesystem that
all ranks see (local disk for one node, a shared filesystem for several).
"""
from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from schemas.errors import InputDataError, UserError
from trainer.loop.distributed import DistributedContext, barrier, rng_state, set_rng_state

PREFIX = "step-"
TEMP_PREFIX = ".tmp-"
STATE_FILE = "trainer_state.json"
HEADS_FILE = "heads.safetensors"
ENCODER_WEIGHTS = "model.safetensors"
FORMAT_VERSION = 1
# What a rank file holds besides tensors and python containers: numpy's random state.
_RANK_STATE_GLOBALS = [np._core.multiarray._reconstruct, np.ndarray, np.dtype, np.dtypes.UInt32DType]
_NAME = re.compile(rf"^{PREFIX}(\d+)$")


@dataclass
class ResumeState:
    """What ``load_checkpoint`` restored besides the tensors: where to continue."""

    step: int
    data_state: Any = None
    extra: dict = field(default_factory=dict)


def checkpoint_name(step: int) -> str:
    return f"{PREFIX}{step:08d}"


def list_checkpoints(root: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path)`` of the complete checkpoints under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _NAME.match(path.name)
        # The rename makes a checkpoint complete; the state file is checked as well for filesystems where a
        # directory rename is not atomic (and against hand-made copies).
        if match and path.is_dir() and (path / STATE_FILE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_complete_checkpoint(root: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint under ``root`` (partial ``.tmp-`` directories are never returned)."""
    checkpoints = list_checkpoints(root)
    return checkpoints[-1][1] if checkpoints else None


class OutputExistsError(UserError, FileExistsError):
    """A run would overwrite the checkpoints of another (``train.resume`` false)."""


def resume_point(root: str | os.PathLike, resume: bool) -> Path | None:
    """The checkpoint a run continues from: the newest complete one under ``root`` when ``resume`` (None on a
    first start). With ``resume`` false, existing checkpoints are an error rather than silently overwritten."""
    latest = latest_complete_checkpoint(root)
    if latest is not None and not resume:
        raise OutputExistsError(f"{Path(root).parent} already holds checkpoints and train.resume is false: choose "
                                "another output_dir or resume")
    return latest if resume else None


def unwrap(model: nn.Module) -> nn.Module:
    """The training module inside a DDP / FSDP-style wrapper (``.module``), or the module itself."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def head_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers of ``module`` outside ``module.encoder``, minus tensors that share storage with
    the encoder's (tied weights come back with the encoder)."""
    encoder_storage = {t.untyped_storage().data_ptr() for t in module.encoder.state_dict().values()}
    heads = {}
    for name, tensor in module.state_dict().items():
        if name.startswith("encoder.") or tensor.untyped_storage().data_ptr() in encoder_storage:
            continue
        heads[name] = tensor.detach().to("cpu").contiguous().clone()
    return heads


def save_checkpoint(root: str | os.PathLike, step: int, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None, *,
                    ctx: DistributedContext | None = None, tokenizer: Any = None, data_state: Any = None,
                    extra: dict | None = None, keep_last: int = 0) -> Path:
    """Write the checkpoint of ``step`` (collective: every rank calls it). Returns its final path."""
    ctx = ctx or DistributedContext()
    root = Path(root)
    module = unwrap(model)
    final, temp = root / checkpoint_name(step), root / f"{TEMP_PREFIX}{checkpoint_name(step)}"
    if ctx.is_main:
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(f"{TEMP_PREFIX}*"):
            # Left by a run killed while saving.
            shutil.rmtree(stale, ignore_errors=True)
        temp.mkdir()
    barrier()
    torch.save({"rng": rng_state(), "data": data_state}, temp / f"rank-{ctx.rank:05d}.pt")
    if ctx.is_main:
        module.encoder.save_pretrained(temp, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(temp)
        save_file(head_state(module), str(temp / HEADS_FILE), metadata={"format": "pt"})
        if optimizer is not None:
            torch.save(optimizer.state_dict(), temp / "optimizer.pt")
        if scheduler is not None:
            torch.save(scheduler.state_dict(), temp / "scheduler.pt")
    barrier()  # every rank's file is on disk before the checkpoint becomes visible
    if ctx.is_main:
        state = {"format_version": FORMAT_VERSION, "step": step, "world_size": ctx.world_size, **(extra or {})}
        (temp / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")
        if final.exists():
            # The same step saved again (a run resumed from an explicit older checkpoint): move the old one
            # out of the way first, so no half-deleted directory ever carries the final name.
            old = root / f"{TEMP_PREFIX}old-{checkpoint_name(step)}"
            os.replace(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(temp, final)
        if keep_last > 0:
            for _, old in list_checkpoints(root)[:-keep_last]:
                shutil.rmtree(old, ignore_errors=True)
    barrier()
    return final


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """``load_file``, a damaged or cut file being an error naming it (safetensors' own message names none)."""
    try:
        return load_file(str(path))
    except SafetensorError as err:
        raise InputDataError(f"{path}: not a readable safetensors file ({err}): the file is damaged or cut "
                             "short") from None


def load_module_weights(checkpoint: str | os.PathLike, model: nn.Module) -> None:
    """Load the encoder and head weights of ``checkpoint`` into ``model`` (strict, tied weights excepted)."""
    checkpoint = Path(checkpoint)
    module = unwrap(model)
    encoder_file = checkpoint / ENCODER_WEIGHTS
    if not encoder_file.is_file():
        raise FileNotFoundError(f"{encoder_file} not found (sharded or non-safetensors encoders are not "
                                "supported for resuming)")
    encoder_state = read_safetensors(encoder_file)
    result = module.encoder.load_state_dict(encoder_state, strict=False)
    if result.unexpected_keys:
        raise InputDataError(f"{encoder_file}: weights the model does not have: {result.unexpected_keys[:5]}")
    # save_pretrained leaves out weights tied to another one (e.g. an MLM decoder tied to the embeddings);
    # they are restored through the weight they share storage with. Anything else missing is an error.
    own = module.encoder.state_dict()
    loaded = {own[k].untyped_storage().data_ptr() for k in encoder_state}
    untied = [k for k in result.missing_keys if own[k].untyped_storage().data_ptr() not in loaded]
    if untied:
        raise InputDataError(f"{encoder_file} lacks weights of the model: {untied[:5]}")
    heads_file = checkpoint / HEADS_FILE
    heads = read_safetensors(heads_file) if heads_file.is_file() else {}
    expected = head_state(module)
    if set(heads) != set(expected):
        raise InputDataError(f"{heads_file}: holds {sorted(set(heads) - set(expected))[:5]} and lacks "
                              f"{sorted(set(expected) - set(heads))[:5]}: not a checkpoint of this model")
    module.load_state_dict({**module.state_dict(), **heads}, strict=True)


def load_checkpoint(checkpoint: str | os.PathLike, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None, *,
                    ctx: DistributedContext | None = None, restore_rng: bool = True) -> ResumeState:
    """Restore everything ``save_checkpoint`` wrote into live objects; returns the step and data position.

    Call it after the model, optimizer and scheduler exist and before the first batch is drawn: it resets
    the random states to those of the saved step."""
    ctx = ctx or DistributedContext()
    checkpoint = Path(checkpoint)
    state_file = checkpoint / STATE_FILE
    if not state_file.is_file():
        raise FileNotFoundError(f"{checkpoint} is not a complete checkpoint (no {STATE_FILE})")
    state = json.loads(state_file.read_text(encoding="utf-8"))
    if state.get("world_size", 1) != ctx.world_size:
        raise InputDataError(f"{checkpoint} was written by {state.get('world_size')} rank(s) and this run has "
                              f"{ctx.world_size}: an exact resume needs the same number")
    load_module_weights(checkpoint, model)
    device = next(unwrap(model).parameters()).device
    if optimizer is not None:
        optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", map_location=device,
                                             weights_only=True))
    if scheduler is not None:
        scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=True))
    rank_file = checkpoint / f"rank-{ctx.rank:05d}.pt"
    # weights_only: a checkpoint folder can come from anywhere, and a full unpickle runs whatever code the file
    # names. numpy's random state (an array and its dtype) is the one non-tensor object, allowed by name.
    try:
        with torch.serialization.safe_globals(_RANK_STATE_GLOBALS):
            rank_state = torch.load(rank_file, weights_only=True)
    except pickle.UnpicklingError as err:
        unsupported = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
        what = unsupported.group(1) if unsupported else "an object that is not a tensor"
        raise InputDataError(f"{rank_file}: refused: its pickle calls {what}, which no checkpoint this trainer "
                              "writes holds (loading it would run code)") from None
    if restore_rng:
        set_rng_state(rank_state["rng"])
    extra = {k: v for k, v in state.items() if k not in ("format_version", "step", "world_size")}
    return ResumeState(step=int(state["step"]), data_state=rank_state["data"], extra=extra)


def load_matching_heads(model: nn.Module, directory: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Load the parameters of ``<directory>/heads.safetensors`` whose names and shapes match ``model``'s own
    heads (an mPMR extractor into ``ExtractorQA``, CLISM's W_s/W_e into ``QueQA``). Returns (loaded, ignored)."""
    path = Path(directory) / HEADS_FILE
    if not path.is_file():
        return [], []
    saved = read_safetensors(path)
    own = head_state(model)
    loaded = sorted(k for k, v in saved.items() if k in own and own[k].shape == v.shape)
    ignored = sorted(set(saved) - set(loaded))
    if loaded:
        model.load_state_dict({k: saved[k] for k in loaded}, strict=False)
    return loaded, ignored


def save_weights(directory: str | os.PathLike, model: nn.Module, tokenizer: Any = None,
                 state: dict | None = None) -> Path:
    """The model's weights alone (encoder, heads, tokenizer and a ``trainer_state.json`` with ``state``), as
    ``load_module_weights`` reads them: a selected model, not a point to resume from. Main rank only."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    module = unwrap(model)
    module.encoder.save_pretrained(directory, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    save_file(head_state(module), str(directory / HEADS_FILE), metadata={"format": "pt"})
    (directory / STATE_FILE).write_text(json.dumps({"format_version": FORMAT_VERSION, **(state or {})}, indent=1),
                                        encoding="utf-8")
    return directory
