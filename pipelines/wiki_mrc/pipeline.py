"""The Beam graph: MediaWiki dumps → mPMR MRC rows (paper 001, §2.2 and Appendix A.1).

    units ─ Reshuffle ─ ReadUnits ─┬─ faults ────────────────────────────────────────────── _dump_faults.txt
                                   └─ pages ─ (Reshuffle) ─ ParsePages ─┬─ redirects ─ ResolveRedirects ─┐
                                                                        ├─ mentions ─ SampleMentions ────┤ by link target
                                                                        ├─ definitions ─ their titles ───┤ (none: dropped)
                                                                        │        re-keyed by entity ─ MergeSamples
                                                                        ├─ definitions ──────────────────┤ by entity
                                                                        │                          Entities (≥ floor)
                                                                        └─ bodies ────── by bucket ──────┤ requests by bucket
                                                                                                    BuildExamples ─ WriteShards

Scale by key: the only shuffles are keyed joins and combines. A popular entity's millions of mentions are
never grouped: each bundle keeps, per link target, the count and the ``k`` mentions with the smallest hash
ranks (in a table bounded by bytes), and merging such samples gives the same ``k`` whatever the order (a
uniform, deterministic sample).
Contexts are built where the article text is: every kept article goes to one *bucket* (a hash of its title,
``--bucket-articles`` articles per bucket on average); each answerable example is a request sent to the
bucket of its mention article, each unanswerable one to a random bucket, whose articles are the candidates
for an unrelated context. Every random choice is a hash of (seed, stable key): the same rows on every runner.
"""
from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms.window import GlobalWindows

from pipelines.publish import staging_path
from pipelines.shards import CountingDoFn, CountingFlatMap, WriteShards, count, count_drop
from pipelines.tokenize import import_spacy_without_torch, words
from pipelines.wiki.dump import DumpFault, DumpUnit, Page, iter_unit
from pipelines.wiki.parser_process import WikiTextParser
from pipelines.wiki.titles import NamespaceTable, classify_link, is_disambiguation, normalize_title
from pipelines.wiki_mrc import examples as ex
from pipelines.wiki_mrc.config import MrcConfig
from pipelines.wiki_mrc.records import (AnswerRequest, Article, Body, Definition, Entity, Mention, Sample, Skipped,
                                        UnanswerableRequest, pack_mentions)
from pipelines.wiki_mrc.redirects import ResolveRedirects
from pipelines.wiki_mrc.title_masking import GUARDED
from pipelines.worker_tuning import fix_mmap_threshold, freeze_startup_objects
from schemas.storage import join

_log = logging.getLogger(__name__)

# In the dataset folder, one line per dump fault; "_" first, so that the data tools skip it (schemas/layout.py).
FAULTS_FILE = "_dump_faults.txt"
MISSING_PAGE = "anchor_to_missing_page"  # drop reason of links to a title that no page of the input has


# ---------------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------------

class ReadProgress:
    """What one worker has read so far, as a log line after its first unit with pages, then at most every
    ``every_s`` seconds: a long run shows its progress without a line per unit (enwiki has ~200,000 streams)."""

    def __init__(self, total_units: int, every_s: float = 15.0, clock: Callable[[], float] = time.monotonic):
        self.total_units, self.every_s, self.clock = total_units, every_s, clock
        self.units = self.pages = self.chars = 0
        self.start = clock()
        self.logged: Optional[float] = None

    def add(self, pages: int, chars: int) -> Optional[str]:
        """Count one unit read; the progress line when one is due."""
        self.units += 1
        self.pages += pages
        self.chars += chars
        now = self.clock()
        if self.pages == 0 or (self.logged is not None and now - self.logged < self.every_s):
            return None
        self.logged = now
        seconds = max(now - self.start, 1e-9)
        return (f"this worker has read {self.units} of the job's {self.total_units} dump units: {self.pages} pages, "
                f"{self.chars / 1e6:.1f}M characters of wikitext in {seconds:.0f} s "
                f"({self.chars / 1e6 / seconds:.2f}M/s, parsing included)")


class ReadUnits(CountingDoFn):
    """A dump unit → ``(path, Page)`` for every page; a fault → the ``fault`` output (its description, naming
    file and position). The pages read before a fault are kept."""

    FAULT = "fault"

    def __init__(self, total_units: int = 0):
        self.total_units = total_units

    def setup(self):
        self.progress = ReadProgress(self.total_units)

    def process(self, unit: DumpUnit):
        pages = chars = 0
        for record in iter_unit(unit):
            if isinstance(record, DumpFault):
                count("dump_faults")
                message = record.describe()
                _log.warning("dump fault: %s", message)
                yield pvalue.TaggedOutput(self.FAULT, message)
                continue
            pages += 1
            chars += len(record.text)
            yield unit.path, record
        count("dump_units_read")
        count("pages_read", pages)
        _log.debug("read %d pages from %s", pages, unit.key)
        line = self.progress.add(pages, chars)
        if line:
            _log.info(line)


# ---------------------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------------------

def worker_tokenizer(lang: str) -> Callable[[str], list]:
    """What a DoFn that tokenises sets up in a worker: glibc's mmap threshold fixed (page-sized buffers must not
    fragment the heap, see ``worker_tuning``), spaCy imported without torch (this job only tokenises), the
    tokenizer built now rather than inside the first element's timing, and then the start-up objects frozen
    (collections and the worker's exit skip them, see ``worker_tuning``)."""
    fix_mmap_threshold()
    import_spacy_without_torch()
    tokenize = lambda text: words(text, lang)  # noqa: E731
    tokenize("warm up")
    freeze_startup_objects()
    return tokenize


def count_masks(query: ex.MaskedQuery) -> None:
    """The masked words of a kept article's query by kind (``masked_words.exact`` ...), the queries that mask
    nothing, and the name words too short for affix matching (``masked_words.guarded``)."""
    for kind, value in query.masked.items():
        if value:
            count("masked_words." + kind, value)
    if not any(query.masked.values()):
        count("queries_without_mask")
    if query.guarded:
        count("masked_words." + GUARDED, query.guarded)


# The counters' word for what became of a lead's name parentheticals, by --lead-parenthetical ("keep": none).
_LEAD_PARENTHETICAL_DONE = {"drop": "dropped", "mask": "masked"}


def count_lead_parentheticals(query: ex.MaskedQuery, mode: str) -> None:
    """The name parentheticals of a kept article's lead dropped or masked (``lead_parentheticals.dropped``),
    and their words (``lead_parenthetical_words.dropped``): text taken out of the query, so it is counted."""
    if query.lead_parenthetical_groups:
        done = _LEAD_PARENTHETICAL_DONE[mode]
        count("lead_parentheticals." + done, query.lead_parenthetical_groups)
        count("lead_parenthetical_words." + done, query.lead_parenthetical)


class ParsePages(CountingDoFn):
    """A page → redirect edges, the article's definition (with its query), its mentions (one per anchor) and
    its body (text + anchors), or a counted reason why it is none of these."""

    REDIRECT, DEFINITION, MENTION, BODY = "redirect", "definition", "mention", "body"

    def __init__(self, config: MrcConfig, tables: Dict[str, NamespaceTable]):
        self.config = config
        self.tables = tables  # per dump file: namespaces from its <siteinfo> (or the language's defaults)

    def setup(self):
        # One parser (and, with a timeout, one child process) per distinct table, not per file: the files of
        # one wiki share their namespaces.
        unique: List[NamespaceTable] = []
        tables = {}
        for path, table in self.tables.items():
            same = next((t for t in unique if t == table), None)
            if same is None:
                unique.append(table)
                same = table
            tables[path] = same
        self.tables = tables
        self.parsers: Dict[int, WikiTextParser] = {}
        self.masking = self.config.masking()
        self.tokenize = worker_tokenizer(self.config.tokenizer_lang)

    def teardown(self):
        for parser in getattr(self, "parsers", {}).values():
            parser.close()

    def _table(self, path: str) -> NamespaceTable:
        table = self.tables.get(path)
        if table is None:  # a file without <siteinfo>: the language's built-in namespace names
            default = self.tables.get(None) or NamespaceTable.default(self.config.lang)
            table = self.tables[path] = self.tables[None] = default
        return table

    def _parser(self, table: NamespaceTable) -> WikiTextParser:
        key = id(table)
        if key not in self.parsers:
            timeout = self.config.parse_timeout_s or None
            self.parsers[key] = WikiTextParser(self.config.lang, table, max_chars=self.config.max_page_chars,
                                               timeout_s=timeout, max_memory_mb=self.config.parse_memory_mb)
        return self.parsers[key]

    def process(self, element: Tuple[str, Page]):
        path, page = element
        cfg = self.config
        if page.namespace != 0:
            count_drop("page_not_main_namespace")
            return
        table = self._table(path)
        title = normalize_title(page.title, cfg.lang)
        if page.is_redirect:
            count("redirects_read")
            target = classify_link(page.redirect_target or "", table)
            if target.kind != "article" or not target.title:
                count_drop("redirect_not_to_article")
                yield pvalue.TaggedOutput(self.DEFINITION, (title, Skipped("redirect_not_to_article")))
                return
            yield pvalue.TaggedOutput(self.REDIRECT, (title, target.title))
            # Marks the title, so that links to it are counted as "broken redirect" if its chain does not
            # resolve (when it does, the links are re-keyed to the final title and this marker meets none).
            yield pvalue.TaggedOutput(self.DEFINITION, (title, Skipped("broken_redirect")))
            return
        count("articles_read")
        parsed = self._parser(table).parse(page.text)
        if not parsed.ok:
            # The counter says how many; this line says which page, for a user who wants it back.
            _log.warning("%s: page %r (id %d) dropped: wikitext not converted (%s)", path, title, page.page_id,
                         parsed.skipped)
            yield from self._skip(title, "parse_" + str(parsed.skipped))
            return
        if is_disambiguation(title, parsed.templates, cfg.lang, parsed.magic_words):
            yield from self._skip(title, "disambiguation")
            return
        try:
            if not ex.has_more_words_than(parsed.text, cfg.min_article_words - 1, self.tokenize):
                yield from self._skip(title, "too_short")
                return
            query = ex.build_masked_query(parsed.text, ex.entity_names(title, parsed.bold_aliases), cfg.lang,
                                          self.tokenize, query_words=cfg.query_words, mask_token=cfg.mask_token,
                                          masking=self.masking, parenthetical=cfg.lead_parenthetical)
        except ValueError as err:  # the tokenizer could not place its words on the text
            _log.warning("tokenizer failed on %r: %s", title, err)
            yield from self._skip(title, "tokenizer_error")
            return
        count("articles_kept")
        for name, value in parsed.counters.items():
            count("wikitext." + name, value)
        count_masks(query)
        count_lead_parentheticals(query, cfg.lead_parenthetical)
        yield pvalue.TaggedOutput(self.DEFINITION, (title, Definition(title, page.page_id, query.text)))
        anchors = tuple((a.start, a.end, a.target) for a in parsed.anchors)
        yield pvalue.TaggedOutput(self.BODY, Body.pack(title, page.page_id, parsed.text, anchors, path))
        count("anchors_found", len(anchors))
        for index, (start, end, target) in enumerate(anchors):
            if target == title:
                count_drop("anchor_self_link")  # a context from the definition article itself would leak
                continue
            rank = ex.stable_hash(cfg.seed, "mention", title, index)
            yield pvalue.TaggedOutput(self.MENTION, (target, Mention(rank, title, page.page_id, index,
                                                                     parsed.text[start:end])))

    def _skip(self, title: str, reason: str):
        count_drop("page_" + reason)
        yield pvalue.TaggedOutput(self.DEFINITION, (title, Skipped(reason)))


# ---------------------------------------------------------------------------------------------------------------
# Mention samples (sampled per bundle, then merged: no hot keys)
# ---------------------------------------------------------------------------------------------------------------

def _smallest(encoded: Iterable[bytes], k: int) -> Tuple[bytes, ...]:
    """The ``k`` smallest encoded mentions (:meth:`Mention.encode`: byte order is rank order)."""
    return tuple(sorted(set(encoded))[:k])


def _packed_smallest(encoded: Iterable[bytes], k: int) -> bytes:
    return pack_mentions(_smallest(encoded, k))


# What SampleMentionsInBundle's table costs in CPython beyond the characters of a target and the bytes of its
# mentions (tracemalloc, 2,000–20,000 targets with 1–25 mentions each, estimate within 10%): the str header and
# the dict slot; a bytes header and a list slot per mention; the two lists of a target with several mentions.
_KEY_OVERHEAD = 70
_MENTION_OVERHEAD = 40
_SEVERAL_OVERHEAD = 170
MENTION_BUFFER_BYTES = 4 << 20


class SampleMentionsInBundle(beam.DoFn):
    """(link target, Mention) → (link target, Sample(count, packed ``k`` smallest, names=())), combined within a
    bundle as far as ``budget_bytes`` of memory allows.

    This is the precombine a runner would do for a ``CombinePerKey``, bounded by bytes instead of keys. Beam
    lifts a ``CombinePerKey`` into a table of up to 100,000 keys per bundle whatever their size (its own TODO:
    bound it by in-memory size). At 300–400 bytes for a target with one mention, up to ~1 KB with ``k``, that is
    30–110 MB per bundle, and a Dataflow worker runs many bundles at once. Here the table counts its bytes and,
    past the budget, emits its oldest targets; what it emits for a target twice (from two bundles, or twice from
    one) is merged after the GroupByKey, where counts add and the ``k`` smallest of the union are the ``k``
    smallest of all, so the sample is the same however the mentions were bundled."""

    def __init__(self, k: int, budget_bytes: int = MENTION_BUFFER_BYTES):
        self.k = k
        self.budget_bytes = budget_bytes

    def start_bundle(self):
        # target → the encoded mention (one mention: most link targets), or [count, encoded mentions]
        self.table: Dict[str, object] = {}
        self.bytes = 0

    def _entry_bytes(self, target: str, entry) -> int:
        if isinstance(entry, bytes):
            return _KEY_OVERHEAD + len(target) + len(entry) + _MENTION_OVERHEAD
        return (_KEY_OVERHEAD + _SEVERAL_OVERHEAD + len(target)
                + sum(len(e) + _MENTION_OVERHEAD for e in entry[1]))

    def process(self, element: Tuple[str, Mention]):
        target, mention = element
        encoded = mention.encode()
        entry = self.table.get(target)
        if entry is None:
            self.table[target] = encoded
            self.bytes += self._entry_bytes(target, encoded)
        else:
            before = self._entry_bytes(target, entry)
            if isinstance(entry, bytes):
                entry = self.table[target] = [1, [entry]]
            entry[0] += 1
            entry[1].append(encoded)
            if len(entry[1]) > 2 * self.k:  # prune now and then, not on every mention
                entry[1] = list(_smallest(entry[1], self.k))
            self.bytes += self._entry_bytes(target, entry) - before
        if self.bytes > self.budget_bytes:
            yield from self._emit_oldest(self.budget_bytes * 9 // 10)

    def _emit_oldest(self, keep_bytes: int):
        emitted = []
        for target, entry in self.table.items():  # insertion order: the oldest first
            if self.bytes <= keep_bytes:
                break
            emitted.append(target)
            self.bytes -= self._entry_bytes(target, entry)
            yield target, self._partial(entry)
        for target in emitted:
            del self.table[target]

    def _partial(self, entry) -> Sample:
        if isinstance(entry, bytes):
            return Sample(1, pack_mentions((entry,)), ())
        return Sample(entry[0], _packed_smallest(entry[1], self.k), ())

    def finish_bundle(self):
        for target, entry in self.table.items():
            yield GlobalWindows.windowed_value((target, self._partial(entry)))
        self.start_bundle()


def merge_partial_samples(element, k: int) -> Tuple[str, Sample]:
    """(link target, its partial samples) → (link target, Sample): merges the partials one at a time, so a
    target linked from millions of pages holds no more than a rare one (``CombineValues`` would list them all)."""
    target, partials = element
    merge = MergeSamples(k)
    return target, functools.reduce(merge.add_input, partials, merge.create_accumulator())


class SampleMentions(beam.PTransform):
    """(link target, Mention) → (link target, Sample(count, ``k`` smallest-ranked mentions, names=())): a
    precombine per bundle bounded by memory (:class:`SampleMentionsInBundle`), a GroupByKey, a merge."""

    def __init__(self, k: int, budget_bytes: int = MENTION_BUFFER_BYTES):
        super().__init__()
        self.k = k
        self.budget_bytes = budget_bytes

    def expand(self, mentions):
        return (mentions
                | "InBundle" >> beam.ParDo(SampleMentionsInBundle(self.k, self.budget_bytes))
                | "Group" >> beam.GroupByKey()
                | "Merge" >> beam.Map(merge_partial_samples, self.k))


class MergeSamples(beam.CombineFn):
    """Samples of the link targets that reach one entity → one sample (counts add, the ``k`` smallest ranks
    of the union are the ``k`` smallest of all mentions, names unite)."""

    def __init__(self, k: int):
        self.k = k

    def create_accumulator(self):
        return Sample.of(0, (), ())

    def add_input(self, acc, sample):
        return self.merge_accumulators([acc, sample])

    def merge_accumulators(self, accs):
        total, kept, names = 0, [], set()
        for sample in accs:
            total += sample.count
            kept.extend(sample.encoded)
            names.update(sample.names)
        return Sample(total, _packed_smallest(kept, self.k), tuple(sorted(names)))

    def extract_output(self, acc):
        return acc


def _resolve_target(element):
    """(link target, {sample, final, page}) → (entity, sample): a link to a redirect counts for its final title.
    A target that is neither a redirect nor any page's title has its links dropped here, under the reason
    ``MakeEntities`` would give them, instead of after two more shuffles (in an excerpt of a wiki, most link
    targets are outside it)."""
    target, groups = element
    samples = list(groups["sample"])
    if not samples:
        return
    finals = sorted(groups["final"])
    sample = samples[0]
    count("anchors_to_titles", sample.count)
    if finals:
        count("anchors_via_redirect", sample.count)
        entity = finals[0]
    elif next(iter(groups["page"]), None) is None:
        count_drop(MISSING_PAGE, sample.count)
        return
    else:
        entity = target
    yield entity, sample._replace(names=(target,))


class MakeEntities(CountingDoFn):
    """(entity, {sample, definition}) → Entity when the title is a kept article linked often enough; every other
    case counts its links under a reason."""

    def __init__(self, config: MrcConfig):
        self.config = config

    def process(self, element):
        title, groups = element
        samples = list(groups["sample"])
        records = list(groups["definition"])
        definitions = sorted((r for r in records if isinstance(r, Definition)), key=lambda d: d.page_id)
        if len(definitions) > 1:
            count("duplicate_titles", len(definitions) - 1)  # the smallest page id wins, deterministically
        if not samples:
            return
        sample = samples[0]
        if not definitions:
            reasons = sorted(r.reason for r in records if isinstance(r, Skipped))
            count_drop(f"anchor_to_{reasons[0]}" if reasons else MISSING_PAGE, sample.count)
            return
        definition = definitions[0]
        count("entities_linked")
        if sample.count < self.config.min_mentions:
            count_drop("entity_below_mention_floor")
            count_drop("anchor_to_entity_below_floor", sample.count)
            return
        count("entities_kept")
        count("anchors_to_kept_entities", sample.count)
        yield Entity(title, definition.page_id, definition.query, sample.count, sample.mentions, sample.names)


# ---------------------------------------------------------------------------------------------------------------
# Examples
# ---------------------------------------------------------------------------------------------------------------

def bucket_of(seed: int, title: str, buckets: int) -> int:
    return ex.draw(seed, title, "bucket", buckets)


def num_buckets(articles: int, per_bucket: int) -> int:
    return max(1, math.ceil(articles / per_bucket))


class MakeRequests(CountingDoFn):
    """An entity → its answerable requests (to the bucket of each sampled mention's article) and unanswerable
    requests (to random buckets)."""

    def __init__(self, config: MrcConfig):
        self.config = config

    def process(self, entity: Entity, articles: int):
        cfg = self.config
        buckets = num_buckets(articles, cfg.bucket_articles)
        for mention in entity.sample[:cfg.max_answerable]:
            yield (bucket_of(cfg.seed, mention.context_title, buckets),
                   AnswerRequest(entity.title, entity.page_id, entity.query, mention))
        count("mentions_not_sampled", max(0, entity.mentions - cfg.max_answerable))
        if not entity.sample:
            return
        for number in range(cfg.max_unanswerable):
            # The anchor text the unrelated context must not contain: one of the entity's own anchors.
            anchor_text = entity.sample[number % len(entity.sample)].anchor_text
            key = f"{entity.title}\x1f{number}"
            yield (ex.draw(cfg.seed, key, "unanswerable_bucket", buckets),
                   UnanswerableRequest(entity.title, entity.page_id, entity.query, number, anchor_text,
                                       entity.names))


def example_id(lang: str, entity_page_id: int, kind: str, part: str) -> str:
    return f"{lang}:{entity_page_id}:{kind}:{part}"


class Bucket:
    """The articles of one bucket, each unpacked when first used. A title seen twice (duplicate titles across
    inputs) keeps its smallest page id, as definitions do."""

    def __init__(self, bodies: Iterable[Body]):
        self.bodies: Dict[str, Body] = {}
        for body in bodies:
            if body.title not in self.bodies or body.page_id < self.bodies[body.title].page_id:
                self.bodies[body.title] = body
        self._unpacked: Dict[str, Article] = {}

    def titles(self) -> List[str]:
        return list(self.bodies)

    def get(self, title: str) -> Optional[Article]:
        article = self._unpacked.get(title)
        if article is None and title in self.bodies:
            article = self._unpacked[title] = self.bodies[title].unpack()
        return article



def mrc_row(example: str, lang: str, request: AnswerRequest | UnanswerableRequest, context: str, article: Article, *,
            answers: Iterable[Tuple[int, int]], anchor_text: str, mention_index: int) -> dict:
    """One ``mrc`` row (schemas.mrc), answerable or not: the one place its fields are named. ``request`` is the
    AnswerRequest or UnanswerableRequest (query, entity); ``article`` the page the context was cut from;
    ``answers`` the ``[start, end)`` offsets of the answers in ``context``; ``mention_index`` -1 for an
    unanswerable row."""
    return {
        "id": example,
        "lang": lang,
        "query": request.query,
        "context": context,
        "answers": [{"text": context[a:b], "start": a, "end": b} for a, b in answers],
        "entity": request.entity,
        "entity_page_id": request.entity_page_id,
        "anchor_text": anchor_text,
        "context_title": article.title,
        "context_page_id": article.page_id,
        "mention_index": mention_index,
        "source_file": article.source_file,
    }

class BuildExamples(CountingDoFn):
    """One bucket: its articles and the requests sent to it → MRC rows."""

    def __init__(self, config: MrcConfig):
        self.config = config

    def setup(self):
        self.tokenize = worker_tokenizer(self.config.tokenizer_lang)

    def process(self, element):
        _, groups = element
        bodies = Bucket(groups["body"])
        for request in sorted(groups["answerable"], key=lambda r: (r.entity, r.mention.sort_key())):
            row = self._answerable(request, bodies.get(request.mention.context_title))
            if row is not None:
                yield row
        unanswerable = sorted(groups["unanswerable"], key=lambda r: (r.entity, r.number))
        if unanswerable:
            yield from self._unanswerable(unanswerable, bodies)

    def _answerable(self, request: AnswerRequest, body: Optional[Article]):
        cfg = self.config
        mention = request.mention
        if body is None or body.page_id != mention.context_page_id or mention.index >= len(body.anchors):
            count_drop("example_mention_article_missing")  # duplicate titles across inputs
            return None
        start, end, _ = body.anchors[mention.index]
        example = example_id(cfg.lang, request.entity_page_id, "a", f"{body.page_id}:{mention.index}")
        xi = ex.words_before_anchor(cfg.answer_position, cfg.seed, example, cfg.context_words)  # ξ (§2.2)
        try:
            context = ex.answerable_context(body.text, start, end, xi, cfg.lang, self.tokenize,
                                            context_words=cfg.context_words)
        except ValueError:
            count_drop("example_tokenizer_error")
            return None
        count("examples_answerable")
        count("answers", len(context.answers))
        if context.words_before < xi:
            count("contexts_clipped_at_start")
        if context.words_after < cfg.context_words - xi:
            count("contexts_clipped_at_end")
        return mrc_row(example, cfg.lang, request, context.text, body, answers=context.answers,
                       anchor_text=mention.anchor_text, mention_index=mention.index)

    def _unanswerable(self, requests: List[UnanswerableRequest], bodies: Bucket):
        """Each request takes the first article of the bucket, in an order drawn for it, that neither links to
        the entity nor contains its anchor text (nor its title), and that no other request of the same entity
        took (§2.2: "pairing a query with an irrelevant context without anchor association")."""
        cfg = self.config
        used: Dict[str, set] = {}
        for request in requests:
            names = set(request.names)
            avoid = [request.anchor_text, request.entity, ex.unqualified(request.entity)]
            key = f"{request.entity}\x1f{request.number}"
            taken = used.setdefault(request.entity, set())
            order = sorted(bodies.titles(), key=lambda title: (ex.stable_hash(cfg.seed, "candidate", key, title),
                                                                title))
            chosen = None
            for title in order:
                if title == request.entity or title in taken:
                    continue
                body = bodies.get(title)
                if any(target in names for _, _, target in body.anchors):
                    continue
                if any(text and text in body.text for text in avoid):
                    continue
                chosen = body
                break
            if chosen is None:
                count_drop("unanswerable_no_unrelated_article_in_bucket")
                continue
            taken.add(chosen.title)
            example = example_id(cfg.lang, request.entity_page_id, "u", str(request.number))
            pos = ex.draw(cfg.seed, example, "position", len(chosen.text))
            xi = ex.words_before_anchor(cfg.answer_position, cfg.seed, example, cfg.context_words)
            try:
                context = ex.unrelated_context(chosen.text, pos, xi, self.tokenize, context_words=cfg.context_words)
            except ValueError:
                count_drop("example_tokenizer_error")
                continue
            if not context.text:
                count_drop("unanswerable_empty_context")
                continue
            count("examples_unanswerable")
            yield mrc_row(example, cfg.lang, request, context.text, chosen, answers=(),
                          anchor_text=request.anchor_text, mention_index=-1)


# ---------------------------------------------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------------------------------------------

class WikiToMrc(beam.PTransform):
    """Dump units → MRC rows (dicts with the ``mrc`` schema), plus the faults' descriptions.

    ``tables`` maps each dump file to its namespace table; ``reshuffle_pages`` spreads the pages of a unit over
    workers (needed when a file without a multistream index is one unit; a waste of a shuffle otherwise)."""

    def __init__(self, units: List[DumpUnit], config: MrcConfig, tables: Dict[str, NamespaceTable],
                 reshuffle_pages: Optional[bool] = None):
        super().__init__()
        self.units = units
        self.config = config
        self.tables = tables
        self.reshuffle_pages = (any(not u.multistream for u in units) if reshuffle_pages is None
                                else reshuffle_pages)

    def expand(self, pbegin):
        cfg = self.config
        read = (pbegin
                | "Units" >> beam.Create(self.units)
                | "SpreadUnits" >> beam.Reshuffle()
                | "ReadUnits" >> beam.ParDo(ReadUnits(len(self.units))).with_outputs(ReadUnits.FAULT, main="pages"))
        pages = read.pages
        if self.reshuffle_pages:
            pages = pages | "SpreadPages" >> beam.Reshuffle()
        parsed = pages | "ParsePages" >> beam.ParDo(ParsePages(cfg, self.tables)).with_outputs(
            ParsePages.REDIRECT, ParsePages.DEFINITION, ParsePages.MENTION, ParsePages.BODY)

        resolved = parsed[ParsePages.REDIRECT] | "ResolveRedirects" >> ResolveRedirects(cfg.max_redirect_hops)
        k = max(cfg.max_answerable, cfg.max_unanswerable, 1)
        per_target = parsed[ParsePages.MENTION] | "SampleMentions" >> SampleMentions(k)
        pages = parsed[ParsePages.DEFINITION] | "PageTitles" >> beam.Map(lambda record: (record[0], True))
        per_entity = ({"sample": per_target, "final": resolved, "page": pages}
                      | "JoinRedirects" >> beam.CoGroupByKey()
                      | "ToEntity" >> beam.ParDo(CountingFlatMap(_resolve_target))
                      | "MergeSamples" >> beam.CombinePerKey(MergeSamples(k)))
        entities = ({"sample": per_entity, "definition": parsed[ParsePages.DEFINITION]}
                    | "JoinDefinitions" >> beam.CoGroupByKey()
                    | "Entities" >> beam.ParDo(MakeEntities(cfg)))

        bodies = parsed[ParsePages.BODY]
        articles = bodies | "CountArticles" >> beam.combiners.Count.Globally()
        keyed_bodies = bodies | "BodiesToBuckets" >> beam.Map(
            lambda body, n: (bucket_of(cfg.seed, body.title, num_buckets(n, cfg.bucket_articles)), body),
            n=pvalue.AsSingleton(articles))
        requests = entities | "Requests" >> beam.ParDo(MakeRequests(cfg), pvalue.AsSingleton(articles))
        answerable = requests | "Answerable" >> beam.Filter(lambda kv: isinstance(kv[1], AnswerRequest))
        unanswerable = requests | "Unanswerable" >> beam.Filter(lambda kv: isinstance(kv[1], UnanswerableRequest))
        rows = ({"body": keyed_bodies, "answerable": answerable, "unanswerable": unanswerable}
                | "JoinBuckets" >> beam.CoGroupByKey()
                | "BuildExamples" >> beam.ParDo(BuildExamples(cfg)))
        return {"rows": rows, "faults": read[ReadUnits.FAULT]}


@dataclass
class MrcJob:
    """Everything the graph needs, resolved on the launching machine: the dump units (Beam filesystem paths,
    so workers open them themselves), each dump file's namespace table (read from its <siteinfo> once, here),
    the construction's numbers, and where to write."""
    config: MrcConfig
    units: List[DumpUnit]
    tables: Dict[str, NamespaceTable]
    output: str
    num_shards: int = 0
    strict: bool = False  # not part of the graph: whether run() fails after writing when a dump has a fault
    overwrite: bool = False  # not part of the graph: whether a finished dataset in ``output`` may be replaced

    @property
    def input_files(self) -> List[str]:
        return sorted({unit.path for unit in self.units})


def build_pipeline(pipeline: beam.Pipeline, job: MrcJob) -> None:
    """Apply the whole graph (rows → shards, faults → ``_dump_faults.txt``) to ``pipeline``; nothing runs."""
    out = pipeline | "WikiToMrc" >> WikiToMrc(job.units, job.config, job.tables)
    out["rows"] | "Write" >> WriteShards(job.output, "mrc", num_shards=job.num_shards)
    out["faults"] | "WriteFaults" >> beam.io.WriteToText(join(staging_path(job.output), FAULTS_FILE),
                                                         shard_name_template="")
