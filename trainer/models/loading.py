"""Every tokenizer and pretrained model the trainer reads from a folder (or a cached model name) is loaded here,
and nothing in it is ever run (``ModelConfig.check_pretrained`` reads a folder's config with
``trust_remote_code=False`` as well, before this is reached).

A checkpoint folder can come from anywhere. transformers runs Python shipped inside one when its
``config.json`` or ``tokenizer_config.json`` has an ``auto_map`` (and, asked without ``trust_remote_code``, it
prompts "Do you wish to run the custom code? [y/N]", which piped input answers). So every load here passes
``trust_remote_code=False``, and a folder that asks for code - an ``auto_map``, or a ``model_type``
transformers does not know (only code shipped with the folder could build it) - is refused before transformers
is asked, with one line naming the file.

The files transformers reads are checked first too, so a damaged one gives one line naming it rather than
"Unterminated string ... (char 10495)", a ``KeyError`` from deep inside the tokenizer, or a safetensors header
error that names no file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from schemas.errors import UserError

CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
# JSON files AutoTokenizer/AutoConfig read when present; each must parse, and be a JSON object.
JSON_FILES = (CONFIG_FILE, "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
              TOKENIZER_FILE)
CODE_FILES = (CONFIG_FILE, "tokenizer_config.json")  # where transformers looks for an auto_map
WEIGHTS_FILE = "model.safetensors"


class CheckpointError(UserError, ValueError):
    """A model folder that cannot be loaded, or must not be: the message names the file.

    Also a ``ValueError``, so the callers that caught transformers' own errors still catch it."""


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise CheckpointError(f"{path}: byte {err.object[err.start:err.start + 1]!r} at offset {err.start} is not "
                              "valid UTF-8: not a JSON file") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}): "
                              "the file is damaged or cut short") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value


def _known_model_types() -> set[str]:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    return set(CONFIG_MAPPING.keys())


def check_model_folder(name_or_path: str | os.PathLike) -> None:
    """Refuse a folder whose files ask for code or are damaged; a name that is no folder (a model in the local
    cache) is left to transformers, which ``trust_remote_code=False`` keeps from running anything."""
    directory = Path(name_or_path)
    if not directory.is_dir():
        return
    contents = {}
    for name in JSON_FILES:
        if (directory / name).is_file():
            contents[name] = _read_json(directory / name)
    for name in CODE_FILES:
        if "auto_map" in contents.get(name, {}):
            mapped = contents[name]["auto_map"]
            classes = ", ".join(f"{k}={v}" for k, v in mapped.items()) if isinstance(mapped, dict) else mapped
            raise CheckpointError(f"{directory / name}: refused: its auto_map ({classes}) asks to run Python "
                                  "shipped with the checkpoint, which the trainer never does")
    model_type = contents.get(CONFIG_FILE, {}).get("model_type")
    if model_type is not None and model_type not in _known_model_types():
        raise CheckpointError(f"{directory / CONFIG_FILE}: refused: model_type {model_type!r} is not one "
                              "transformers knows (only code shipped with the checkpoint could build it)")


def check_tokenizer_file(path: Path) -> None:
    """A ``tokenizer.json`` that is JSON but not a tokenizer fails inside transformers with a bare ``KeyError``;
    here it is an error naming the file."""
    from tokenizers import Tokenizer
    try:
        Tokenizer.from_file(str(path))
    except Exception as err:  # tokenizers raises a bare Exception for a file it cannot read
        raise CheckpointError(f"{path}: valid JSON but not a tokenizer ({err})") from None


def check_safetensors(path: str | os.PathLike) -> None:
    """Open the file's header (no tensor is read): a cut file, or a header whose offsets lie about the data,
    is an error naming the file."""
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(str(path), framework="pt"):
            pass
    except SafetensorError as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err}): the file is damaged or cut "
                              "short") from None


def load_tokenizer_from(name_or_path: str | os.PathLike):
    """``AutoTokenizer.from_pretrained`` of a checked folder, never running the folder's code."""
    from transformers import AutoTokenizer
    check_model_folder(name_or_path)
    if (Path(name_or_path) / TOKENIZER_FILE).is_file():
        check_tokenizer_file(Path(name_or_path) / TOKENIZER_FILE)
    try:
        return AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{os.fspath(name_or_path)}: no tokenizer could be loaded: {err}") from None


def load_pretrained(auto_class, name_or_path: str | os.PathLike, **kwargs):
    """``auto_class.from_pretrained`` (``AutoModel``, ``AutoModelForMaskedLM``, ...) of a checked folder, never
    running the folder's code. A ``TypeError`` (an argument the model class does not take, such as
    ``add_pooling_layer``) is left to the caller."""
    check_model_folder(name_or_path)
    if (Path(name_or_path) / WEIGHTS_FILE).is_file():
        check_safetensors(Path(name_or_path) / WEIGHTS_FILE)
    try:
        return auto_class.from_pretrained(name_or_path, trust_remote_code=False, **kwargs)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{os.fspath(name_or_path)}: the model could not be loaded: {err}") from None


def model_from_config(auto_class, config, **kwargs):
    """``auto_class.from_config``: a fresh model of a config, never of code the config names."""
    return auto_class.from_config(config, trust_remote_code=False, **kwargs)
