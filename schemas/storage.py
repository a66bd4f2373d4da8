"""Paths to datasets, local or remote, resolved to a pyarrow filesystem.

pyarrow's filesystems cover local paths, ``gs://``, ``s3://`` and ``hdfs://`` (and fsspec ones through
``pyarrow.fs.PyFileSystem``), so both halves read and write datasets wherever a cluster keeps them.
"""
from __future__ import annotations

import os

import pyarrow.fs as pafs


def resolve(path: str | os.PathLike) -> tuple[pafs.FileSystem, str]:
    """``(filesystem, path inside it)`` for a local path or a URI such as ``gs://bucket/dir``."""
    text = os.fspath(path)
    if "://" not in text:
        # from_uri wants absolute local paths; relative ones are the caller's working directory.
        return pafs.LocalFileSystem(), os.path.abspath(text)
    return pafs.FileSystem.from_uri(text)


def join(base: str, name: str) -> str:
    """``base/name`` for the paths ``resolve`` returns (always '/'-separated inside a filesystem)."""
    return base.rstrip("/") + "/" + name
