"""A label-projection run's configuration (``ProjectionConfig``, its targets and ``ExtraFilter``): their fields are
the command's flags, each default and help written once (pipelines/config_arguments.py). Kept apart from the Beam
graph (``pipeline.py``) and the readers (``translations.py``), which import Beam, so that ``--help`` and a wrong
flag answer without it."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pipelines.align.options import PIPELINE_DEFAULTS, AlignmentOptions
from pipelines.config_arguments import flag
from pipelines.project_labels.projection import CONFLICT_POLICIES, DEFAULT_CONFLICT, DEFAULT_METHOD, METHODS
from schemas.storage import join

INPUT_SCHEMES = ("auto", "iob1", "bio", "bioes")  # the source's tag schemes (translations.py reads them)


@dataclass(frozen=True)
class ExtraFilter:
    """Which extra parallel pairs to keep: both sides non-empty, at most ``max_words`` words a side, and the
    longer side at most ``max_ratio`` times the shorter plus 3 words (a misaligned pair is usually far off).
    The fields are the command's --extra-max-words and --extra-max-ratio."""

    max_words: int = flag(100, "skip longer extra pairs", name="--extra-max-words", show_default=False)
    max_ratio: float = flag(3.0, "skip extra pairs whose longer side exceeds this times the shorter plus 3 words",
                            name="--extra-max-ratio", show_default=False)

    def reason_to_drop(self, src: tuple[str, ...], tgt: tuple[str, ...]) -> str | None:
        if not src or not tgt:
            return "extra_parallel_empty_line"
        if max(len(src), len(tgt)) > self.max_words:
            return "extra_parallel_too_long"
        if max(len(src), len(tgt)) > self.max_ratio * min(len(src), len(tgt)) + 3:
            return "extra_parallel_length_ratio"
        return None


@dataclass(frozen=True)
class Target:
    """One target language and its translations file (one sentence per line, in source order)."""

    lang: str
    translations: str


@dataclass(frozen=True)
class ExtraParallel:
    """Unlabelled tokenised parallel text (source file, target file) that helps align one target language."""

    src: str
    tgt: str
    lang: str


@dataclass(frozen=True)
class ProjectionConfig:
    """Everything the graph needs; plain values, so it pickles to workers and goes into the manifests. Each
    option's default and help are written here once (``ExtraFilter``'s in its class): the command's flags are made
    from these fields (pipelines/config_arguments.py)."""

    source: str
    src_lang: str
    targets: tuple[Target, ...]
    output: str
    method: str = flag(DEFAULT_METHOD, "cluster (span-to-span without far stray links), span (paper 002 eq. 2) or "
                                       f"word (word-to-word); default {DEFAULT_METHOD}", choices=tuple(METHODS))
    conflict: str = flag(DEFAULT_CONFLICT, f"which of overlapping projected spans survives (default "
                                           f"{DEFAULT_CONFLICT})", choices=tuple(CONFLICT_POLICIES))
    tag_column: int = flag(-1, "column of the source tag (default: the last)")
    encoding: str = flag("utf-8", "source file encoding (CoNLL-2002: latin-1)", show_default=False)
    input_scheme: str = flag("auto", "tag scheme of the source; auto reads IOB1, BIO and BIOES alike",
                             choices=INPUT_SCHEMES, show_default=False)
    output_scheme: str = flag("BIOES", "tags written", choices=("BIOES", "BIO"), type=str.upper,
                              show_default=False)
    pretokenized: bool = flag(False, "translations are whitespace-tokenised: keep their tokens")
    drop_incomplete: bool = flag(False, "drop (and count) a sentence when any of its spans was lost, instead of "
                                        "keeping it with O tags")
    extra_parallel: tuple[ExtraParallel, ...] = ()
    extra_filter: ExtraFilter = field(default_factory=ExtraFilter)
    alignment: AlignmentOptions = PIPELINE_DEFAULTS["project_labels"]
    seed: int = flag(0, "seed of the priors sample and of the batches", show_default=False)
    num_shards: int = flag(0, "shards per language (0: the runner decides)", show_default=False)
    conll_out: str | None = None
    links_out: str | None = None

    def output_dir(self, lang: str) -> str:
        """Each target language is its own dataset: OUTPUT/<lang>."""
        return join(self.output, lang)

    def conll_path(self, lang: str) -> str | None:
        if self.conll_out is None:
            return None
        return self.conll_out.replace("{lang}", lang)

    def group(self, lang: str) -> str:
        return f"{self.src_lang}-{lang}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
