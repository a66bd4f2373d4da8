"""Pharaoh link format (``i-j`` per link, one sentence pair per line) and gold alignments (``i-j`` sure,
``ipj`` possible).

Links are ``(i, j)`` tuples, 0-based, source word i and target word j, everywhere inside the package;
``one_based`` only changes how a file is read or written (WPT gold files are 1-based, aligners write 0-based).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from os import PathLike
from typing import IO, FrozenSet, Iterable, List, Optional, Sequence, Tuple, Union

from .errors import InputError

Link = Tuple[int, int]
PathType = Union[str, PathLike]

# Digits, a separator, digits: '-' for a sure link, 'p' for a possible one (gold files only).
_LINK_RE = re.compile(r"(\d+)([-p])(\d+)\Z")


@dataclass(frozen=True)
class GoldAlignment:
    """Gold links of one sentence pair. ``possible`` always includes ``sure`` (P ⊇ S, Och & Ney 2003)."""

    sure: FrozenSet[Link] = field(default_factory=frozenset)
    possible: FrozenSet[Link] = field(default_factory=frozenset)


def _parse_tokens(line: str, one_based: bool, allow_possible: bool, path, lineno) -> List[Tuple[Link, bool]]:
    out = []
    offset = 1 if one_based else 0
    for token in line.split():
        match = _LINK_RE.match(token)
        if match is None:
            raise InputError(f"bad link {token!r}: expected 'i-j'" + (" or 'ipj'" if allow_possible else ""),
                             path, lineno)
        if match.group(2) == "p" and not allow_possible:
            raise InputError(f"possible link {token!r} where only sure links 'i-j' are allowed", path, lineno)
        i, j = int(match.group(1)) - offset, int(match.group(3)) - offset
        if i < 0 or j < 0:
            raise InputError(f"link {token!r} has index 0 but the file is read as 1-based", path, lineno)
        out.append(((i, j), match.group(2) == "-"))
    return out


def _check_bounds(links: Iterable[Link], lengths: Optional[Tuple[int, int]], one_based: bool, path, lineno):
    if lengths is None:
        return
    n_src, n_tgt = lengths
    offset = 1 if one_based else 0
    for i, j in links:
        if i >= n_src or j >= n_tgt:
            raise InputError(
                f"link {i + offset}-{j + offset} ({'1' if one_based else '0'}-based) is past the end of the "
                f"sentence pair ({n_src} source, {n_tgt} target words)", path, lineno)


def parse_links(line: str, one_based: bool = False, lengths: Optional[Tuple[int, int]] = None,
                path: Optional[PathType] = None, lineno: Optional[int] = None) -> List[Link]:
    """One Pharaoh line → sorted, de-duplicated 0-based links. ``lengths`` = (source, target) word counts to
    check indices against; ``path``/``lineno`` only label errors."""
    links = sorted({link for link, _ in _parse_tokens(line, one_based, False, path, lineno)})
    _check_bounds(links, lengths, one_based, path, lineno)
    return links


def parse_gold(line: str, one_based: bool = True, lengths: Optional[Tuple[int, int]] = None,
               path: Optional[PathType] = None, lineno: Optional[int] = None) -> GoldAlignment:
    """One gold line (``i-j`` sure, ``ipj`` possible) → GoldAlignment. Gold is 1-based by default (WPT)."""
    sure, possible = set(), set()
    for link, is_sure in _parse_tokens(line, one_based, True, path, lineno):
        possible.add(link)
        if is_sure:
            sure.add(link)
    _check_bounds(possible, lengths, one_based, path, lineno)
    return GoldAlignment(frozenset(sure), frozenset(possible))


def _check_lengths(lengths, n_lines, path):
    if lengths is not None and len(lengths) != n_lines:
        raise InputError(f"has {n_lines} lines but there are {len(lengths)} sentence pairs", path,
                         min(n_lines, len(lengths)) + 1)


def read_links(path: PathType, one_based: bool = False,
               lengths: Optional[Sequence[Tuple[int, int]]] = None) -> List[List[Link]]:
    """Read a Pharaoh file: one list of links per line (empty line = no links)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    _check_lengths(lengths, len(lines), path)
    return [parse_links(line, one_based, None if lengths is None else lengths[k], path, k + 1)
            for k, line in enumerate(lines)]


def read_gold(path: PathType, one_based: bool = True,
              lengths: Optional[Sequence[Tuple[int, int]]] = None) -> List[GoldAlignment]:
    """Read a gold alignment file, one GoldAlignment per line."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    _check_lengths(lengths, len(lines), path)
    return [parse_gold(line, one_based, None if lengths is None else lengths[k], path, k + 1)
            for k, line in enumerate(lines)]


def format_links(links: Iterable[Link], one_based: bool = False) -> str:
    """Links → one Pharaoh line, sorted by (source, target) as atools writes them."""
    offset = 1 if one_based else 0
    return " ".join(f"{i + offset}-{j + offset}" for i, j in sorted(set(links)))


def write_links(target: Union[PathType, IO[str]], alignments: Iterable[Iterable[Link]],
                one_based: bool = False) -> None:
    """Write one Pharaoh line per sentence pair to a path or an open text file."""
    if hasattr(target, "write"):
        for links in alignments:
            target.write(format_links(links, one_based) + "\n")
        return
    with open(target, "w", encoding="utf-8") as f:
        write_links(f, alignments, one_based)
