"""The one base class of the errors a user causes (a bad option, config, file, dataset or name).

Every command prints such an error as one line and exits 1; anything that is not a ``UserError`` is a bug and
keeps its traceback. Modules raise their own subclasses (``ConfigError``, ``DatasetError``, ...) so a caller can
still tell them apart. It lives in ``schemas`` because every other package may import ``schemas`` and nothing
here imports anything.
"""
from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: the message says what and where (file, line, key or name)."""
