"""Reading tokenised parallel text: two files parallel by line, or one ``source ||| target`` file.

Tokens are whitespace-separated (the input is already tokenised). Pairs are ``(source_tokens,
target_tokens)`` tuples of lists. Strict checks with file and line in every message, because a silent
off-by-one line shift corrupts every later alignment.
"""
from __future__ import annotations

from os import PathLike
from typing import List, Sequence, Tuple, Union

from .errors import InputError

Pair = Tuple[List[str], List[str]]
PathType = Union[str, PathLike]
SEPARATOR = "|||"


def _read_lines(path: PathType) -> List[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except UnicodeDecodeError as err:
        # Report the line, not just the byte offset.
        with open(path, "rb") as f:
            lineno = f.read()[:err.start].count(b"\n") + 1
        raise InputError(f"not valid UTF-8 ({err.reason})", path, lineno) from None


def _check_empty(pairs: Sequence[Pair], paths: Tuple[PathType, PathType], allow_empty: bool) -> None:
    if allow_empty:
        return
    for k, (src, tgt) in enumerate(pairs):
        for side, tokens, path in (("source", src, paths[0]), ("target", tgt, paths[1])):
            if not tokens:
                raise InputError(f"empty {side} sentence (pass allow_empty / --allow-empty to keep such "
                                 "pairs, which then get no links)", path, k + 1)


def check_parallel(path_a: PathType, n_a: int, path_b: PathType, n_b: int) -> None:
    """Two files that must be parallel by line: an InputError naming the longer one at its first extra line."""
    if n_a != n_b:
        (short, n_short), (long_, n_long) = sorted([(path_a, n_a), (path_b, n_b)], key=lambda x: x[1])
        raise InputError(f"has {n_long} lines but {short} has only {n_short}; they must be parallel by line",
                         long_, n_short + 1)


def read_parallel(src_path: PathType, tgt_path: PathType, allow_empty: bool = False) -> List[Pair]:
    """Two tokenised files parallel by line → pairs. Different line counts or (unless allowed) an empty
    line raise InputError naming the file and line."""
    src_lines, tgt_lines = _read_lines(src_path), _read_lines(tgt_path)
    check_parallel(src_path, len(src_lines), tgt_path, len(tgt_lines))
    pairs = [(s.split(), t.split()) for s, t in zip(src_lines, tgt_lines)]
    _check_empty(pairs, (src_path, tgt_path), allow_empty)
    return pairs


def parse_joint_line(line: str, path=None, lineno=None) -> Pair:
    """``source ||| target`` → pair (spaces around the separator do not matter)."""
    parts = line.split(SEPARATOR)
    if len(parts) != 2:
        raise InputError(f"expected exactly one '{SEPARATOR}' separating source and target, found "
                         f"{len(parts) - 1}", path, lineno)
    return parts[0].split(), parts[1].split()


def read_joint(path: PathType, allow_empty: bool = False) -> List[Pair]:
    """A ``source ||| target`` file (fast_align's input format) → pairs."""
    pairs = [parse_joint_line(line, path, k + 1) for k, line in enumerate(_read_lines(path))]
    _check_empty(pairs, (path, path), allow_empty)
    return pairs


def sentence_lengths(pairs: Sequence[Pair]) -> List[Tuple[int, int]]:
    """(source, target) word counts per pair, for checking link indices."""
    return [(len(s), len(t)) for s, t in pairs]
