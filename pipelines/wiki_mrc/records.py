"""The small records that travel between the pipeline's steps. NamedTuples: cheap to pickle, and equal by value
(so tests can compare them)."""
from __future__ import annotations

import pickle
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


class Sample(NamedTuple):
    """What a combiner keeps of all the links to one title or entity: how many there are, the ``k`` with the
    smallest ranks, and the (raw, normalised) link targets they were written as (the entity's title and the
    redirects that reach it: an article that links to any of them links to the entity)."""
    count: int
    mentions: Tuple[Mention, ...]
    names: Tuple[str, ...]


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


class Body(NamedTuple):
    """A kept article as a source of contexts. Its text and anchors travel packed (pickled, then zlib level 1:
    about a third of the size) and are unpacked only in the bucket that builds examples from them. Bodies are
    the bulk of what the pipeline shuffles, and Beam's local runners keep every shuffle in memory, as Python
    objects: a str holding one character beyond Latin-1 takes 2 or 4 bytes for every character."""
    title: str
    page_id: int
    packed: bytes
    source_file: str

    @classmethod
    def pack(cls, title: str, page_id: int, text: str, anchors: Anchors, source_file: str) -> "Body":
        return cls(title, page_id, zlib.compress(pickle.dumps((text, anchors), protocol=pickle.HIGHEST_PROTOCOL),
                                                 1), source_file)

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
