"""The small records that travel between the pipeline's steps. NamedTuples: cheap to pickle, and equal by value
(so tests can compare them)."""
from __future__ import annotations

import io
import pickle
import struct
import zlib
from typing import NamedTuple, Tuple


class Mention(NamedTuple):
    """One anchor in a mention article. ``rank`` is a hash of (seed, article, anchor index): an entity keeps its
    mentions with the smallest ranks, a uniform sample that does not depend on the order records arrive in."""
    rank: int
    context_title: str
    context_page_id: int
    index: int  # position of the anchor among the article's anchors
    anchor_text: str

    def sort_key(self):
        return (self.rank, self.context_title, self.index, self.context_page_id)

    def encode(self) -> bytes:
        """The mention as one bytes object whose byte order is :meth:`sort_key` order: the rank (8 bytes, big
        endian), the title in UTF-8 ended by NUL (which no title contains, so a title sorts before its
        extensions, as in str order; UTF-8 keeps code point order), the index and page id (big endian), then the
        anchor text. The combiners keep mentions this way: one object instead of six, about a third of the
        memory, and sorted without a key function."""
        return b"".join((self.rank.to_bytes(8, "big"), self.context_title.encode("utf-8", "surrogatepass"), b"\0",
                         _INDEX_AND_PAGE.pack(self.index, self.context_page_id),
                         self.anchor_text.encode("utf-8", "surrogatepass")))

    @classmethod
    def decode(cls, data: bytes) -> "Mention":
        end = data.index(b"\0", 8)
        index, page_id = _INDEX_AND_PAGE.unpack_from(data, end + 1)
        return cls(int.from_bytes(data[:8], "big"), data[8:end].decode("utf-8", "surrogatepass"), page_id, index,
                   data[end + 1 + _INDEX_AND_PAGE.size:].decode("utf-8", "surrogatepass"))


_INDEX_AND_PAGE = struct.Struct(">IQ")


class Sample(NamedTuple):
    """What a combiner keeps of all the links to one title or entity: how many there are, the ``k`` with the
    smallest ranks, and the (raw, normalised) link targets they were written as (the entity's title and the
    redirects that reach it: an article that links to any of them links to the entity).

    The mentions travel packed (:func:`pack_mentions`): every link target's sample crosses three shuffles, and
    Beam's local runners hold a shuffle in memory as Python objects, where a packed mention takes a few tens of
    bytes and a Mention a few hundred."""
    count: int
    packed: bytes
    names: Tuple[str, ...]

    @classmethod
    def of(cls, count: int, mentions: Tuple[Mention, ...], names: Tuple[str, ...]) -> "Sample":
        return cls(count, pack_mentions(tuple(m.encode() for m in mentions)), names)

    @property
    def encoded(self) -> Tuple[bytes, ...]:
        """The mentions as :meth:`Mention.encode` gives them."""
        return unpack_mentions(self.packed)

    @property
    def mentions(self) -> Tuple[Mention, ...]:
        return tuple(map(Mention.decode, self.encoded))


def pack_mentions(encoded: Tuple[bytes, ...]) -> bytes:
    """Encoded mentions (:meth:`Mention.encode`) as one pickle, without a memo, so that equal mentions always
    give equal bytes (a memo would depend on which objects happen to be the same)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(encoded)
    return buffer.getvalue()


def unpack_mentions(packed: bytes) -> Tuple[bytes, ...]:
    return pickle.loads(packed)


class Definition(NamedTuple):
    """A kept article as the definition of its entity: the query is built where the article is parsed."""
    title: str
    page_id: int
    query: str


class Skipped(NamedTuple):
    """A title that exists but defines no entity (disambiguation page, stub, unparseable page, broken redirect):
    links to it are dropped under ``link_to_<reason>``."""
    reason: str


Anchors = Tuple[Tuple[int, int, str], ...]  # (start, end, normalised target) in the article's text

BODY_ZLIB_LEVEL = 6


class Body(NamedTuple):
    """A kept article as a source of contexts. Its text and anchors travel packed (pickled, then zlib level 6:
    41% of the pickle's size on the English sample, against 46% at level 1, for 0.06 s more CPU per 5.75 MB of
    wikitext) and are unpacked only in the bucket that builds examples from them. Bodies are the bulk of what
    the pipeline shuffles, and Beam's local runners keep every shuffle in memory, as Python objects: a str
    holding one character beyond Latin-1 takes 2 or 4 bytes for every character."""
    title: str
    page_id: int
    packed: bytes
    source_file: str

    @classmethod
    def pack(cls, title: str, page_id: int, text: str, anchors: Anchors, source_file: str) -> "Body":
        return cls(title, page_id, zlib.compress(pickle.dumps((text, anchors), protocol=pickle.HIGHEST_PROTOCOL),
                                                 BODY_ZLIB_LEVEL), source_file)

    def unpack(self) -> "Article":
        text, anchors = pickle.loads(zlib.decompress(self.packed))
        return Article(self.title, self.page_id, text, anchors, self.source_file)


class Article(NamedTuple):
    """An unpacked :class:`Body`."""
    title: str
    page_id: int
    text: str
    anchors: Anchors
    source_file: str


class Entity(NamedTuple):
    """An entity above the mention floor, with everything its examples need."""
    title: str
    page_id: int
    query: str
    mentions: int
    sample: Tuple[Mention, ...]  # sorted by rank
    names: Tuple[str, ...]  # link targets that reach it


class AnswerRequest(NamedTuple):
    entity: str
    entity_page_id: int
    query: str
    mention: Mention


class UnanswerableRequest(NamedTuple):
    entity: str
    entity_page_id: int
    query: str
    number: int  # 0..max_unanswerable-1
    anchor_text: str
    names: Tuple[str, ...]
