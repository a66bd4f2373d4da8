"""Helpers for aligners that run external binaries: finding them and running them safely.

Commands are argument lists run without a shell, so no sentence text or path is ever interpreted by one.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import List, Optional, Sequence

from .errors import AlignerFailedError, BinaryNotFoundError


def find_binary(names: Sequence[str], explicit: Optional[str], what: str, install_hint: str,
                search_dir: Optional[str] = None) -> str:
    """Resolve an executable: an explicit path (file, or a directory holding one of ``names``), then
    ``search_dir``, then PATH. Raises BinaryNotFoundError naming what to install."""
    tried: List[str] = []
    if explicit:
        explicit = os.path.expanduser(str(explicit))
        if os.path.isdir(explicit):
            search_dir = explicit
        elif os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return os.path.abspath(explicit)
        else:
            raise BinaryNotFoundError(f"{what}: {explicit} is not an executable file. {install_hint}")
    for name in names:
        if search_dir:
            candidate = os.path.join(search_dir, name)
            tried.append(candidate)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return os.path.abspath(candidate)
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    looked = " or ".join(repr(n) for n in names)
    raise BinaryNotFoundError(f"{what}: no {looked} executable found "
                              f"{'in ' + search_dir + ' or ' if search_dir else 'on '}PATH. {install_hint}")


def run_command(args: Sequence[str], what: str, cwd: Optional[str] = None, stdout=None,
                timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    """Run ``args`` (a list, never a shell string); a non-zero exit becomes AlignerFailedError with the end
    of the tool's stderr, since that is where these tools explain themselves."""
    try:
        proc = subprocess.run(list(args), cwd=cwd, stdout=stdout if stdout is not None else subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, check=False)
    except FileNotFoundError as err:
        raise BinaryNotFoundError(f"{what}: cannot run {args[0]}: {err.strerror}") from err
    except subprocess.TimeoutExpired as err:
        raise AlignerFailedError(f"{what}: {args[0]} ran longer than {timeout} s") from err
    if proc.returncode != 0:
        tail = (proc.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-5:]
        raise AlignerFailedError(f"{what}: {os.path.basename(args[0])} exited with status {proc.returncode}"
                                 + (": " + " | ".join(tail) if tail else ""))
    return proc
