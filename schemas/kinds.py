"""The shard schema of every dataset kind: the one contract between the pipelines and the trainer.

Conventions (DESIGN.md, "Data contracts"):
- texts are strings and spans are character offsets ``[start, end)`` into them (the SQuAD convention: it
  survives any subword tokeniser, also for Thai, Chinese and Japanese where words have no spaces);
- where a downstream step needs the words the pipeline used, they are kept as ``[start, end)`` offsets too;
- tagging data keeps CoNLL's ``tokens`` / ``tags`` lists (BIOES unless the manifest says otherwise);
- every row has an ``id``, its language(s) and provenance to find its source.

A change to a schema that an old reader cannot read bumps that kind's ``version``.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from schemas.layout import RUN_ID_KEY
from schemas.registry import UnknownNameError

# A character (or word) span [start, end) with the covered text, so a row can be checked on its own.
SPAN = pa.struct([
    pa.field("text", pa.string(), nullable=False),
    pa.field("start", pa.int32(), nullable=False),
    pa.field("end", pa.int32(), nullable=False),
])

# A labelled span on the source side of a CLISM pair (label: entity type, null for gold spans without one).
LABELLED_SPAN = pa.struct([
    pa.field("text", pa.string(), nullable=False),
    pa.field("start", pa.int32(), nullable=False),
    pa.field("end", pa.int32(), nullable=False),
    pa.field("label", pa.string()),
])

# Word boundaries as offsets into the sentence (the words the aligner saw).
WORD = pa.struct([
    pa.field("start", pa.int32(), nullable=False),
    pa.field("end", pa.int32(), nullable=False),
])

# One alignment link between word `src` of the source and word `tgt` of the target (0-based).
LINK = pa.struct([
    pa.field("src", pa.int32(), nullable=False),
    pa.field("tgt", pa.int32(), nullable=False),
])


def _field(name: str, type_: pa.DataType, doc: str, nullable: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


# mPMR Wiki Anchor Extraction triplets (paper 001, §2.2): a query built from the definition article of an
# anchor entity, a context window of the article that mentions it, and every span of the context identical to
# the anchor text as an answer. Unanswerable examples have no answers.
MRC = pa.schema([
    _field("id", pa.string(), "stable example id; also the key of its random draws"),
    _field("lang", pa.string(), "language code of query and context"),
    _field("query", pa.string(), "first Q words of the definition article, entity anonymised to the mask token"),
    _field("context", pa.string(), "C words of the mention article around the anchor"),
    _field("answers", pa.list_(pa.field("item", SPAN, nullable=False)),
           "every span of the context identical to the anchor text; empty when unanswerable"),
    _field("entity", pa.string(), "normalised title of the definition article (the anchor's target)"),
    _field("entity_page_id", pa.int64(), "page id of the definition article"),
    _field("anchor_text", pa.string(), "displayed text of the anchor the example was built from"),
    _field("context_title", pa.string(), "title of the article the context comes from"),
    _field("context_page_id", pa.int64(), "page id of the article the context comes from"),
    _field("mention_index", pa.int32(),
           "index of the anchor among the article's links (-1 for an unanswerable context)"),
    _field("source_file", pa.string(), "dump file the context article was read from"),
])

# CLISM [QUE] span pairs (paper 000, §3.1, Figure 2): the source sentence with each informative span replaced
# by one [QUE] token, the unmasked source (CACR's third view), the target sentence, and for every [QUE], in
# order, its answer in the target.
CLISM = pa.schema([
    _field("id", pa.string(), "stable example id"),
    _field("src_lang", pa.string(), "language of the source sentence"),
    _field("tgt_lang", pa.string(), "language of the target sentence"),
    _field("masked_source", pa.string(), "source sentence with every selected span replaced by que_token"),
    _field("source", pa.string(), "the unmasked source sentence"),
    _field("target", pa.string(), "the target sentence"),
    _field("que_token", pa.string(), "the string standing for each masked span, e.g. [QUE]"),
    _field("source_spans", pa.list_(pa.field("item", LABELLED_SPAN, nullable=False)),
           "the masked spans as offsets into `source`, in [QUE] order"),
    _field("answers", pa.list_(pa.field("item", SPAN, nullable=False)),
           "answer of each [QUE], in order, as offsets into `target`"),
    _field("source_words", pa.list_(pa.field("item", WORD, nullable=False)), "words of `source` the aligner saw"),
    _field("target_words", pa.list_(pa.field("item", WORD, nullable=False)), "words of `target` the aligner saw"),
    _field("alignment", pa.list_(pa.field("item", LINK, nullable=False)),
           "symmetrised word links between source_words and target_words"),
    _field("corpus", pa.string(), "input file (or corpus name) the pair was read from"),
    _field("line", pa.int64(), "0-based line (pair) index in that input"),
])

# Projection statistics of one sentence (label projection, paper 002 §2.2); null on gold data.
PROJECTION_STATS = pa.struct([
    pa.field("source_spans", pa.int32(), nullable=False),
    pa.field("projected", pa.int32(), nullable=False),
    pa.field("lost_unaligned", pa.int32(), nullable=False),
    pa.field("lost_conflict", pa.int32(), nullable=False),
])

# Tagged sentences in CoNLL style: gold training data imported from CoNLL files, or a translation whose tags
# were projected from its labelled source.
TAGGED = pa.schema([
    _field("id", pa.string(), "stable sentence id"),
    _field("lang", pa.string(), "language of the tokens"),
    _field("tokens", pa.list_(pa.field("item", pa.string(), nullable=False)), "the words of the sentence"),
    _field("tags", pa.list_(pa.field("item", pa.string(), nullable=False)),
           "one tag per token, CoNLL style (scheme in the manifest's config, BIOES by default)"),
    _field("corpus", pa.string(), "input file (or corpus name) the sentence comes from"),
    _field("sentence_index", pa.int64(), "0-based index of the sentence in that input"),
    _field("source_id", pa.string(), "id of the labelled source sentence the tags were projected from",
           nullable=True),
    _field("source_lang", pa.string(), "language of that source sentence", nullable=True),
    _field("projection", PROJECTION_STATS, "per-sentence projection counts", nullable=True),
])


@dataclass(frozen=True)
class DatasetKind:
    """One kind of dataset: its name (also the manifest's ``kind``), schema and schema version."""

    name: str
    schema: pa.Schema
    version: int
    description: str

    def schema_with_metadata(self, run_id: str | None = None) -> pa.Schema:
        """The schema carrying kind and version in its metadata, as every shard is written, and the id of the
        run that writes it (which its manifest names too)."""
        metadata = {b"polyspan.kind": self.name.encode(), b"polyspan.schema_version": str(self.version).encode()}
        if run_id:
            metadata[RUN_ID_KEY] = run_id.encode()
        return self.schema.with_metadata(metadata)


KINDS: dict[str, DatasetKind] = {
    kind.name: kind for kind in (
        DatasetKind("mrc", MRC, 1, "mPMR Wikipedia anchor MRC triplets (paper 001)"),
        DatasetKind("clism", CLISM, 1, "CLISM [QUE] span pairs from parallel sentences (paper 000)"),
        DatasetKind("tagged", TAGGED, 1, "tagged sentences: gold CoNLL data or projected labels (paper 002)"),
    )
}


def get_kind(name: str) -> DatasetKind:
    """The kind called ``name``; a clear error listing the known kinds otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownNameError("dataset kind", name, sorted(KINDS)) from None
