"""The one base class of the errors a user causes (a bad option, config, file, dataset or name).

Every command prints such an error as one line and exits 1; anything that is not a ``UserError`` is a bug and
keeps its traceback. Modules raise their own subclasses (``ConfigError``, ``DatasetError``, ...) so a caller can
still tell them apart. It lives in ``schemas`` because every other package may import ``schemas`` and nothing
here imports anything.
"""
from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: the message says what and where (file, line, key or name)."""


class InputDataError(UserError, ValueError):
    """An input file, record or checkpoint that cannot be used as given (too few examples, a malformed line, a
    file that does not match its partner); the message names the file and, where there is one, the position.
    A ``ValueError`` too, so callers that caught the plain ``ValueError`` these used to be still do."""


class UsageError(UserError, ValueError):
    """A command-line option or value that cannot be used (a malformed ``LANG=PATH``, options that do not go
    together, an unknown name where argparse has no choices); the message names the option."""
