"""A pipeline's command-line flags derived from its config dataclass, so that each default is written once.

    @dataclass
    class MyConfig:
        seed: int = flag(0, "seed of every random choice")
        parse_timeout_s: float = flag(30.0, "skip a slow page (0: no bound)", name="--parse-timeout")

    add_config_arguments(parser, MyConfig)     # --seed, --parse-timeout, with their defaults and help
    MyConfig(**config_values(args, MyConfig))  # every flagged field from the parsed arguments

A field made with :func:`flag` becomes ``--field-name`` (or ``name``); its type is its default's (or ``type``),
and its help says the default unless the help text already does or ``show_default=False``. A ``bool`` field is a
switch that turns its default over: ``False`` makes ``--field-name`` (store true), ``True`` makes
``--no-field-name`` (store false; ``name`` may call it otherwise, e.g. ``--align-only-spanned``). Fields without a
flag (required values, values the command resolves itself) are the command's to add.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Callable, Iterable, Optional

_KEY = "cli"


def flag(default: Any, help: str, *, name: Optional[str] = None, metavar: Optional[str] = None,
         choices: Optional[Iterable[str]] = None, type: Optional[Callable[[str], Any]] = None,
         show_default: bool = True) -> Any:
    """A dataclass field with ``default`` and the command-line flag that sets it (``type``: how the flag's text
    becomes the value, when not by the default's type, e.g. ``str.upper``)."""
    spec = {"help": help, "name": name, "metavar": metavar, "choices": tuple(choices) if choices else None,
            "type": type, "show_default": show_default}
    return dataclasses.field(default=default, metadata={_KEY: spec})


def flagged_fields(config_class: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(config_class) if _KEY in f.metadata]


def flag_name(field: dataclasses.Field) -> str:
    switch_off = field.default is True  # a switch that is on by default is named for turning it off
    return field.metadata[_KEY]["name"] or ("--no-" if switch_off else "--") + field.name.replace("_", "-")


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """One flag per flagged field of ``config_class``, its value stored under the field's name."""
    for field in flagged_fields(config_class):
        spec = field.metadata[_KEY]
        help_text = spec["help"]
        if isinstance(field.default, bool):  # a switch: its help says what turning it over does
            parser.add_argument(flag_name(field), dest=field.name, default=field.default, help=help_text,
                                action="store_false" if field.default else "store_true")
            continue
        if spec["show_default"] and "default" not in help_text:
            help_text += f" (default {field.default!r})" if isinstance(field.default, str) else \
                f" (default {field.default})"
        extra = {k: spec[k] for k in ("metavar", "choices") if spec[k] is not None}
        if spec["metavar"] is None and spec["choices"] is None:
            # Named after the flag, as argparse names a hand-written one (the dest may differ: --extra-max-words)
            extra["metavar"] = flag_name(field).lstrip("-").replace("-", "_").upper()
        # A str flag needs no conversion (argparse's type None, as a hand-written add_argument has it).
        convert = spec["type"] or (None if isinstance(field.default, str) else type(field.default))
        if convert is not None:
            extra["type"] = convert
        parser.add_argument(flag_name(field), dest=field.name, default=field.default, help=help_text, **extra)


def config_values(args: argparse.Namespace, config_class: type) -> dict[str, Any]:
    """The parsed value of every flagged field of ``config_class``, by field name."""
    return {field.name: getattr(args, field.name) for field in flagged_fields(config_class)}
