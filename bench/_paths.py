"""Where the benches find the shared data and tools: ``$POLYSPAN_DATA`` and ``$POLYSPAN_TOOLS``, by default
``../shared/data`` and ``../shared/tools``. A relative path is read from the repository root, as the tests read
it, so a bench finds the same folders whatever directory it is started from."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_ENV, TOOLS_ENV = "POLYSPAN_DATA", "POLYSPAN_TOOLS"


def from_root(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path if path.is_absolute() else (ROOT / path).resolve()


def data_root(arg: str | os.PathLike | None = None) -> Path:
    """The shared data folder: ``arg`` (a bench's ``--data``), else ``$POLYSPAN_DATA``, else ../shared/data."""
    return from_root(arg or os.environ.get(DATA_ENV, "../shared/data"))


def tools_bin(arg: str | os.PathLike | None = None) -> Path:
    """The aligner programs: ``bin/`` of ``arg`` (a bench's ``--tools``), else of ``$POLYSPAN_TOOLS``, else of
    ../shared/tools."""
    return from_root(arg or os.environ.get(TOOLS_ENV, "../shared/tools")) / "bin"
