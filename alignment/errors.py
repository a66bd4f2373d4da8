"""Exceptions of the alignment layer.

Every error a user can cause with bad input names the file and the (1-based) line, so the CLI can print one
line instead of a traceback and a Beam worker's log says exactly which record broke.
"""
from __future__ import annotations

from os import PathLike
from typing import Optional, Union

from schemas.errors import UserError


class AlignmentError(UserError):
    """Base class: anything this package raises on purpose."""


class InputError(AlignmentError, ValueError):
    """Malformed input text or links; carries where it was found."""

    def __init__(self, message: str, path: Optional[Union[str, PathLike]] = None,
                 lineno: Optional[int] = None):
        self.path = None if path is None else str(path)
        self.lineno = lineno
        self.reason = message
        where = self.path or "<input>"
        if lineno is not None:
            where = f"{where}, line {lineno}"
        super().__init__(f"{where}: {message}")


class BinaryNotFoundError(AlignmentError, FileNotFoundError):
    """An external aligner's executable is missing; the message says what to install."""


class AlignerFailedError(AlignmentError, RuntimeError):
    """An aligner ran but failed (non-zero exit, missing or truncated output)."""
