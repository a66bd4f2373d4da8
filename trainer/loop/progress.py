"""Progress of the trainer's long work: the training steps and every evaluation or prediction pass.

A ``Progress`` shows one pass (``total`` steps, examples or batches) in one of three ways:

- ``bar``: a tqdm bar on stderr, redrawn in place: count, rate, ETA and the latest values (loss, lr);
- ``lines``: plain lines, for stderr that is not a terminal (a log file, CI, SLURM, a pipe), where carriage
  returns would pile up as one endless line: a line when another 10 % is done (but not sooner than
  ``MIN_GAP_S`` after the previous one) or when ``interval_s`` seconds have passed, whichever comes first, each
  with count, percentage, rate, elapsed time, ETA and the latest values; a pass that ends within ``MIN_GAP_S``
  and printed nothing stays silent (a periodic evaluation of a small dev set adds no noise);
- ``off``: nothing.

``auto`` (the default) is ``bar`` when stderr is a terminal and ``lines`` otherwise. The process-wide setting
(``configure``) comes from the run's config (``train.progress``, ``train.progress_every_s``, applied by the
loop) or, for commands without one (``trainer.evaluate``, ``trainer.predict``), from the environment:
``POLYSPAN_PROGRESS=auto|bar|lines|off``; an explicit config value wins over the environment. Only rank 0 of
a distributed run shows anything (``RANK``; the loop also passes its own context).

Evaluation passes deep inside a task (a tagger's batches, QA windows) do not know which language or run they
serve: ``labelled("eval de")`` names the passes of a block, and ``chunks`` walks a sequence in batches with
progress under that name.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence, TextIO

MODES = ("auto", "bar", "lines", "off")
ENV_VAR = "POLYSPAN_PROGRESS"
DEFAULT_INTERVAL_S = 30.0
MIN_GAP_S = 5.0  # lines: never two within this (unless interval_s is smaller), however fast 10 % go by
STEP_FRACTION = 0.1  # lines: one when this much more of the pass is done


@dataclass
class Settings:
    mode: str = "auto"  # as configured; resolved against the environment and the terminal by ``resolved_mode``
    interval_s: float = DEFAULT_INTERVAL_S
    enabled: bool = True  # False on every rank but 0


_settings = Settings(enabled=int(os.environ.get("RANK", "0") or 0) == 0)
_label: contextvars.ContextVar[str] = contextvars.ContextVar("progress_label", default="predict")


def configure(mode: str | None = None, interval_s: float | None = None, enabled: bool | None = None) -> None:
    """Set the process-wide progress settings (``None`` keeps a value as it is)."""
    if mode is not None:
        if mode not in MODES:
            raise ValueError(f"progress mode must be one of {', '.join(MODES)}, not {mode!r}")
        _settings.mode = mode
    if interval_s is not None:
        _settings.interval_s = float(interval_s)
    if enabled is not None:
        _settings.enabled = enabled


def resolved_mode(stream: TextIO | None = None) -> str:
    """``bar``, ``lines`` or ``off``: the configured mode, else the environment's, else by the terminal."""
    mode = _settings.mode
    if mode == "auto":
        mode = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
        if mode not in MODES:
            mode = "auto"  # a mistyped variable must not stop a run: fall back to the terminal test
    if not _settings.enabled:
        return "off"
    if mode == "auto":
        stream = stream if stream is not None else sys.stderr
        is_tty = getattr(stream, "isatty", None)
        mode = "bar" if is_tty is not None and is_tty() else "lines"
    return mode


def _clock_text(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _value_text(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Progress:
    """One pass of ``total`` items (``unit``); ``update(n)`` after each ``n`` done, ``close()`` at the end
    (or use it as a context manager). ``initial``: items already done (a resumed run); ``announce``: a lines
    mode first line at the start (training: its total is worth knowing before the first interval);
    ``final``: a closing line even for a short pass."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", *, initial: int = 0, leave: bool = True,
                 announce: bool = False, final: bool = False, mode: str | None = None,
                 interval_s: float | None = None, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream
        self.mode = mode or resolved_mode(stream)
        self.total, self.desc, self.unit = total, desc, unit
        self.n = self.initial = initial
        self.interval_s = _settings.interval_s if interval_s is None else interval_s
        self.final, self.clock = final, clock
        self.started = self.last_line = clock()
        self.lines_written = 0
        self.next_fraction = self._next_fraction()
        self.postfix: dict[str, str] = {}
        self.bar = None
        self.closed = False
        if self.mode == "bar":
            try:
                from tqdm.auto import tqdm
            except ImportError:  # no tqdm: the plain lines still tell the user how far the run is
                self.mode = "lines"
            else:
                self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=leave,
                                dynamic_ncols=True, file=stream or sys.stderr, mininterval=0.5)
        if self.mode == "lines" and announce:
            self._line()

    # ---- what the caller reports -------------------------------------------------------------------------

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.mode == "lines" and self._due():
            self._line()

    def set_values(self, values: Mapping[str, object]) -> None:
        """The latest figures shown with the count (the loss and learning rate of the last logged window)."""
        self.postfix = {key: _value_text(value) for key, value in values.items()}
        if self.bar is not None:
            self.bar.set_postfix(self.postfix, refresh=False)

    def write(self, message: str) -> None:
        """A line of its own (an evaluation's figures) that does not break the bar."""
        if self.bar is not None:
            self.bar.write(message, file=self.stream or sys.stderr)
        else:
            print(message, file=self.stream or sys.stderr, flush=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.bar is not None:
            self.bar.close()
        elif self.mode == "lines" and self.n > self.initial and (
                self.final or self.lines_written or self.clock() - self.started >= MIN_GAP_S):
            self._line(done=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- plain lines ---------------------------------------------------------------------------------------

    def _next_fraction(self) -> float | None:
        if not self.total:
            return None
        done = self.n / self.total
        return (int(done / STEP_FRACTION + 1e-9) + 1) * STEP_FRACTION

    def _due(self) -> bool:
        since = self.clock() - self.last_line
        if since >= self.interval_s:
            return True
        crossed = self.next_fraction is not None and self.n / self.total >= self.next_fraction - 1e-9
        return crossed and since >= min(MIN_GAP_S, self.interval_s)

    def line_text(self, done: bool = False) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        parts = [f"{self.desc}: {count} {self.unit}"]
        if self.total:
            parts[0] += f" ({100.0 * self.n / self.total:.0f}%)"
        if self.n == self.initial and not done:  # the announcement: no rate yet
            return " | ".join(parts + ["starting"])
        rate = (self.n - self.initial) / elapsed
        parts.append(f"{rate:.3g} {self.unit}/s" if rate >= 1 or rate == 0 else f"{1 / rate:.3g} s/{self.unit}")
        parts.append(f"elapsed {_clock_text(elapsed)}")
        if done:
            parts.append("done")
        elif self.total and rate > 0:
            parts.append(f"ETA {_clock_text((self.total - self.n) / rate)}")
        else:
            parts.append("ETA ?")
        parts += [f"{key} {value}" for key, value in self.postfix.items()]
        return " | ".join(parts)

    def _line(self, done: bool = False) -> None:
        print(self.line_text(done), file=self.stream or sys.stderr, flush=True)
        self.last_line = self.clock()
        self.lines_written += 1
        self.next_fraction = self._next_fraction()


# ---- evaluation passes -----------------------------------------------------------------------------------

@contextlib.contextmanager
def labelled(label: str) -> Iterator[None]:
    """Name the progress of every pass inside the block (``"eval de"``); passes outside one are ``predict``."""
    token = _label.set(label)
    try:
        yield
    finally:
        _label.reset(token)


def current_label() -> str:
    return _label.get()


def chunks(items: Sequence, batch_size: int, unit: str = "example") -> Iterator[Sequence]:
    """``items`` in consecutive slices of ``batch_size``, with the pass's progress counted in items."""
    with Progress(len(items), current_label(), unit, leave=False) as progress:
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            yield chunk
            progress.update(len(chunk))
