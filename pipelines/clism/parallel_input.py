"""Reading parallel corpora: which corpora a run reads (``CorpusSpec``) and the sentence pairs in them.

Formats (any Beam filesystem path; ``.gz``/``.bz2`` are decompressed by their extension):

- ``lines SRC TGT``: two files parallel by line;
- ``tsv FILE``: ``source<TAB>target`` per line;
- ``joint FILE``: ``source ||| target`` per line (fast_align's format);
- ``conll SPANS TGT``: gold source spans, a CoNLL/BIO file (token and tag columns, one sentence per block)
  whose sentence k is the translation of line k of the target file.

Line numbers are 0-based in ids and rows (the schema's ``line``) and 1-based in error messages (what an
editor shows). Only ``\\n`` ends a line: Python's ``splitlines`` would also split on U+2028 and friends and
shift every later pair. A file that is not UTF-8, two files of different lengths and a malformed TSV or joint
line stop the run with the file and line, unless the run's policy says to keep going, in which case every
line that does not become a pair is counted under a reason.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from itertools import zip_longest
from typing import Callable, Iterator, Sequence

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.clism.config import LENGTH_POLICIES, MALFORMED_POLICIES
from schemas.conll import ConllStats, decompressed, read_conll
from schemas.errors import UsageError, UserError
from schemas.tags import spans_from_tags

# CoNLL files are opened uncompressed and decompressed by schemas.conll, which reports a cut .gz/.bz2 (Beam's
# own reader stops at the cut as if the file ended there).
_STORED_BYTES = partial(FileSystems.open, compression_type=CompressionTypes.UNCOMPRESSED)

FORMATS = {"lines": 2, "tsv": 1, "joint": 1, "conll": 2}  # format → number of paths it takes
JOINT_SEPARATOR = "|||"

Counter = Callable[[str, int], None]


class CorpusError(UserError, ValueError):
    """Bad parallel input; the message names the file and the (1-based) line."""


@dataclass(frozen=True)
class CorpusSpec:
    """One parallel corpus of a run: its languages, format, paths and name (the ``corpus`` of its rows).

    ``align_only``: the pairs only help estimate the word alignment model (extra unlabelled parallel text);
    they yield no rows."""

    src_lang: str
    tgt_lang: str
    format: str
    paths: tuple[str, ...]
    name: str = ""
    align_only: bool = False

    def __post_init__(self):
        if self.format not in FORMATS:
            raise UsageError(f"unknown corpus format {self.format!r}; choose one of {', '.join(FORMATS)}")
        if len(self.paths) != FORMATS[self.format]:
            raise UsageError(f"corpus format {self.format!r} takes {FORMATS[self.format]} path(s), "
                             f"got {len(self.paths)}: {' '.join(self.paths)}")
        if not self.name:
            object.__setattr__(self, "name", os.path.basename(self.paths[0].rstrip("/")) or self.paths[0])

    @property
    def group(self) -> str:
        """The language pair, ``src-tgt``: alignment models are estimated per group."""
        return f"{self.src_lang}-{self.tgt_lang}"

    def key(self, line: int) -> str:
        """The stable id of the pair on 0-based ``line``."""
        return f"{self.group}:{self.name}:{line}"


def parse_corpus_spec(tokens: Sequence[str], align_only: bool = False) -> CorpusSpec:
    """``LANGS FORMAT PATH... [name=NAME]`` (e.g. ``en-de lines a.en a.de``) → CorpusSpec."""
    tokens = list(tokens)
    options = {}
    while tokens and "=" in tokens[-1] and tokens[-1].split("=", 1)[0] in ("name",):
        option, _, value = tokens.pop().partition("=")
        options[option] = value
    if len(tokens) < 3:
        raise UsageError(f"corpus {' '.join(tokens)!r}: expected LANGS FORMAT PATH..., e.g. 'en-de lines a.en a.de'")
    langs, format_, paths = tokens[0], tokens[1], tuple(tokens[2:])
    src_lang, dash, tgt_lang = langs.partition("-")
    if not dash or not src_lang or not tgt_lang or "-" in tgt_lang:
        raise UsageError(f"corpus languages {langs!r}: expected SRC-TGT, e.g. en-de")
    return CorpusSpec(src_lang, tgt_lang, format_, paths, options.get("name", ""), align_only)


@dataclass(frozen=True)
class RawPair:
    """A sentence pair as read, before any cleaning. ``source_tokens``/``gold_spans`` (word ``[start, end)``
    with a label) are set for ``conll`` corpora, whose source is given as words."""

    key: str
    group: str
    src_lang: str
    tgt_lang: str
    corpus: str
    line: int
    source: str
    target: str
    align_only: bool = False
    source_tokens: tuple[str, ...] | None = None
    gold_spans: tuple[tuple[int, int, str], ...] | None = None


@dataclass(frozen=True)
class ReadPolicy:
    """What to do with input that cannot be paired: stop with the file and line (``error``), or count it and
    go on (``truncate`` pairs lines up to the shorter file; ``skip`` leaves a malformed line out)."""

    on_length_mismatch: str = "error"
    on_malformed: str = "error"
    conll_encoding: str = "utf-8"

    def __post_init__(self):
        if self.on_length_mismatch not in LENGTH_POLICIES:
            raise ValueError(f"on_length_mismatch must be one of {LENGTH_POLICIES}")
        if self.on_malformed not in MALFORMED_POLICIES:
            raise ValueError(f"on_malformed must be one of {MALFORMED_POLICIES}")


def iter_lines(path: str) -> Iterator[tuple[int, str]]:
    """(1-based number, text) of every line of a UTF-8 file, without its line ending (``\\n`` or ``\\r\\n``);
    a byte-order mark at the start is dropped."""
    try:
        handle = FileSystems.open(path)
    except Exception as err:  # Beam wraps the filesystem's own error; the path is what the user needs
        raise CorpusError(f"{path}: cannot open ({err})") from None
    with handle:
        # readline, not iteration: Beam's CompressedFile (.gz, .bz2) has no __iter__.
        for number, raw in enumerate(iter(handle.readline, b""), start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise CorpusError(f"{path}:{number}: byte {raw[err.start:err.start + 1]!r} at column "
                                  f"{err.start + 1} is not valid UTF-8") from None
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            yield number, text.rstrip("\r\n")


def _count_nothing(name: str, value: int = 1) -> None:
    pass


@dataclass
class _Reader:
    spec: CorpusSpec
    policy: ReadPolicy
    count: Counter = field(default=_count_nothing)
    drop: Counter = field(default=_count_nothing)

    def pair(self, line: int, source: str, target: str, **extra) -> RawPair:
        spec = self.spec
        return RawPair(spec.key(line), spec.group, spec.src_lang, spec.tgt_lang, spec.name, line, source,
                       target, spec.align_only, **extra)

    def unpaired(self, longer: str, shorter: str, first_extra: int, n_shorter: int, longer_unit: str = "lines",
                 shorter_unit: str = "lines") -> None:
        if self.policy.on_length_mismatch == "error":
            than = shorter if longer_unit == shorter_unit else f"{shorter} has {shorter_unit}"
            raise CorpusError(f"{longer}:{first_extra}: {longer} has more {longer_unit} than {than} ({n_shorter}); "
                              "they must be parallel (or pass --on-length-mismatch truncate)")
        self.drop("unpaired_line", 1)

    def malformed(self, path: str, number: int, message: str) -> None:
        if self.policy.on_malformed == "error":
            raise CorpusError(f"{path}:{number}: {message} (or pass --on-malformed skip)")
        self.drop("malformed_line", 1)

    def read(self) -> Iterator[RawPair]:
        fmt = self.spec.format
        if fmt == "lines":
            yield from self._two_files()
        elif fmt in ("tsv", "joint"):
            yield from self._one_file(fmt)
        else:
            yield from self._conll()

    def _two_files(self) -> Iterator[RawPair]:
        src_path, tgt_path = self.spec.paths
        n_src = n_tgt = 0
        for src, tgt in zip_longest(iter_lines(src_path), iter_lines(tgt_path)):
            if src is not None:
                n_src = src[0]
            if tgt is not None:
                n_tgt = tgt[0]
            if src is None:
                self.unpaired(tgt_path, src_path, tgt[0], n_src)
            elif tgt is None:
                self.unpaired(src_path, tgt_path, src[0], n_tgt)
            else:
                yield self.pair(src[0] - 1, src[1], tgt[1])

    def _one_file(self, fmt: str) -> Iterator[RawPair]:
        (path,) = self.spec.paths
        separator = "\t" if fmt == "tsv" else JOINT_SEPARATOR
        for number, text in iter_lines(path):
            parts = text.split(separator)
            if len(parts) != 2:
                what = "a tab" if fmt == "tsv" else f"'{JOINT_SEPARATOR}'"
                self.malformed(path, number, f"expected exactly one {what} between source and target, "
                                             f"found {len(parts) - 1}")
                continue
            yield self.pair(number - 1, parts[0], parts[1])

    def _conll(self) -> Iterator[RawPair]:
        conll_path, tgt_path = self.spec.paths
        stats = ConllStats()
        try:
            raw = _STORED_BYTES(conll_path)
        except Exception as err:
            raise CorpusError(f"{conll_path}: cannot open ({err})") from None
        with raw, decompressed(raw, conll_path) as handle:
            sentences = read_conll(handle, encoding=self.policy.conll_encoding,
                                   tag_scheme=None, name=conll_path, stats=stats)
            n_sent = n_tgt = 0
            for sentence, tgt in zip_longest(sentences, iter_lines(tgt_path)):
                if sentence is not None:
                    n_sent = sentence.index + 1
                if tgt is not None:
                    n_tgt = tgt[0]
                if sentence is None:
                    self.unpaired(tgt_path, conll_path, tgt[0], n_sent, "lines", "sentences")
                elif tgt is None:
                    self.unpaired(conll_path, tgt_path, sentence.line, n_tgt, "sentences", "lines")
                else:
                    spans = tuple((s.start, s.end, s.label) for s in spans_from_tags(sentence.tags))
                    yield self.pair(sentence.index, " ".join(sentence.tokens), tgt[1],
                                    source_tokens=tuple(sentence.tokens), gold_spans=spans)
        self.count("conll_docstart_lines", stats.documents)
        self.count("conll_lines_with_missing_columns", stats.short_lines)


def read_corpus(spec: CorpusSpec, policy: ReadPolicy = ReadPolicy(), count: Counter = _count_nothing,
                drop: Counter = _count_nothing) -> Iterator[RawPair]:
    """Every sentence pair of a corpus, in order. ``count``/``drop`` receive (name, value) for what was
    read and for lines that became no pair."""
    yield from _Reader(spec, policy, count, drop).read()
