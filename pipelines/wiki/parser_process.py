"""The sandboxed wikitext parser: :func:`pipelines.wiki.wikitext.parse_wikitext` in a child process that a time
and an address-space bound can stop, for untrusted pages.

mwparserfromhell's tokenizer is super-linear on some inputs (e.g. 64 KB of ``{{a|`` takes about a minute) and a
Beam worker must not hang on one page. ``signal.alarm`` only works in the main thread and cannot interrupt C
code anyway, and a thread cannot be killed. So :class:`WikiTextParser` does two things:

1. a size bound (``max_chars``, checked before parsing, reason ``too_large``);
2. with ``timeout_s`` set, parsing runs in a long-lived child process (one per parser object, i.e. per DoFn
   instance, started in ``setup`` and reused for every page). The parent sends the wikitext over a pipe and
   waits with ``select`` up to ``timeout_s``; if the child does not answer in time it is killed (reason
   ``timeout``) and a fresh one is started for the next page; a child that dies (e.g. a crash in C code) gives
   reason ``worker_crashed``. The child also runs under an address-space ceiling (``RLIMIT_AS``,
   ``max_memory_mb``): the time bound alone does not stop a page whose parse tree balloons, which can take the
   whole machine before the timeout fires, more so on a loaded worker. A page that hits the ceiling is
   reported as ``memory_limit`` and the next page gets a fresh child. The child does the whole conversion, so
   the parent only pays for pickling the wikitext and the (smaller) result, a few percent of the parse time. The
   child is started with ``subprocess`` (not ``multiprocessing``): no ``fork`` of a multi-threaded Beam worker,
   no re-import of the worker's ``__main__``. Linux/macOS only (``select`` on a pipe).

Without ``timeout_s`` the conversion runs inline (size bound only): fastest, for trusted input and tests.
Inline, nothing bounds memory, and a ``MemoryError`` is the worker's own: it propagates.

The child runs ``_serve`` (``python -c "from pipelines.wiki.parser_process import _serve; _serve()"``); frames on
its stdin/stdout are an 8-byte big-endian length and a pickle.
"""
from __future__ import annotations

import os
import pickle
import resource
import select
import struct
import subprocess
import sys
import threading
import time
import weakref
from typing import Optional

from pipelines.wiki.titles import NamespaceTable
from pipelines.wiki.wikitext import DEFAULT_MAX_CHARS, WikiText, parse_wikitext, skipped_page

__all__ = ["WikiTextParser", "DEFAULT_MAX_MEMORY_MB"]

# Address space of a parse child. Pages at the size bound made of the densest markup measured (2M characters
# of links, of list items with links, of entities) peak at 0.22-0.28 GB resident in the child; the child
# itself starts at 24 MB. 1 GB leaves every legitimate page 3.5x room and stops a balloon long before it
# takes the machine (the tests' busiest process stays under 0.5 GB).
DEFAULT_MAX_MEMORY_MB = 1024


class WikiTextParser:
    """Reusable converter for one wiki; the object to create in a DoFn's ``setup`` and ``close`` in
    ``teardown``. Picklable (the child process is not pickled; a copy starts its own when first used).

    ``timeout_s=None``: inline conversion. ``timeout_s=t``: conversion in a child process, killed after ``t``
    seconds per page, whose address space is capped at ``max_memory_mb`` (0: no cap; see the module
    docstring)."""

    def __init__(self, lang: str = "en", namespaces: Optional[NamespaceTable] = None, *,
                 max_chars: int = DEFAULT_MAX_CHARS, timeout_s: Optional[float] = None,
                 max_memory_mb: int = DEFAULT_MAX_MEMORY_MB, startup_timeout_s: float = 120.0):
        if max_memory_mb < 0:
            raise ValueError(f"max_memory_mb must be 0 (no ceiling) or positive, not {max_memory_mb}")
        self.lang = lang
        self.namespaces = namespaces if namespaces is not None else NamespaceTable.default(lang)
        self.max_chars = max_chars
        self.timeout_s = timeout_s
        self.max_memory_mb = max_memory_mb
        self.startup_timeout_s = startup_timeout_s
        self._worker: Optional[_Worker] = None
        self._lock = threading.Lock()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_worker"] = None
        state.pop("_lock", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def parse(self, wikitext: str) -> WikiText:
        if len(wikitext) > self.max_chars:
            return skipped_page("too_large")
        if self.timeout_s is None:
            return parse_wikitext(wikitext, self.lang, self.namespaces, max_chars=self.max_chars)
        with self._lock:
            if self._worker is None:
                self._worker = _Worker((self.lang, self.namespaces, self.max_chars, self.max_memory_mb),
                                       self.startup_timeout_s)
            result = self._worker.call(wikitext, self.timeout_s)
            # After a MemoryError the child's heap may stay near its ceiling: the next page gets a fresh one.
            if result.skipped in ("timeout", "worker_crashed", "memory_limit"):
                self._worker.kill()
                self._worker = None  # a fresh child for the next page
            return result

    def close(self) -> None:
        with self._lock:
            if self._worker is not None:
                self._worker.stop()
                self._worker = None

    def __enter__(self) -> "WikiTextParser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------------------------
# Child process
# ---------------------------------------------------------------------------------------------------------------

_HEADER = struct.Struct(">Q")
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _WorkerDied(Exception):
    pass


class _Worker:
    def __init__(self, config, startup_timeout_s: float):
        env = dict(os.environ)
        # The child must import this very package, wherever it is installed or checked out.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from pipelines.wiki.parser_process import _serve; _serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, env=env, close_fds=True)
        self._finalizer = weakref.finalize(self, _kill, self.proc)
        self._send(config)
        ready = self._receive(startup_timeout_s)
        if ready != "ready":
            self.kill()
            raise RuntimeError(f"wikitext worker failed to start: {ready!r}")

    def _send(self, obj) -> None:
        payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.write(_HEADER.pack(len(payload)) + payload)

    def _read_exact(self, n: int, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        chunks, got = [], 0
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise TimeoutError
            data = os.read(fd, min(n - got, 1 << 20))
            if not data:
                raise _WorkerDied
            chunks.append(data)
            got += len(data)
        return b"".join(chunks)

    def _receive(self, timeout_s: float):
        deadline = time.monotonic() + timeout_s
        (size,) = _HEADER.unpack(self._read_exact(_HEADER.size, deadline))
        return pickle.loads(self._read_exact(size, deadline))

    def call(self, wikitext: str, timeout_s: float) -> WikiText:
        try:
            self._send(wikitext)
            return self._receive(timeout_s)
        except TimeoutError:
            return skipped_page("timeout")
        except (_WorkerDied, BrokenPipeError, OSError, EOFError, pickle.UnpicklingError):
            return skipped_page("worker_crashed")

    def kill(self) -> None:
        self._finalizer()

    def stop(self) -> None:
        try:
            self.proc.stdin.close()  # the child exits on EOF
            self.proc.wait(timeout=5)
        except Exception:
            pass
        self._finalizer()


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=10)
    except Exception:
        pass
    for stream in (proc.stdin, proc.stdout):
        try:
            stream.close()
        except Exception:
            pass


def _serve() -> None:
    """Child main loop: first frame (lang, namespaces, max_chars, max_memory_mb), then one wikitext per frame,
    answered with one pickled WikiText. Exits on EOF. stdout is the protocol channel, so anything printed goes
    to stderr."""
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    inp = os.fdopen(os.dup(0), "rb", buffering=0)

    def read_exact(n: int) -> Optional[bytes]:
        chunks, got = [], 0
        while got < n:
            data = inp.read(n - got)
            if not data:
                return None
            chunks.append(data)
            got += len(data)
        return b"".join(chunks)

    def send(obj) -> None:
        payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_HEADER.pack(len(payload)) + payload)

    header = read_exact(_HEADER.size)
    if header is None:
        return
    lang, namespaces, max_chars, max_memory_mb = pickle.loads(read_exact(_HEADER.unpack(header)[0]))
    # Built now: when the ceiling is hit there may be no memory left to build the answer.
    out_of_memory = pickle.dumps(skipped_page("memory_limit"), protocol=pickle.HIGHEST_PROTOCOL)
    out_of_memory = _HEADER.pack(len(out_of_memory)) + out_of_memory
    if max_memory_mb:
        _cap_address_space(max_memory_mb << 20)
    send("ready")
    while True:
        header = read_exact(_HEADER.size)
        if header is None:
            return
        payload = read_exact(_HEADER.unpack(header)[0])
        if payload is None:
            return
        failed = False
        try:
            send(parse_wikitext(pickle.loads(payload), lang, namespaces, max_chars=max_chars))
        except MemoryError:
            failed = True
        # Outside the except clause: the exception's traceback, which holds the half-built tree, is gone.
        if failed:
            del payload
            out.write(out_of_memory)


def _cap_address_space(limit_bytes: int) -> None:
    """Set this process's RLIMIT_AS soft limit (never above a hard limit someone else set). Set by the child
    itself, not by ``preexec_fn``, which is unsafe in a multi-threaded parent such as a Beam worker."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit_bytes = min(limit_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, hard))
