"""A pipeline's command-line flags derived from its config dataclass, so that each default is written once.

    @dataclass
    class MyConfig:
        seed: int = flag(0, "seed of every random choice")
        parse_timeout_s: float = flag(30.0, "skip a slow page (0: no bound)", name="--parse-timeout")

    add_config_arguments(parser, MyConfig)     # --seed, --parse-timeout, with their defaults and help
    MyConfig(**config_values(args, MyConfig))  # every flagged field from the parsed arguments

A field made with :func:`flag` becomes ``--field-name`` (or ``name``); its type is its default's (a ``bool``
default makes an on/off switch), and its help says the default unless the help text already does. Fields
without a flag (required values, values the command resolves itself) are the command's to add.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Iterable, Optional

_KEY = "cli"


def flag(default: Any, help: str, *, name: Optional[str] = None, metavar: Optional[str] = None,
         choices: Optional[Iterable[str]] = None) -> Any:
    """A dataclass field with ``default`` and the command-line flag that sets it."""
    spec = {"help": help, "name": name, "metavar": metavar, "choices": tuple(choices) if choices else None}
    return dataclasses.field(default=default, metadata={_KEY: spec})


def flagged_fields(config_class: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(config_class) if _KEY in f.metadata]


def flag_name(field: dataclasses.Field) -> str:
    return field.metadata[_KEY]["name"] or "--" + field.name.replace("_", "-")


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """One flag per flagged field of ``config_class``, its value stored under the field's name."""
    for field in flagged_fields(config_class):
        spec = field.metadata[_KEY]
        help_text = spec["help"]
        if "default" not in help_text:
            help_text += f" (default {field.default!r})" if isinstance(field.default, str) else \
                f" (default {field.default})"
        if isinstance(field.default, bool):
            parser.add_argument(flag_name(field), dest=field.name, action=argparse.BooleanOptionalAction,
                                default=field.default, help=help_text)
            continue
        extra = {k: spec[k] for k in ("metavar", "choices") if spec[k] is not None}
        parser.add_argument(flag_name(field), dest=field.name, type=type(field.default), default=field.default,
                            help=help_text, **extra)


def config_values(args: argparse.Namespace, config_class: type) -> dict[str, Any]:
    """The parsed value of every flagged field of ``config_class``, by field name."""
    return {field.name: getattr(args, field.name) for field in flagged_fields(config_class)}
