"""A CLISM run's configuration (``ClismConfig``): its fields are the command's flags, each default and help written
once (pipelines/config_arguments.py). Kept apart from the Beam graph (``pipeline.py``) so that ``--help`` and a
wrong flag answer without importing Beam or spaCy: the reading, preparing and span modules it builds options for
are imported where those options are made, after the command line parsed."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipelines.align.options import PIPELINE_DEFAULTS, AlignmentOptions
from pipelines.config_arguments import flag
from pipelines.tokenize import SUPPORTED_LANGUAGES
from schemas.errors import UsageError

if TYPE_CHECKING:
    from pipelines.clism.parallel_input import CorpusSpec, ReadPolicy
    from pipelines.clism.prepare import PrepareOptions
    from pipelines.clism.spans import SpanRules

# The choices of the flags (parallel_input.py and spans.py read them from here).
LENGTH_POLICIES = ("error", "truncate")
MALFORMED_POLICIES = ("error", "skip")
MAX_SPAN_WORDS = 10  # Appendix B
QUE_TOKEN = "[QUE]"


@dataclass
class ClismConfig:
    """Everything a run depends on (written into the manifest). Each option's default and help are written here
    once: the command's flags are made from these fields (pipelines/config_arguments.py)."""

    corpora: list[CorpusSpec]
    output: str | None = None  # dataset directory (build_pipeline writes there; clism_rows needs none)
    num_shards: int = flag(0, "number of shards (0: the runner decides)", show_default=False)
    ner_models: dict[str, str] = field(default_factory=dict)  # source language (or "*") → spaCy model
    entity_labels: tuple[str, ...] | None = None
    max_span_words: int = flag(MAX_SPAN_WORDS, "longest span kept, in words (paper: 10)", show_default=False)
    que_token: str = flag(QUE_TOKEN, f"string replacing each span (default {QUE_TOKEN})")
    html_unescape: bool = flag(True, "keep HTML character references (&apos; ...) as they are",
                               name="--no-html-unescape")
    pretokenized: bool = flag(False, "input is tokenised: words are whitespace-separated tokens (Moses output, "
                                     "CoNLL)")
    max_words: int = flag(100, "drop pairs with a longer sentence, in words (default 100)")
    max_chars: int = flag(1000, "drop pairs with a longer sentence, in characters", show_default=False)
    on_length_mismatch: str = flag("error", "files of different lengths: stop (default) or pair up to the shorter "
                                            "one, counting the rest", choices=LENGTH_POLICIES)
    on_malformed: str = flag("error", "a TSV/joint line without exactly one separator: stop (default) or skip it, "
                                      "counted", choices=MALFORMED_POLICIES)
    conll_encoding: str = flag("utf-8", "encoding of --source-spans files (CoNLL-2002: latin-1)",
                               show_default=False)
    alignment: AlignmentOptions = PIPELINE_DEFAULTS["clism"]
    align_spanless_pairs: bool = flag(True, "align only pairs that have spans (faster; by default every usable "
                                            "pair helps the model)", name="--align-only-spanned")
    seed: int = flag(0, "seed of sampling and batching (eflomal itself cannot be seeded)", show_default=False)
    ner_batch_size: int = 256

    def __post_init__(self):
        from pipelines.clism.parallel_input import CorpusSpec

        self.corpora = [c if isinstance(c, CorpusSpec) else CorpusSpec(**c) for c in self.corpora]
        if isinstance(self.alignment, dict):
            self.alignment = AlignmentOptions(**self.alignment)
        if self.entity_labels is not None:
            self.entity_labels = tuple(self.entity_labels)
        self.validate()

    @property
    def policy(self) -> ReadPolicy:
        from pipelines.clism.parallel_input import ReadPolicy

        return ReadPolicy(self.on_length_mismatch, self.on_malformed, self.conll_encoding)

    @property
    def prepare_options(self) -> PrepareOptions:
        from pipelines.clism.prepare import PrepareOptions

        return PrepareOptions(self.html_unescape, self.pretokenized, self.max_words, self.max_chars,
                              self.que_token)

    @property
    def span_rules(self) -> SpanRules:
        from pipelines.clism.spans import SpanRules

        return SpanRules(self.max_span_words,
                         None if self.entity_labels is None else frozenset(self.entity_labels))

    def input_files(self) -> list[str]:
        return sorted({path for corpus in self.corpora for path in corpus.paths}
                      | ({self.alignment.links_file} if self.alignment.links_file else set()))

    def validate(self) -> None:
        from pipelines.clism.spans import model_for

        labelled = [c for c in self.corpora if not c.align_only]
        if not labelled:
            raise UsageError("no corpus to build rows from: give --src/--tgt, --tsv, --joint, --source-spans "
                             "or --corpus")
        names: dict[tuple[str, str], CorpusSpec] = {}
        for corpus in self.corpora:
            other = names.setdefault((corpus.group, corpus.name), corpus)
            if other is not corpus:
                raise UsageError(f"two {corpus.group} corpora are both named {corpus.name!r} ({other.paths[0]} and "
                                 f"{corpus.paths[0]}); their ids would clash: add name=OTHER to one of them")
        groups = {c.group for c in labelled}
        for corpus in self.corpora:
            if corpus.align_only and corpus.group not in groups:
                raise UsageError(f"extra corpus {corpus.paths[0]} is {corpus.group}, but no labelled corpus is: "
                                 "extra pairs only help align pairs of their own language pair")
            if not self.pretokenized:
                langs = [corpus.tgt_lang] + ([corpus.src_lang] if corpus.format != "conll" else [])
                for lang in langs:
                    if lang not in SUPPORTED_LANGUAGES:
                        raise UsageError(f"no word tokenizer for {lang!r} (corpus {corpus.paths[0]}): pass "
                                         f"--pretokenized for tokenised text, or use one of "
                                         f"{' '.join(SUPPORTED_LANGUAGES)}")
            if (not corpus.align_only and corpus.format != "conll"
                    and model_for(self.ner_models, corpus.src_lang) is None):
                raise UsageError(f"corpus {corpus.paths[0]} has no gold spans and there is no --ner-model for "
                                 f"its source language {corpus.src_lang!r}")
        if not self.que_token or self.que_token.strip() != self.que_token:
            raise UsageError(f"--que-token {self.que_token!r} must be non-empty without surrounding spaces")
        for name in ("max_words", "max_chars", "max_span_words", "ner_batch_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1")
        self.policy  # checks the policy names

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["corpora"] = [dict(dataclasses.asdict(c), paths=list(c.paths)) for c in self.corpora]
        return out
