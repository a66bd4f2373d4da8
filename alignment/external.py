"""Helpers for aligners that run external programs (fast_align, GIZA++/MGIZA++): finding them and running them.

Where a program is looked for, in order (the same way for every tool of an aligner):

1. the aligner's ``binary`` option (``--aligner-bin`` on the command lines): the executable itself, or the
   directory holding it and its companions;
2. the directory named by the environment variable ``POLYSPAN_ALIGNER_BIN`` (:data:`BIN_ENV`);
3. ``PATH``.

A tools directory laid out like an install prefix (``bin/`` next to ``lib/``, as Moses and ``../shared/tools``
are) may hold shared libraries its programs need (MGIZA++ needs Boost's thread library, which a bare machine
lacks): when ``<bin>/../lib`` exists it is put in front of ``LD_LIBRARY_PATH`` for the run, so the programs
start without the user exporting anything.

Commands are argument lists run without a shell, so no sentence text or path is ever interpreted by one.
A failing program becomes one :class:`AlignerFailedError` line carrying the end of the program's own message.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Dict, List, Optional, Sequence

from .errors import AlignerFailedError, BinaryNotFoundError

BIN_ENV = "POLYSPAN_ALIGNER_BIN"


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_binary(names: Sequence[str], explicit: Optional[str], what: str, install_hint: str,
                search_dir: Optional[str] = None) -> str:
    """Resolve an executable called one of ``names``: ``explicit`` (a file, or a directory holding one of
    ``names``), else ``search_dir`` (e.g. the directory of a companion already found), else $POLYSPAN_ALIGNER_BIN,
    else PATH. Raises BinaryNotFoundError naming what was tried and what to install."""
    dirs: List[str] = []
    if explicit:
        explicit = os.path.expanduser(str(explicit))
        if os.path.isdir(explicit):
            dirs.append(explicit)
        elif _executable(explicit):
            if os.path.basename(explicit) in names:
                return os.path.abspath(explicit)
            # An explicit file that is another tool (mgiza given, snt2cooc wanted): look next to it.
            dirs.append(os.path.dirname(os.path.abspath(explicit)))
        else:
            raise BinaryNotFoundError(f"{what}: {explicit} is not an executable file or a directory. {install_hint}")
    if search_dir:
        dirs.append(search_dir)
    env_dir = os.environ.get(BIN_ENV)
    if env_dir:
        dirs.append(os.path.expanduser(env_dir))
    for directory in dirs:
        for name in names:
            candidate = os.path.join(directory, name)
            if _executable(candidate):
                return os.path.abspath(candidate)
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    looked = " or ".join(repr(n) for n in names)
    where = ", ".join(dict.fromkeys(dirs)) + " or PATH" if dirs else "PATH"
    raise BinaryNotFoundError(f"{what}: no {looked} executable found in {where}. {install_hint}")


def tool_environment(executable: str, extra: Optional[Dict[str, str]] = None) -> Optional[Dict[str, str]]:
    """The environment to run ``executable`` in: this process's, with ``<its dir>/../lib`` put in front of
    LD_LIBRARY_PATH when that directory exists (an install prefix's own libraries), and ``extra`` set; None
    (inherit unchanged) when neither applies."""
    lib = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(executable))), "lib")
    if not os.path.isdir(lib) and not extra:
        return None
    env = dict(os.environ)
    if os.path.isdir(lib):
        env["LD_LIBRARY_PATH"] = lib + (os.pathsep + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    env.update(extra or {})
    return env


def _last_lines(data: Optional[bytes], n: int = 1) -> List[str]:
    lines = [line.strip() for line in (data or b"").decode("utf-8", "replace").splitlines()]
    return [line for line in lines if line][-n:]


def run_command(args: Sequence[str], what: str, cwd: Optional[str] = None, stdout=None,
                timeout: Optional[float] = None, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """Run ``args`` (a list, never a shell string) with :func:`tool_environment` (plus ``env``). A non-zero exit
    becomes one AlignerFailedError line ending with the last line of the tool's stderr (of its stdout when stderr
    is empty: GIZA's tools print their errors there): these tools explain themselves on their last line, after
    progress or echoed options (fast_align prints ``ARG=x`` per option first)."""
    try:
        proc = subprocess.run(list(args), cwd=cwd, stdout=stdout if stdout is not None else subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, check=False, env=tool_environment(args[0], env))
    except FileNotFoundError as err:
        raise BinaryNotFoundError(f"{what}: cannot run {args[0]}: {err.strerror}") from err
    except subprocess.TimeoutExpired as err:
        raise AlignerFailedError(f"{what}: {os.path.basename(args[0])} ran longer than {timeout} s") from err
    if proc.returncode != 0:
        tail = _last_lines(proc.stderr) or _last_lines(proc.stdout if isinstance(proc.stdout, bytes) else None)
        status = (f"was killed by signal {-proc.returncode}" if proc.returncode < 0
                  else f"exited with status {proc.returncode}")
        raise AlignerFailedError(f"{what}: {os.path.basename(args[0])} {status}"
                                 + (": " + " | ".join(tail) if tail else ""))
    return proc
