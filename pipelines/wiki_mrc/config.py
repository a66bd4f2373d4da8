"""The construction's numbers (``MrcConfig``): its fields are the command's flags, each default and help written
once. Kept apart from the Beam graph (``pipeline.py``) so that ``--help`` and a wrong flag answer without
importing Beam or spaCy."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from pipelines.config_arguments import flag
from pipelines.wiki.parser_process import DEFAULT_MAX_MEMORY_MB
from pipelines.wiki.wikitext import DEFAULT_MAX_CHARS
from pipelines.wiki_mrc import examples as ex
from pipelines.wiki_mrc.lead import DEFAULT_LEAD_PARENTHETICAL, LEAD_PARENTHETICALS
from pipelines.wiki_mrc.title_masking import RULE_NAMES, LanguageMasking, masking_for, with_rule
from schemas.errors import UsageError

# The longest redirect chain followed (redirects.py's default too; defined here, where the flag reads it, because
# redirects.py is Beam code).
DEFAULT_MAX_HOPS = 4


@dataclass
class MrcConfig:
    """Every number of the construction, with the paper's value as default (see ``examples.py``). Each default
    and help text is written here once: the command's flags are derived from these fields."""
    lang: str
    tokenizer_lang: str
    seed: int = flag(0, "seed of every random choice")
    query_words: int = flag(ex.QUERY_WORDS, "query length in words (paper: 50)", metavar="Q")
    context_words: int = flag(ex.CONTEXT_WORDS, "context length in words (paper: 200)", metavar="C")
    max_answerable: int = flag(ex.MAX_ANSWERABLE, "answerable examples per entity (paper: 10)")
    max_unanswerable: int = flag(ex.MAX_UNANSWERABLE, "unanswerable examples per entity (paper: 10)")
    min_mentions: int = flag(0, "drop entities linked fewer times (paper: 10 for English, 5 for other languages; "
                                "0, the default = that)")
    min_article_words: int = flag(ex.MIN_ARTICLE_WORDS, "skip articles with fewer words (articles of "
                                                        f"{ex.MIN_ARTICLE_WORDS - 1} words or fewer are skipped)")
    mask_token: str = flag(ex.MASK_TOKEN, "what the entity's names become in the query")
    max_redirect_hops: int = flag(DEFAULT_MAX_HOPS, "longest redirect chain followed")
    bucket_articles: int = flag(16, "articles per bucket on average: the candidates for an unrelated "
                                    "(unanswerable) context")
    parse_timeout_s: float = flag(30.0, "skip a page whose wikitext takes longer to parse (0: parse inline, no "
                                        "bound)", name="--parse-timeout", metavar="SECONDS")
    max_page_chars: int = flag(DEFAULT_MAX_CHARS, "skip pages with more wikitext")
    parse_memory_mb: int = flag(DEFAULT_MAX_MEMORY_MB, "skip a page whose parse needs more address space than "
                                "this (0: no ceiling; applies with --parse-timeout, whose child process it bounds)",
                                metavar="MB")
    # "" = the language's row of title_masking.LANGUAGES (resolved here, so the manifest names the rule)
    title_masking: str = flag("", "how a query word carries the entity's name: as the whole word (word), as its "
                                  "start (prefix), after proclitics too (clitic), anywhere (substring); default: "
                                  "the language's row of pipelines/wiki_mrc/title_masking.py (docs/wiki_mrc.md lists it)",
                              choices=RULE_NAMES)
    answer_position: str = flag(ex.DEFAULT_ANSWER_POSITION,
                                "where the answer sits in its context: stochastic (xi ~ U{0..C} words before it, "
                                "the paper's) or centre (C/2 words on each side: the ablation of paper 001's "
                                "Table 2)", choices=tuple(ex.ANSWER_POSITIONS))
    lead_parenthetical: str = flag(DEFAULT_LEAD_PARENTHETICAL,
                                   "the lead's name parentheticals (the reading, transliteration or other-script "
                                   "name in brackets after the name, see pipelines/wiki_mrc/lead.py): drop them "
                                   "before the words are counted, mask their words, or keep them (mPMR's)",
                                   choices=LEAD_PARENTHETICALS)

    def __post_init__(self):
        if self.min_mentions <= 0:
            self.min_mentions = ex.min_mentions_default(self.lang)
        if not self.title_masking:
            self.title_masking = masking_for(self.lang, self.tokenizer_lang).rule
        self.masking()  # an unknown rule fails here, not in a worker
        ex.answer_position_strategy(self.answer_position)  # so does an unknown answer position
        if self.lead_parenthetical not in LEAD_PARENTHETICALS:
            raise UsageError(f"unknown lead parenthetical {self.lead_parenthetical!r}: one of "
                             f"{', '.join(LEAD_PARENTHETICALS)}")
        for name in ("query_words", "context_words", "bucket_articles", "max_redirect_hops"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1")
        for name in ("max_answerable", "max_unanswerable", "min_article_words", "parse_memory_mb"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must not be negative")

    def masking(self) -> LanguageMasking:
        """The language's masking data under the configured rule."""
        return with_rule(masking_for(self.lang, self.tokenizer_lang), self.title_masking)

    def to_dict(self) -> dict:
        return asdict(self)
