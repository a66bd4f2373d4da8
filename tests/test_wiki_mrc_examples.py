"""The pure parts of the Wikipedia MRC pipeline: queries, contexts, answers, randomness, redirects, samples."""
import random

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.tokenize import words
from pipelines.wiki_mrc import examples as ex
from pipelines.wiki_mrc.pipeline import (MergeSamples, ReadProgress, SampleMentionsInBundle,
                                         merge_partial_samples)
from pipelines.wiki_mrc.records import Mention, Sample
from pipelines.wiki_mrc.redirects import ResolveRedirects, resolve_in_memory


def tok(text):
    return words(text, "en")


def test_query_masks_title_unqualified_title_and_aliases_and_collapses_masks():
    text = ("Mercury is the smallest planet. The planet mercury, also Hermes Hermes, orbits the Sun. "
            "Mercury (planet) is not Mercurial. " + "More words here. " * 20)
    names = ex.entity_names("Mercury (planet)", ["Hermes"])
    query = ex.build_query(text, names, "en", tok, query_words=50)
    assert query.startswith("[MASK] is the smallest planet. The planet [MASK], also [MASK], orbits")
    assert "Mercurial" in query  # not a whole-word match
    assert "Mercury" not in query and "mercury" not in query and "Hermes" not in query
    assert "[MASK] [MASK]" not in query


def test_query_counts_words_before_masking_and_squeezes_whitespace():
    text = "Alpha Beta\n\ngamma delta epsilon zeta"
    query = ex.build_query(text, ["Alpha Beta"], "en", tok, query_words=3)
    assert query == "[MASK] gamma"  # the first 3 words: Alpha, Beta (one mask), gamma


def test_unqualified_titles():
    assert ex.unqualified("Mercury (planet)") == "Mercury"
    assert ex.unqualified("Paris, Texas") == "Paris"
    assert ex.unqualified("Paris") == "Paris"


def test_answerable_context_puts_xi_words_before_the_anchor():
    text = " ".join(f"w{i}" for i in range(1000))
    anchor = text.index("w500")
    for xi in (0, 1, 57, 200):
        context = ex.answerable_context(text, anchor, anchor + 4, xi, "en", tok, context_words=200)
        got = context.text.split()
        assert got.index("w500") == xi and len(got) == 201
        assert context.answers == ((context.text.index("w500"), context.text.index("w500") + 4),)


def test_context_is_clipped_at_article_bounds():
    text = " ".join(f"w{i}" for i in range(30))
    anchor = text.index("w3 ")
    context = ex.answerable_context(text, anchor, anchor + 2, 150, "en", tok, context_words=200)
    assert context.text == text and context.words_before == 3 and context.words_after == 26


def test_every_identical_span_is_an_answer_but_not_inside_words():
    context = "Art is long. Start with art. Art, again. The art-house"
    answers = ex.find_answers(context, "Art", "en", must_include=0)
    assert [context[a:b] for a, b in answers] == ["Art", "Art"]
    assert ex.find_answers("猫が猫を見た", "猫", "ja", must_include=0) == ((0, 1), (2, 3))


def test_unrelated_context_has_c_words_when_the_article_is_long_enough():
    text = " ".join(f"w{i}" for i in range(300))
    for pos, xi in ((0, 20), (5, 50), (1000, 0), (len(text) - 1, 30)):
        context = ex.unrelated_context(text, pos, xi, tok, context_words=50)
        assert len(context.text.split()) == 50 and context.text in text


def test_draws_are_stable_and_uniform():
    assert ex.stable_hash(0, "a", 1) == ex.stable_hash(0, "a", 1) != ex.stable_hash(1, "a", 1)
    counts = [0] * 5
    for i in range(5000):
        counts[ex.draw(7, f"item{i}", "xi", 5)] += 1
    assert min(counts) > 900


def test_word_windows_match_whole_text_tokenisation():
    rng = random.Random(3)
    text = " ".join(rng.choice(["The", "cat's", "U.S.", "(dog)", "don't", "e-mail", "3.5%", "\n\n", "x"])
                    for _ in range(600))
    full = [(s, e) for _, s, e in tok(text)]
    pos = full[300][0]
    assert ex.words_before(text, pos, 40, tok) == full[260:300]
    assert ex.words_after(text, pos, 40, tok) == full[300:340]


def test_redirects_in_memory():
    edges = [("A", "B"), ("B", "C"), ("X", "Y"), ("Y", "X"), ("S", "S"), ("L1", "L2"), ("L2", "L3"), ("L3", "L4"),
             ("L4", "L5")]
    final, failed = resolve_in_memory(edges, max_hops=3)
    assert final == {"A": "C", "B": "C", "L2": "L5", "L3": "L5", "L4": "L5"}
    assert failed == {"X": "cycle", "Y": "cycle", "S": "cycle", "L1": "too_long"}


def test_redirects_as_keyed_joins_match_in_memory(beam_options):
    rng = random.Random(1)
    titles = [f"T{i}" for i in range(60)]
    edges = [(t, rng.choice(titles)) for t in titles[:40]] + [("A", "B"), ("B", "C")]
    final, _ = resolve_in_memory(edges, max_hops=3)
    with BeamPipeline(options=beam_options) as p:
        out = p | beam.Create(edges) | ResolveRedirects(max_hops=3)
        assert_that(out, equal_to(sorted(final.items())))


def test_mention_samples_keep_the_smallest_ranks_in_any_order():
    """However the mentions are spread over bundles, and whenever a small table emits them, the merged sample is
    the ``k`` smallest ranks and the exact count."""
    mentions = [Mention(ex.stable_hash(0, i), f"P{i % 7}", i % 7, i, "x") for i in range(200)]
    targets = ("T0", "T1", "T2")
    for seed in range(3):
        random.Random(seed).shuffle(mentions)
        partials = {t: [] for t in targets}
        for bundle in range(4):
            fn = SampleMentionsInBundle(10, budget_bytes=600)  # a few targets' worth: emits within the bundle
            fn.start_bundle()
            for m in mentions[bundle::4]:
                for target, partial in fn.process((targets[m.index % 3], m)):
                    partials[target].append(partial)
            for windowed in fn.finish_bundle():
                target, partial = windowed.value
                partials[target].append(partial)
        for t in targets:
            assert len(partials[t]) > 4  # the budget made the table emit a target more than once a bundle
            ranked = sorted((m for m in mentions if targets[m.index % 3] == t), key=Mention.sort_key)
            assert merge_partial_samples((t, partials[t]), 10) == (t, Sample.of(len(ranked), tuple(ranked[:10]), ()))
    ranked = sorted(mentions, key=Mention.sort_key)
    merged = MergeSamples(3).merge_accumulators([Sample.of(2, tuple(ranked[:2]), ("A",)),
                                                 Sample.of(5, tuple(ranked[2:5]), ("B",))])
    assert merged == Sample.of(7, tuple(ranked[:3]), ("A", "B"))


def test_encoded_mentions_sort_as_mentions_do_and_decode_to_themselves():
    """The combiners sort encoded mentions as bytes: that order must be ``Mention.sort_key`` order, also for
    equal ranks, titles that extend one another, non-ASCII titles and large ids."""
    rng = random.Random(3)
    titles = ["Ab", "Abc", "Ab c", "Äb", "Ab\u00e9", "日本", "Z", "A\U0001F600b", "A"]
    mentions = [Mention(rng.choice([0, 1, 2**63, 2**64 - 1, rng.getrandbits(64)]), rng.choice(titles),
                        rng.choice([0, 7, 10**9, 2**40]), rng.choice([0, 1, 300, 2**31]), rng.choice(["", "x", "ß y"]))
                for _ in range(2000)]
    assert [Mention.decode(m.encode()) for m in mentions] == mentions
    assert sorted(mentions, key=lambda m: m.encode()) == sorted(mentions, key=lambda m: (m.sort_key(), m.anchor_text))
    sample = Sample.of(5, tuple(mentions[:3]), ("A",))
    assert sample.mentions == tuple(mentions[:3]) and Sample.of(5, tuple(mentions[:3]), ("A",)) == sample


def test_read_progress_logs_after_the_first_unit_then_at_most_once_an_interval():
    now = [100.0]
    progress = ReadProgress(total_units=22, every_s=30, clock=lambda: now[0])
    assert progress.add(0, 0) is None  # a dump's first stream holds only <siteinfo>
    now[0] = 102.0
    first = progress.add(10, 2_000_000)
    assert "read 2 of the job's 22 dump units: 10 pages, 2.0M characters of wikitext in 2 s (1.00M/s" in first
    now[0] = 131.0
    assert progress.add(10, 1_000_000) is None  # 29 s after the last line
    now[0] = 133.0
    line = progress.add(5, 1_000_000)
    assert "read 4 of the job's 22 dump units: 25 pages, 4.0M characters of wikitext in 33 s (0.12M/s" in line


def test_config_defaults_are_the_papers():
    from pipelines.wiki_mrc.pipeline import MrcConfig
    en, vi = MrcConfig("en", "en"), MrcConfig("vi", "vi")
    assert (en.query_words, en.context_words, en.max_answerable, en.max_unanswerable) == (50, 200, 10, 10)
    assert (en.min_mentions, vi.min_mentions) == (10, 5)
    with pytest.raises(ValueError):
        MrcConfig("en", "en", context_words=0)


def test_answer_positions_are_uniform_or_centred_by_name():
    stochastic = [ex.words_before_anchor("stochastic", 0, f"e{i}", 200) for i in range(3000)]
    assert min(stochastic) == 0 and max(stochastic) == 200 and len(set(stochastic)) > 150
    # The default is the draw the pipeline always made: the same ξ for the same example.
    assert stochastic[:5] == [ex.draw(0, f"e{i}", "xi", 201) for i in range(5)]
    assert {ex.words_before_anchor("centre", 0, f"e{i}", 200) for i in range(50)} == {100}
    with pytest.raises(ValueError, match="unknown answer position"):
        ex.words_before_anchor("middle", 0, "e", 200)
    from pipelines.wiki_mrc.pipeline import MrcConfig
    assert MrcConfig("en", "en").answer_position == ex.DEFAULT_ANSWER_POSITION == "stochastic"
    assert MrcConfig("bg", "ru").title_masking == "prefix" and MrcConfig("zh", "zh").title_masking == "substring"
    with pytest.raises(ValueError):
        MrcConfig("en", "en", answer_position="middle")
    overridden = MrcConfig("de", "de", title_masking="word").masking()
    assert overridden.rule == "word" and overridden.endings == ("s", "es", "n", "en")  # German's data, kept
    with pytest.raises(ValueError, match="unknown title masking rule"):
        MrcConfig("de", "de", title_masking="stem")


ANDORRA = ("Andorra (Catalan: Andorra), officially the Principality of Andorra (Principat d'Andorra), is a small "
           "country (a microstate) in Europe. Its capital (Andorra la Vella) is high.")


def test_lead_parentheticals_first_and_after_a_name_are_dropped_masked_or_kept():
    """The first group of the first sentence and a later one right after a name go; a group after another word
    ("country (a microstate)") and groups of later sentences stay, whatever the mode."""
    names = ex.entity_names("Andorra", ["Principality of Andorra"])
    dropped, masked, kept = (ex.build_masked_query(ANDORRA, names, "en", tok, parenthetical=mode)
                             for mode in ("drop", "mask", "keep"))
    assert dropped.text == ("[MASK], officially the [MASK], is a small country (a microstate) in Europe. "
                            "Its capital ([MASK] la Vella) is high.")
    assert masked.text.startswith("[MASK] ([MASK]), officially the [MASK] ([MASK]), is a small country "
                                  "(a microstate) in Europe. Its capital ([MASK] la Vella)")
    assert kept.text.startswith("[MASK] (Catalan: [MASK]), officially the [MASK] (Principat [MASK])")
    assert (dropped.lead_parenthetical_groups, masked.lead_parenthetical_groups,
            kept.lead_parenthetical_groups) == (2, 2, 0)
    # Dropped: every word of the two groups; masked: those the name masks did not already take.
    assert dropped.lead_parenthetical == len(tok("Catalan: Andorra")) + len(tok("Principat d'Andorra"))
    assert 0 < masked.lead_parenthetical < dropped.lead_parenthetical and kept.lead_parenthetical == 0
    with pytest.raises(ValueError, match="unknown lead parenthetical"):
        ex.build_masked_query(ANDORRA, names, "en", tok, parenthetical="hide")


def test_masked_lead_parentheticals_count_only_groups_inside_the_query():
    names = ex.entity_names("Andorra", ["Principality of Andorra"])
    query = ex.build_masked_query(ANDORRA, names, "en", tok, query_words=3, parenthetical="mask")
    assert query.text == "[MASK] ([MASK]" and query.lead_parenthetical_groups == 1
    # Dropping happens before the words are counted: both groups go, wherever the query ends.
    query = ex.build_masked_query(ANDORRA, names, "en", tok, query_words=3, parenthetical="drop")
    assert query.text == "[MASK], officially" and query.lead_parenthetical_groups == 2


def test_config_takes_a_lead_parenthetical_mode_by_name():
    from pipelines.wiki_mrc.pipeline import MrcConfig
    assert MrcConfig("en", "en").lead_parenthetical == "drop"
    assert MrcConfig("en", "en", lead_parenthetical="keep").lead_parenthetical == "keep"
    with pytest.raises(ValueError, match="unknown lead parenthetical"):
        MrcConfig("en", "en", lead_parenthetical="hide")


def test_query_masks_case_folded_and_counts_masked_words_by_kind():
    text = "MERCURY and mercury's moons; Mercurys. " + "More words here. " * 20
    query = ex.build_masked_query(text, ["Mercury"], "en", tok, query_words=10)
    assert query.text.startswith("[MASK] and [MASK]'s moons; [MASK].")
    assert query.masked == {"exact": 2, "prefix": 1, "substring": 0} and query.guarded == 0
