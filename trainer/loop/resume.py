"""What a resumed run may change: its config against the one its checkpoint was written with.

A run whose ``output_dir`` holds a checkpoint continues from it; rerun with another config it would train on
with the checkpoint's weights, optimizer and data position under settings they were not made with (or, with
fewer steps, train nothing), and write its config over the old one. ``check_resumed_config`` compares the two
before the run writes anything: each config class lists the keys a resume may change in ``RESUME_MAY_DIFFER``
(trainer/config.py, trainer/finetune_config.py: output paths, threads, logging, intervals, total_steps), and any
other difference is a ``ConfigError`` naming the keys with both values.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

from schemas.errors import InputDataError
from trainer.config import ConfigError
from trainer.loop.checkpoint import STATE_FILE

logger = logging.getLogger(__name__)


def check_resumed_config(checkpoint: str | os.PathLike | None, config: Any) -> None:
    """A run about to continue from ``checkpoint`` (None: a fresh start, nothing to check) with ``config``: an
    error naming every key whose value differs from the config the checkpoint was written with, unless the
    config class lets a resume change it (``RESUME_MAY_DIFFER``: logging, intervals, output paths, threads,
    total_steps; ``resume_differences``). Call it before the run writes anything, so a refused run
    leaves the folder - its ``config.yaml`` included - as it was."""
    if checkpoint is None:
        return
    state_file = Path(checkpoint) / STATE_FILE
    try:
        saved = json.loads(state_file.read_text(encoding="utf-8")).get("run", {}).get("config")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise InputDataError(f"{state_file}: not a trainer state ({err}): the checkpoint is damaged") from None
    if not isinstance(saved, dict):
        logger.warning("%s records no config: the resumed run's config cannot be compared with it", checkpoint)
        return
    refused, allowed = resume_differences(config, saved)
    now = _as_json(dataclasses.asdict(config))

    def change(key: str) -> str:
        return f"{key} {_shown(saved, key)} -> {_shown(now, key)}"

    if refused:
        shown = [change(key) for key in refused[:5]]
        more = f" and {len(refused) - 5} more" if len(refused) > 5 else ""
        raise ConfigError(f"{checkpoint} was written with another config ({'; '.join(shown)}{more}): a resumed run "
                          "keeps the model, data and optimisation it started with; give the same values, or "
                          "another output_dir for a new run")
    changed = [change(key) for key in allowed]
    if changed:
        logger.info("resuming %s with %s", checkpoint, "; ".join(changed))
    if any(change.startswith("train.total_steps ") for change in changed):
        logger.warning("train.total_steps changed on resume: the learning rate decays to 0 at step %d from the "
                       "next step on", config.train.total_steps)


def resume_differences(config: Any, saved: dict) -> tuple[list[str], list[str]]:
    """``(refused, allowed)``: the keys whose value in ``config`` differs from ``saved`` (the config dict a
    checkpoint recorded), split by the config class's ``RESUME_MAY_DIFFER`` (a key, or a section and all below
    it). A key the saved config lacks (written before the key existed) counts as its default; a saved key the
    config class no longer has is ignored. Mappings (``objective.options``, ``data.train``) are compared key by
    key, so the message names e.g. ``objective.options.max_span_length``."""
    differing = _differences(config, saved, "")
    may_differ = getattr(type(config), "RESUME_MAY_DIFFER", ())

    def allowed(key: str) -> bool:
        return any(key == prefix or key.startswith(prefix + ".") for prefix in may_differ)

    return [k for k in differing if not allowed(k)], [k for k in differing if allowed(k)]


def _shown(values: Any, key: str) -> str:
    """The value at dotted ``key`` of nested mappings, for a message; "unset" where it is absent."""
    for part in key.split("."):
        if not isinstance(values, dict) or part not in values:
            return "unset"
        values = values[part]
    return repr(values)


def _differences(instance: Any, saved: dict, prefix: str) -> list[str]:
    saved = saved if isinstance(saved, dict) else {}
    defaults = type(instance)()
    found = []
    for f in dataclasses.fields(instance):
        key, now = prefix + f.name, getattr(instance, f.name)
        if dataclasses.is_dataclass(now):
            found += _differences(now, saved.get(f.name, {}), key + ".")
            continue
        before = saved[f.name] if f.name in saved else _as_json(getattr(defaults, f.name))
        found += _value_differences(before, _as_json(now), key)
    return found


def _value_differences(before: Any, now: Any, key: str) -> list[str]:
    if before == now:
        return []
    if isinstance(before, dict) and isinstance(now, dict):
        return [name for k in sorted(set(before) | set(now), key=str)
                for name in _value_differences(before.get(k, _ABSENT), now.get(k, _ABSENT), f"{key}.{k}")]
    return [key]


_ABSENT = object()  # a mapping key one side lacks: differs from any value, None included


def _as_json(value: Any) -> Any:
    """``value`` as a checkpoint's JSON holds it (tuples as lists, keys as strings)."""
    return json.loads(json.dumps(value))
