"""One CLISM row (schema ``clism``, paper 000 §3.1, Figure 2) from a pair, its source spans and its links.

Each source span maps to the target with the pipelines' shared span mapping (``alignment.span_mapping.
map_target_span``: span-to-span, from the first to the last target word linked to the span, far stray links
left out); a span with no linked target word is dropped,
and a pair left with no span is dropped. The masked source replaces each kept span by one ``que_token``,
keeping the text between spans as it was, so the k-th ``que_token`` is the question whose answer is
``answers[k]`` (character offsets into the target, whole words).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from alignment.span_mapping import map_target_span
from pipelines.clism.prepare import PreparedPair

Links = Sequence[tuple[int, int]]
Drop = Callable[[str, int], None]
Count = Callable[[str, int], None]


def _nothing(name: str, value: int = 1) -> None:
    pass


def build_row(pair: PreparedPair, links: Links, que_token: str, drop: Drop = _nothing,
              count: Count = _nothing, drop_span: Drop = _nothing) -> dict[str, Any] | None:
    """The row of ``pair`` (whose ``spans`` are set), or None after ``drop(reason, 1)``; a span with no
    aligned target word is reported as ``drop_span("unaligned", 1)``."""
    source, target = pair.source, pair.target
    sw, tw = pair.source_words, pair.target_words
    source_spans, answers = [], []
    for start, end, label in pair.spans or ():
        mapped = map_target_span(links, start, end)
        if mapped is None:
            drop_span("unaligned", 1)
            continue
        lo, hi = mapped
        a, b = sw[start][0], sw[end - 1][1]
        c, d = tw[lo][0], tw[hi - 1][1]
        source_spans.append({"text": source[a:b], "start": a, "end": b, "label": label})
        answers.append({"text": target[c:d], "start": c, "end": d})
    if not answers:
        drop("no_aligned_span", 1)
        return None
    pieces, position = [], 0
    for span in source_spans:
        pieces += [source[position:span["start"]], que_token]
        position = span["end"]
    pieces.append(source[position:])
    count("answers", len(answers))
    ends = sorted((a["start"], a["end"]) for a in answers)
    count("answers_overlapping_another", sum(1 for x, y in zip(ends, ends[1:]) if y[0] < x[1]))
    return {
        "id": pair.key,
        "src_lang": pair.src_lang,
        "tgt_lang": pair.tgt_lang,
        "masked_source": "".join(pieces),
        "source": source,
        "target": target,
        "que_token": que_token,
        "source_spans": source_spans,
        "answers": answers,
        "source_words": [{"start": a, "end": b} for a, b in sw],
        "target_words": [{"start": a, "end": b} for a, b in tw],
        "alignment": [{"src": int(i), "tgt": int(j)} for i, j in sorted(links)],
        "corpus": pair.corpus,
        "line": pair.line,
    }
