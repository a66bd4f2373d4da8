"""The shared Beam alignment transform on the English-French gold alignments (WPT-2003, 447 pairs)."""
from __future__ import annotations

import json

import apache_beam as beam
import pytest

from alignment import read_gold, read_joint, score_alignments
from pipelines.shards import pipeline_counters
from pipelines.align.transforms import AlignPairs, PairToAlign, stable_hash, write_keyed_links
from schemas.registry import UnknownNameError


def _align(beam_options, tmp_path, pairs: list[PairToAlign], **kwargs) -> tuple[dict, dict]:
    """Run AlignPairs; its (key, links) outputs as a dict (each key once) and the run's counters."""
    prefix = tmp_path / f"out-{len(list(tmp_path.glob('out-*')))}"
    pipeline = beam.Pipeline(options=beam_options)
    (pipeline | beam.Create(pairs) | AlignPairs(**kwargs)
     | beam.Map(lambda kv: json.dumps([kv[0], kv[1]]))
     | beam.io.WriteToText(str(prefix), num_shards=1, shard_name_template=""))
    result = pipeline.run()
    result.wait_until_finish()
    collected: dict = {}
    for line in prefix.read_text(encoding="utf-8").splitlines():
        key, links = json.loads(line)
        assert key not in collected, f"{key} emitted twice"
        collected[key] = tuple(tuple(link) for link in links)
    return collected, pipeline_counters(result)


# Two samplers instead of the alignment layer's six: a third of the CPU, AER within 0.01 on this set.
FAST = {"n_samplers": 2}


@pytest.fixture(scope="module")
def enfr(data_dir):
    pairs = read_joint(data_dir / "align_gold/enfr.src-tgt")
    gold = read_gold(data_dir / "align_gold/enfr.gold")
    return pairs, gold


def _to_align(pairs, emit=True, prefix="enfr"):
    return [PairToAlign(f"{prefix}:{n}", "en-fr", tuple(s), tuple(t), emit) for n, (s, t) in enumerate(pairs)]


def _aer(collected, gold, n, prefix="enfr"):
    return score_alignments([list(collected[f"{prefix}:{k}"]) for k in range(n)], gold).aer


def test_one_batch_aligns_like_the_aligner(beam_options, enfr, tmp_path):
    pairs, gold = enfr
    # Extra pairs that only help the model (emit=False) and an empty pair, which still gets its (key, ()).
    extra = _to_align(pairs[:100], emit=False, prefix="extra")
    empty = PairToAlign("empty:0", "en-fr", (), ("mot",))
    collected, counters = _align(beam_options, tmp_path, _to_align(pairs) + extra + [empty], lowercase=True,
                                 aligner_options=FAST)
    assert set(collected) == {f"enfr:{k}" for k in range(len(pairs))} | {"empty:0"}
    assert collected["empty:0"] == ()
    assert all(0 <= i < len(pairs[int(k.split(':')[1])][0]) for k, links in collected.items() if k != "empty:0"
               for i, _ in links)
    # The alignment layer's own figure is ~0.17 AER with this aligner; one batch must match it.
    assert _aer(collected, gold, len(pairs)) < 0.20
    assert counters["align.en-fr.pairs_aligned"] == len(pairs) + 100
    assert counters["align.en-fr.batches_aligned"] == 1
    assert counters["align.en-fr.skipped_empty_source"] == 1
    assert "align.en-fr.model_pairs" not in counters  # one batch: no model to hand on
    assert counters["align.en-fr.links_from_batches"] == len(pairs)
    assert "align.en-fr.links_from_sample" not in counters


def _smallest_hashes(keys, n, seed=0):
    return set(sorted(keys, key=lambda key: (stable_hash(seed, key), key))[:n])


def test_sample_links_are_kept_and_only_the_rest_is_batched(beam_options, enfr, tmp_path):
    pairs, gold = enfr
    # 447 gold pairs + 60 that only help the model; a sample of 200, the other 307 in ceil(307 / 110) = 3
    # batches aligned with the sample's priors. Every pair is aligned once, every gold key emitted once.
    to_align = _to_align(pairs) + _to_align(pairs[:60], emit=False, prefix="extra")
    collected, counters = _align(beam_options, tmp_path, to_align, batch_size=110, priors_sample=200,
                                 lowercase=True, aligner_options=FAST)
    assert set(collected) == {f"enfr:{k}" for k in range(len(pairs))}  # (and none twice: _align checks)
    sample = _smallest_hashes([p.key for p in to_align], 200)
    emitted_in_sample = sum(1 for key in sample if key.startswith("enfr:"))
    assert 0 < emitted_in_sample < 200  # the sample mixes both kinds of pair
    assert counters["align.en-fr.sample_pairs_aligned"] == counters["align.en-fr.model_pairs"] == 200
    assert counters["align.en-fr.links_from_sample"] == emitted_in_sample
    assert counters["align.en-fr.links_from_batches"] == len(pairs) - emitted_in_sample
    assert counters["align.en-fr.pairs_aligned"] == len(to_align)  # nothing aligned twice
    assert counters["align.en-fr.batches_aligned"] == 3
    # One-batch AER is ~0.17; the sample's own run has fewer pairs and the batches rely on its priors.
    assert _aer(collected, gold, len(pairs)) < 0.24

    # A group larger than a batch but within the sample: one run over everything, no priors, no batches.
    small = _to_align(pairs[:120]) + _to_align(pairs[120:150], emit=False, prefix="extra")
    collected, counters = _align(beam_options, tmp_path, small, batch_size=50, priors_sample=500,
                                 aligner_options=FAST)
    assert set(collected) == {f"enfr:{k}" for k in range(120)}
    assert counters["align.en-fr.sample_pairs_aligned"] == counters["align.en-fr.pairs_aligned"] == 150
    assert counters["align.en-fr.links_from_sample"] == 120
    assert not {"align.en-fr.model_pairs", "align.en-fr.batches_aligned", "align.en-fr.links_from_batches"} \
        & set(counters)


def test_precomputed_links_file_is_joined_by_key_and_checked(beam_options, enfr, tmp_path):
    pairs, _ = enfr
    to_align = _to_align(pairs[:5])
    keyed = [(p.key, [(k, k) for k in range(min(len(p.src), len(p.tgt)))]) for p in to_align]
    path = tmp_path / "links.tsv"
    with open(path, "w", encoding="utf-8") as out:
        write_keyed_links(out, reversed(keyed))  # order does not matter, keys do
    collected, _ = _align(beam_options, tmp_path, to_align, links_file=str(path))
    assert collected == {key: tuple(links) for key, links in keyed}

    path.write_text("enfr:0\t0-0 999-0\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"links\.tsv, line 1: link 999-0"):
        _align(beam_options, tmp_path, to_align[:1], links_file=str(path))
    path.write_text("enfr:0\t0-0\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"links\.tsv: no links for pair 'enfr:1'"):
        _align(beam_options, tmp_path, to_align[:2], links_file=str(path))


def test_batches_and_sample_depend_only_on_seed_and_key():
    assert stable_hash(0, "a:1") == stable_hash(0, "a:1") != stable_hash(1, "a:1")
    with pytest.raises(ValueError, match="unknown symmetrisation heuristic"):
        AlignPairs(heuristic="grow")
    with pytest.raises(UnknownNameError, match="unknown aligner 'nope'; choose one of eflomal, fast_align"):
        AlignPairs(aligner="nope")


def test_fast_align_hands_its_sample_model_to_the_batches(beam_options, enfr, tools_dir, tmp_path):
    """fast_align shares a model too: the sample's run exports its tables, the batches align with them."""
    pairs, gold = enfr
    to_align = _to_align(pairs)
    collected, counters = _align(beam_options, tmp_path, to_align, aligner="fast_align", batch_size=100,
                                 priors_sample=300, lowercase=True,
                                 aligner_options={"binary": str(tools_dir), "threads": 1})
    assert set(collected) == {f"enfr:{k}" for k in range(len(pairs))}
    assert counters["align.en-fr.sample_pairs_aligned"] == counters["align.en-fr.model_pairs"] == 300
    assert counters["align.en-fr.links_from_batches"] == len(pairs) - 300
    assert counters["align.en-fr.batches_aligned"] == 2
    assert _aer(collected, gold, len(pairs)) < 0.33  # one run over all: 0.293


def test_giza_batches_and_its_length_limit_is_counted(beam_options, enfr, tools_dir, tmp_path):
    """GIZA++ (MGIZA++ here) hands no model on: every pair goes to a batch, trained on its own."""
    pairs, _ = enfr
    to_align = _to_align(pairs[:150]) + [PairToAlign("long:0", "en-fr", ("w",) * 120, ("v",) * 120)]
    collected, counters = _align(beam_options, tmp_path, to_align, aligner="giza", batch_size=100,
                                 priors_sample=50, aligner_options={"binary": str(tools_dir)})
    assert set(collected) == {f"enfr:{k}" for k in range(150)} | {"long:0"}
    assert collected["long:0"] == ()
    assert counters["align.en-fr.not_aligned.over_giza_max_length"] == 1
    assert "align.en-fr.sample_pairs_aligned" not in counters  # no sample without a model to share
    assert counters["align.en-fr.batches_aligned"] == 2 and counters["align.en-fr.pairs_aligned"] == 151
    assert sum(1 for key, links in collected.items() if links) > 140
