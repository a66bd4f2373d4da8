"""Building the tokenizer of each language, and turning its output into `(word, start, end)`.

Every heavy import (spaCy, SudachiPy, jieba, pyvi, natto/MeCab, PyThaiNLP, Sacremoses) happens inside a
builder, so importing this module is cheap and a Beam worker only loads what the languages it sees need.
A built `Backend` is never pickled: it lives in this module's per-process cache (`get`).
"""
from __future__ import annotations

import atexit
import importlib
import logging
import os
import threading
import warnings
from importlib import metadata
from pathlib import Path
from typing import Callable, List, Optional

from . import languages
from .offsets import Word, align, is_blank, merge_detached_marks, pieces, trim, with_plain_spaces

logger = logging.getLogger(__name__)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"


class Backend:
    """One built tokenizer. `words(text)` returns the words of `text` with offsets into it.

    Calls are serialised by a per-backend lock: MeCab (natto keeps one lattice), SudachiPy and pyvi's CRF
    tagger keep per-call state and release the GIL or are not re-entrant, and spaCy memory zones must not
    nest. The pure-Python backends lose nothing by it, since they hold the GIL anyway."""

    def __init__(self, code: str, name: str, tokenize: Callable[[str, int], List[Word]], max_chars: int,
                 nlp=None):
        self.code = code
        self.name = name
        self.nlp = nlp  # the spaCy Language behind it, if any (for inspection; words() is the interface)
        self._tokenize = tokenize
        self._max_chars = max_chars
        self._lock = threading.Lock()

    def words(self, text: str) -> List[Word]:
        if is_blank(text):
            return []
        found: List[Word] = []
        with self._lock:
            for start, end in pieces(text, self._max_chars):
                if not is_blank(text[start:end]):
                    found.extend(self._tokenize(text[start:end], start))
        return merge_detached_marks(text, trim(found))

    def __repr__(self) -> str:
        return f"<Backend {self.code}: {self.name}>"

    def __reduce__(self):
        # Never ship a built tokenizer (C handles, locks) inside a pickle: the receiving process takes its
        # own from its cache (building it there if needed).
        return get, (self.code,)


# ---------------------------------------------------------------------------------------------- spaCy


# spaCy adds every new word it sees to the vocab (a lexeme and its string) for the life of the process, so a
# worker tokenising Wikipedia would grow without bound. A memory zone makes the new entries of one call
# transient, but then every word not yet in the vocab is rebuilt on every call (about 20x slower per word).
# So: words seen while the vocab is small become permanent (by Zipf's law the frequent ones arrive first),
# and past this size everything new is transient. The size is the StringStore's (a new word adds its text
# plus a few attribute strings such as its shape), because `len(vocab)` also counts transient lexemes in
# spaCy 3.8. Half a million strings is some tens of MB per language.
PERMANENT_VOCAB_LIMIT = 500_000


def _spacy_words(nlp) -> Callable[[str, int], List[Word]]:
    tokenizer = nlp.tokenizer
    strings = nlp.vocab.strings

    def read(doc, piece: str, offset: int) -> List[Word]:
        if doc.text == piece:
            # spaCy's own offsets are exact whenever the Doc reproduces the text (all rule-based tokenizers,
            # and the ja / zh / vi wrappers, which align their segmenter's output themselves).
            return [(t.text, t.idx + offset, t.idx + len(t.text) + offset) for t in doc if not t.is_space]
        # Korean: the Doc is rebuilt from MeCab surfaces with single spaces, so its offsets are not offsets
        # into `piece`.
        return align(piece, [t.text for t in doc], offset)

    def tokenize(piece: str, offset: int) -> List[Word]:
        if len(strings) < PERMANENT_VOCAB_LIMIT:
            return read(tokenizer(piece), piece, offset)
        # Nothing created inside the zone may be used after it: `read` copies out plain tuples.
        with nlp.memory_zone():
            return read(tokenizer(piece), piece, offset)

    return tokenize


def import_spacy_without_torch() -> None:
    """Import spaCy now, keeping its thinc dependency from importing torch; for processes that only tokenise.

    thinc imports torch whenever it is installed, only to offer torch-backed layers that rule-based
    tokenisation never uses. Where the trainer is installed in the same environment, that import is most of
    the cost of building a tokenizer: spaCy's import takes 2.1 s of CPU instead of 0.7 s, and a wiki_mrc
    worker peaks ~180 MiB higher (measured with bench/wiki_mrc.py's runs). Hiding torch makes thinc's own ``import torch`` fail and fall back, as when
    torch is absent; torch itself stays importable afterwards. The price: thinc in this process runs without
    torch, so a pipeline that loads a torch-backed spaCy model (a transformer NER model) must not call this.
    Does nothing when spaCy or torch is already imported."""
    import sys
    if "spacy" in sys.modules or "torch" in sys.modules:
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` now raises ImportError
    try:
        importlib.import_module("spacy")
    finally:
        if "torch" in sys.modules and sys.modules["torch"] is None:
            del sys.modules["torch"]


def _blank(code: str, config: Optional[dict] = None):
    import spacy
    with warnings.catch_warnings():
        # spaCy 3.8's Japanese tokenizer calls SudachiPy's deprecated Dictionary.create(); nothing we can act
        # on, and it would show up in every pipeline log.
        warnings.filterwarnings("ignore", message=r"Dictionary\.create\(\) is deprecated",
                                category=DeprecationWarning)
        return spacy.blank(code, config=config) if config else spacy.blank(code)


def _build_spacy(entry: languages.Language) -> Backend:
    config = languages.spacy_config(entry)
    spacy_version = _version("spacy")
    if entry.code == "ko":
        return _build_korean(entry, spacy_version)
    if entry.segmenter == "jieba":
        # jieba announces its dictionary loading on stderr at DEBUG level (its import resets the level).
        import jieba
        jieba.setLogLevel(logging.WARNING)
    nlp = _blank(entry.code, config)
    name = f"spaCy {spacy_version} blank({entry.code!r})"
    if entry.segmenter == "sudachipy":
        name += (f" + SudachiPy {_version('sudachipy')} (sudachidict_core {_version('sudachidict-core')}, "
                 "split mode A)")
    elif entry.segmenter == "jieba":
        name += f" + jieba {_version('jieba')} (precise mode)"
        import jieba
        jieba.initialize()  # load the dictionary now, not inside the first (timed, locked) call
    elif entry.segmenter == "pyvi":
        name += f" + pyvi {_version('pyvi')} word segmentation"
    else:
        name += " rule-based tokenizer"
    return Backend(entry.code, name, _spacy_words(nlp), entry.max_chars, nlp)


# --------------------------------------------------------------------------------------------- Korean
#
# spaCy 3.8's KoreanTokenizer (spacy/lang/ko/__init__.py) does `from natto import MeCab` and lazily calls
# `MeCab("-F%f[0],%f[7]")`. natto-py only binds a libmecab found through MECAB_PATH (else `mecab-config`,
# absent here) and decodes with MECAB_CHARSET; libmecab then reads its rc file from ~/.mecabrc first, then
# MECABRC, and the dictionary directory from that file. python-mecab-ko ships libmecab inside its wheel and
# python-mecab-ko-dic ships the dictionary, so we point natto at both, and hand spaCy a MeCab opened with an
# explicit rc file and dictionary (a stray ~/.mecabrc would otherwise win over MECABRC).


class MeCabUnavailable(RuntimeError):
    pass


def _mecab_ko_paths() -> tuple:
    """(libmecab, mecabrc, dicdir) from the installed python-mecab-ko / python-mecab-ko-dic distributions."""
    try:
        distribution = metadata.distribution("python-mecab-ko")
    except metadata.PackageNotFoundError:
        raise MeCabUnavailable("python-mecab-ko is not installed") from None
    library = rcfile = None
    for file in distribution.files or ():
        if file.name.startswith("libmecab") and (".so" in file.name or file.name.endswith((".dylib", ".dll"))):
            library = Path(file.locate())
        elif file.name == "mecabrc":
            rcfile = Path(file.locate())
    if library is None or not library.is_file():
        raise MeCabUnavailable("python-mecab-ko ships no libmecab in this installation")
    if rcfile is None or not rcfile.is_file():
        raise MeCabUnavailable("python-mecab-ko ships no mecabrc in this installation")
    try:
        import mecab_ko_dic
    except ImportError:
        raise MeCabUnavailable("python-mecab-ko-dic is not installed") from None
    dicdir = Path(mecab_ko_dic.dictionary_path)
    if not (dicdir / "sys.dic").is_file():
        raise MeCabUnavailable(f"mecab-ko-dic has no sys.dic in {dicdir}")
    return library, rcfile, dicdir


def _open_mecab_ko():
    library, rcfile, dicdir = _mecab_ko_paths()
    # Set before anything builds a MeCab: natto reads MECAB_PATH / MECAB_CHARSET at construction, libmecab
    # reads MECABRC. They stay set (natto reads them again for any later MeCab); the dictionary is passed
    # explicitly below, since the packaged mecabrc names none.
    os.environ["MECAB_PATH"] = str(library)
    os.environ["MECAB_CHARSET"] = "utf8"
    os.environ["MECABRC"] = str(rcfile)
    try:
        from natto import MeCab
    except ImportError:
        raise MeCabUnavailable("natto-py (what spaCy's Korean tokenizer imports) is not installed") from None
    try:
        mecab = MeCab({"rcfile": str(rcfile), "dicdir": str(dicdir), "node_format": "%f[0],%f[7]"})
    except Exception as error:  # natto raises MeCabError, cffi OSError for an unloadable library
        raise MeCabUnavailable(f"MeCab could not be opened with {library} and {dicdir}: {error}") from error
    # natto frees MeCab in __del__, which at interpreter shutdown runs after cffi's internals are gone and
    # prints "Exception ignored ... TypeError". Freeing it at exit, while everything still exists, is clean.
    atexit.register(mecab.__exit__, None, None, None)
    return mecab


def _build_korean(entry: languages.Language, spacy_version: str) -> Backend:
    try:
        mecab = _open_mecab_ko()
        nlp = _blank("ko")
        tokenizer = nlp.tokenizer
        if not hasattr(tokenizer, "_mecab_tokenizer"):
            raise MeCabUnavailable(f"spaCy {spacy_version}'s KoreanTokenizer has no _mecab_tokenizer slot")
        tokenizer._mecab_tokenizer = mecab
        try:
            probe = [t.text for t in tokenizer("서울에서 왔습니다.")]
        except Exception as error:  # a library that loads but cannot parse is just as unusable
            raise MeCabUnavailable(f"MeCab-ko failed on a test sentence: {error}") from error
        if len(probe) < 4:
            raise MeCabUnavailable(f"MeCab-ko returned an implausible analysis {probe}")
        name = (f"spaCy {spacy_version} blank('ko') + MeCab-ko {mecab.version} via natto-py "
                f"{_version('natto-py')} (mecab-ko-dic from python-mecab-ko-dic "
                f"{_version('python-mecab-ko-dic')})")
    except (MeCabUnavailable, ImportError) as error:
        # Degrade loudly, not silently: the words become eojeol-level (particles stay attached), which
        # changes what an answer span can be, and the tokenizer name recorded in manifests says so.
        logger.warning("Korean: MeCab-ko unavailable (%s); falling back to spaCy's rule-based Korean "
                       "tokenizer, which splits at spaces and punctuation only", error)
        nlp = _blank("ko", {"nlp": {"tokenizer": {"@tokenizers": "spacy.Tokenizer.v1"}}})
        name = (f"spaCy {spacy_version} blank('ko') rule-based tokenizer "
                f"(fallback: MeCab-ko unavailable: {error})")
    return Backend(entry.code, name, _spacy_words(nlp), entry.max_chars, nlp)


# ------------------------------------------------------------------------------------ Thai, Sacremoses


def _restore(piece: str, found: List[Word], offset: int) -> List[Word]:
    """Words aligned on a with_plain_spaces copy, re-read from the original piece, so that a word can never
    differ from `text[start:end]` even if a tokenizer kept a replaced character inside a word."""
    return [(piece[start - offset:end - offset], start, end) for _, start, end in found]


def _build_pythainlp(entry: languages.Language) -> Backend:
    # Must precede the first pythainlp import: otherwise PyThaiNLP may create and write a data directory
    # under $HOME, which is read-only or shared on workers. An operator's explicit setting wins.
    os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")
    from pythainlp.tokenize import word_tokenize

    def tokenize(piece: str, offset: int) -> List[Word]:
        # newmm glues a no-break / thin / zero-width space onto the next non-Thai word (see
        # offsets.with_plain_spaces); plain spaces are proper word breaks for it. Same length, same offsets.
        spaced = with_plain_spaces(piece)
        tokens = word_tokenize(spaced, engine="newmm", keep_whitespace=False)
        return _restore(piece, align(spaced, tokens, offset), offset)

    name = f"PyThaiNLP {_version('pythainlp')} word_tokenize (engine 'newmm')"
    return Backend(entry.code, name, tokenize, entry.max_chars)


def _build_sacremoses(entry: languages.Language) -> Backend:
    from sacremoses import MosesTokenizer
    moses = MosesTokenizer(lang=entry.code)

    def tokenize(piece: str, offset: int) -> List[Word]:
        # Moses deletes ASCII controls, tabs and newlines included ("a\nb" would come back as the non-word
        # "ab"): they become spaces first (offsets.with_plain_spaces keeps the length).
        # escape=False: by default Moses rewrites " & < > ' | [ ] as XML entities (&quot; ...), which are not
        # in the text.
        spaced = with_plain_spaces(piece)
        return _restore(piece, align(spaced, moses.tokenize(spaced, escape=False), offset), offset)

    name = f"Sacremoses {_version('sacremoses')} MosesTokenizer(lang={entry.code!r}, escape=False)"
    return Backend(entry.code, name, tokenize, entry.max_chars)


_BUILDERS = {
    languages.SPACY: _build_spacy,
    languages.PYTHAINLP: _build_pythainlp,
    languages.SACREMOSES: _build_sacremoses,
}


def build(code: str) -> Backend:
    """Build a new tokenizer for one language (uncached: use `get`)."""
    entry = languages.language(code)
    backend = _BUILDERS[entry.backend](entry)
    logger.info("word tokenizer for %s: %s", code, backend.name)
    return backend


# One tokenizer per language per process, built on first use. The lock only guards building (spaCy ja loads
# a dictionary, fr compiles big regexes: two threads must not both pay for it, nor see half-built state);
# the fast path is a plain dict lookup. Module globals are never pickled with functions that use them
# (picklers reference importable module functions by name), and a worker starts with an empty cache.
_CACHE: dict = {}
_BUILD_LOCK = threading.Lock()


def get(code: str) -> Backend:
    """The process-wide tokenizer for `code`, built on first use."""
    backend = _CACHE.get(code) if isinstance(code, str) else None
    if backend is None:
        languages.language(code)  # an unknown code fails here, before taking the lock
        with _BUILD_LOCK:
            backend = _CACHE.get(code)
            if backend is None:
                backend = _CACHE[code] = build(code)
    return backend
