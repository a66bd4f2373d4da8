"""A small English spaCy NER pipeline for tests and benchmarks, built offline (no model can be downloaded):
``spacy.blank("en")`` + an ``entity_ruler`` whose patterns are the gold entities of CoNLL-2003 English train
(each word sequence with its most frequent type), plus single capitalised words that are part of an entity of
one type in at least 90% of their occurrences (so "Tom" of "Tom Watson" is found alone too), saved to a
directory. The pipeline loads it with
``spacy.load(path)``, exactly as it loads ``en_core_web_sm``.
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
from collections import Counter
from functools import lru_cache
from pathlib import Path

CONLL_ENGLISH_TRAIN = Path("ner") / "conll2003" / "eng.train"


def build_ruler_model(conll_path: str | Path, out_dir: str | Path, min_count: int = 1) -> Path:
    """Write a blank English pipeline with an entity ruler learnt from ``conll_path`` to ``out_dir``."""
    import spacy

    from schemas.conll import read_conll
    from schemas.tags import spans_from_tags

    counts: Counter = Counter()
    word_types: Counter = Counter()  # (word, entity type or "O")
    for sentence in read_conll(conll_path, tag_scheme=None):
        types = ["O"] * len(sentence.tokens)
        for span in spans_from_tags(sentence.tags):
            counts[tuple(sentence.tokens[span.start:span.end]), span.label] += 1
            types[span.start:span.end] = [span.label] * (span.end - span.start)
        word_types.update(zip(sentence.tokens, types))
    occurrences: Counter = Counter()
    for (word, _), n in word_types.items():
        occurrences[word] += n
    for (word, label), n in word_types.items():
        if label != "O" and word[:1].isupper() and n >= 2 and n >= 0.9 * occurrences[word]:
            counts.setdefault(((word,), label), n)
    best: dict[tuple[str, ...], tuple[str, int]] = {}
    for (words, label), n in sorted(counts.items()):
        if words not in best or n > best[words][1]:
            best[words] = (label, n)
    # Phrase patterns (strings), not token patterns: the ruler's PhraseMatcher is a hash lookup per token,
    # while a Matcher with thousands of token patterns costs ~20 ms per sentence.
    patterns = [{"label": label, "pattern": " ".join(words)}
                for words, (label, n) in sorted(best.items()) if n >= min_count]
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(patterns)
    out = Path(out_dir)
    nlp.to_disk(out)
    return out


@lru_cache(maxsize=None)
def ruler_model_dir(data_dir: Path) -> Path:
    """The ruler model built from the shared CoNLL-2003 data, once per process (≈ 1 s)."""
    out = Path(tempfile.mkdtemp(prefix="polyspan-ner-ruler-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    return build_ruler_model(data_dir / CONLL_ENGLISH_TRAIN, out / "en_conll_ruler")
