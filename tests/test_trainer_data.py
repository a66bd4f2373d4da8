"""The trainer's data layer on real text: MRC shards written from XQuAD, streamed by ShardDataset (split over
ranks and workers, shuffled, resumable), mixed by weight, and turned into model inputs with tokenizers trained
on the fly."""
import unicodedata
from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader

from schemas import DatasetError
from trainer.data.mrc_features import MRCCollator, MRCFeatureConfig, MRCFeaturizer, char_span_to_tokens
from trainer.data.shards import EPOCH_FIELD, MixedDataset, ShardDataset, ShardStreamConfig, batches_per_worker
from trainer_fixtures import training_texts, unigram_tokenizer, wordpiece_tokenizer, write_mrc_dataset, xquad_rows


def _ids(rows):
    return [row["id"] for row in rows]


def _id_only(rows):
    # collate_fn for DataLoaders in these tests: keep only the ids of a batch.
    return _ids(rows)


@pytest.fixture(scope="module")
def en_rows(data_dir):
    return xquad_rows(data_dir, "en", limit=300, unanswerable_every=5)


@pytest.fixture(scope="module")
def layouts(en_rows, tmp_path_factory):
    """The same 57 rows as 3 shards of small row groups, and as 1 shard of 1 row group (fewer units of
    work than the 4 consumers of 2 ranks x 2 workers)."""
    root = tmp_path_factory.mktemp("layouts")
    rows = en_rows[:57]
    return {
        "many_row_groups": write_mrc_dataset(root / "many", [rows[:20], rows[20:45], rows[45:]], row_group_size=6),
        "one_row_group": write_mrc_dataset(root / "one", [rows]),
    }


@pytest.mark.parametrize("layout", ["many_row_groups", "one_row_group"])
def test_ranks_and_workers_read_disjoint_shares_covering_the_epoch(layouts, en_rows, layout, monkeypatch):
    seen = []
    for rank in range(2):
        # The rank comes from torchrun's environment variables, as in a real launch.
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        dataset = ShardDataset(layouts[layout], kind="mrc", config=ShardStreamConfig(seed=3, shuffle_buffer=8))
        dataset.set_epoch(1)
        loader = DataLoader(dataset, batch_size=5, num_workers=2, collate_fn=_id_only)
        rank_ids = [i for batch in loader for i in batch]
        # Balanced to a row: 57 rows over 4 consumers is 14 or 15 rows each.
        assert len(rank_ids) in (28, 29, 30)
        seen += rank_ids
    assert len(seen) == len(set(seen)) == 57
    assert set(seen) == set(_ids(en_rows[:57]))


def test_uneven_rows_can_be_dropped_so_ranks_step_together(layouts):
    config = ShardStreamConfig(drop_uneven=True, shuffle_buffer=4)
    lengths = [len(list(ShardDataset(layouts["many_row_groups"], config=config, rank=r, world_size=4)))
               for r in range(4)]
    assert lengths == [14, 14, 14, 14]


def test_shuffle_is_seeded_by_seed_and_epoch(layouts, en_rows):
    def epoch_ids(seed, epoch, shuffle=True):
        dataset = ShardDataset(layouts["many_row_groups"],
                               config=ShardStreamConfig(seed=seed, shuffle=shuffle, shuffle_buffer=10))
        dataset.set_epoch(epoch)
        return _ids(dataset)

    first = epoch_ids(seed=7, epoch=0)
    assert epoch_ids(seed=7, epoch=0) == first
    assert sorted(first) == sorted(_ids(en_rows[:57]))
    assert epoch_ids(seed=7, epoch=1) != first
    assert sorted(epoch_ids(seed=7, epoch=1)) == sorted(first)
    assert epoch_ids(seed=8, epoch=0) != first
    assert epoch_ids(seed=7, epoch=0, shuffle=False) == _ids(en_rows[:57])


def test_rows_carry_their_epoch_only_when_asked(layouts):
    tagged = ShardDataset(layouts["many_row_groups"], config=ShardStreamConfig(seed=7, epoch_field=EPOCH_FIELD))
    plain = ShardDataset(layouts["many_row_groups"], config=ShardStreamConfig(seed=7))
    for epoch in (0, 3):
        tagged.set_epoch(epoch)
        plain.set_epoch(epoch)
        rows, plain_rows = list(tagged), list(plain)
        assert {row[EPOCH_FIELD] for row in rows} == {epoch}
        assert [{k: v for k, v in row.items() if k != EPOCH_FIELD} for row in rows] == plain_rows
        assert not any(EPOCH_FIELD in row for row in plain_rows)


@pytest.mark.parametrize("consumed", [0, 1, 9, 10, 23, 56, 57])
def test_resume_in_process_yields_exactly_the_rest(layouts, consumed):
    config = ShardStreamConfig(seed=11, shuffle_buffer=10)
    original = ShardDataset(layouts["many_row_groups"], config=config)
    original.set_epoch(2)
    full = _ids(original)
    iterator = iter(original)
    head = [next(iterator)["id"] for _ in range(consumed)]
    state = original.state_dict()
    assert state == {"epoch": 2, "yielded": consumed}

    resumed = ShardDataset(layouts["many_row_groups"], config=config)
    resumed.load_state_dict(state)
    assert head + _ids(resumed) == full
    # The recorded position applies once: the next pass over the epoch is whole again.
    assert _ids(resumed) == full


@pytest.mark.parametrize("batches", [3, 13])
def test_resume_with_dataloader_workers_yields_exactly_the_rest(layouts, batches):
    # 57 rows on one rank with 2 workers: 29 + 28 rows, 8 + 7 batches of 4. After 13 batches only worker 0
    # has batches left, which checks the turn-taking a DataLoader does once a worker runs out.
    assert batches_per_worker(13, [8, 7]) == ([7, 6], 1) and batches_per_worker(15, [8, 7]) == ([8, 7], 1)
    assert batches_per_worker(3, [8, 7]) == ([2, 1], 1) and batches_per_worker(4, [8, 7]) == ([2, 2], 0)
    config = ShardStreamConfig(seed=5, shuffle_buffer=6)

    def loader(dataset):
        return DataLoader(dataset, batch_size=4, num_workers=2, collate_fn=_id_only)

    original = ShardDataset(layouts["many_row_groups"], config=config, rank=0, world_size=1)
    original.set_epoch(4)
    full = list(loader(original))
    assert len(full) == 15

    resumed = ShardDataset(layouts["many_row_groups"], config=config, rank=0, world_size=1)
    resumed.load_state_dict(original.dataloader_state(epoch=4, batches=batches, batch_size=4, num_workers=2))
    assert list(loader(resumed)) == full[batches:]


def test_schema_is_checked_on_open(tmp_path, en_rows):
    directory = write_mrc_dataset(tmp_path / "d", [en_rows[:3]])
    with pytest.raises(DatasetError, match="kind 'mrc', expected 'tagged'"):
        ShardDataset(directory, kind="tagged")


@pytest.fixture(scope="module")
def mixed_sources(data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("mix")
    en = write_mrc_dataset(root / "en", [xquad_rows(data_dir, "en", limit=40)], row_group_size=8)
    de = write_mrc_dataset(root / "de", [xquad_rows(data_dir, "de", limit=12)], row_group_size=8)
    return en, de


def _mixed(sources, seed=0, **kwargs):
    config = ShardStreamConfig(seed=1, shuffle_buffer=8)
    return MixedDataset([ShardDataset(path, config=config, **kwargs) for path in sources], [3.0, 1.0], seed=seed)


def test_mixing_by_weight_is_deterministic_and_cycles_sources(mixed_sources):
    stream = _mixed(mixed_sources)
    rows = [row for _, row in zip(range(400), stream)]
    assert [row["id"] for row in rows] == [row["id"] for _, row in zip(range(400), _mixed(mixed_sources))]
    assert [row["id"] for row in rows] != [row["id"] for _, row in zip(range(400), _mixed(mixed_sources, seed=1))]
    languages = Counter(row["lang"] for row in rows)
    assert 0.65 < languages["en"] / 400 < 0.85
    # German (12 rows) ran out several times: each pass over it is a whole epoch, in another order.
    german = [row["id"] for row in rows if row["lang"] == "de"]
    passes = [german[i:i + 12] for i in range(0, len(german) - 11, 12)]
    assert len(passes) >= 5 and all(len(set(p)) == 12 for p in passes)
    assert len({tuple(p) for p in passes}) > 1


def test_mixing_splits_consumers_and_resumes(mixed_sources):
    shares = [[row["id"] for _, row in zip(range(20), _mixed(mixed_sources, rank=r, world_size=2))]
              for r in range(2)]
    # Within a first pass (fewer rows taken than either share holds) the two ranks never meet.
    en_share = [{i for i in share if i.startswith("en")} for share in shares]
    assert not en_share[0] & en_share[1]

    original = _mixed(mixed_sources)
    iterator = iter(original)
    head = [next(iterator)["id"] for _ in range(77)]
    rest = [next(iterator)["id"] for _ in range(50)]
    resumed = _mixed(mixed_sources)
    resumed.load_state_dict(original.state_dict())
    assert original.state_dict() == {"yielded": 127}
    resumed.load_state_dict({"yielded": 77})
    assert [row["id"] for _, row in zip(range(50), resumed)] == rest
    assert len(head) == 77


# ---- MRC features ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tokenizers_(en_rows):
    texts = training_texts(en_rows)
    # Vocabularies smaller than the texts' words, so rarer words (and some answers) split into pieces.
    return {"wordpiece": wordpiece_tokenizer(texts, vocab_size=1200),
            "unigram": unigram_tokenizer(texts, vocab_size=1500)}


def _fold(text):
    # What the tokenizers' normalisers do (lower-casing, accent stripping) plus whitespace removal.
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch) and not ch.isspace())


@pytest.mark.parametrize("name, double_separator", [("wordpiece", False), ("unigram", True)])
def test_answer_token_spans_decode_to_the_answer(tokenizers_, en_rows, name, double_separator):
    tokenizer = tokenizers_[name]
    config = MRCFeatureConfig(max_length=512, max_query_length=64, double_separator=double_separator)
    featurizer = MRCFeaturizer(tokenizer, config)
    features = featurizer(en_rows)
    assert featurizer.stats.answers_truncated == 0 and featurizer.stats.made_unanswerable == 0
    exact = checked = 0
    for row, feature in zip(en_rows, features):
        ids = feature.input_ids
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
        separators = ids[feature.context_start - (2 if double_separator else 1):feature.context_start]
        assert separators == [tokenizer.sep_token_id] * len(separators)
        assert feature.context_end == len(ids) - 1
        assert feature.answerable == bool(row["answers"])
        for (start, end), answer in zip(feature.answer_spans, row["answers"]):
            checked += 1
            assert feature.context_start <= start <= end < feature.context_end
            first, last = start - feature.context_start, end - feature.context_start
            # The token span covers the answer characters and is the tightest that does.
            char_start, char_end = feature.context_offsets[first][0], feature.context_offsets[last][1]
            assert char_start <= answer["start"] and char_end >= answer["end"]
            assert feature.context_offsets[first][1] > answer["start"]
            assert feature.context_offsets[last][0] < answer["end"]
            decoded = _fold(tokenizer.decode(ids[start:end + 1]))
            assert _fold(answer["text"]) in decoded
            exact += decoded == _fold(answer["text"])
    assert checked > 200
    # WordPiece splits at punctuation, so its spans match exactly; SentencePiece-style tokens may carry a
    # trailing comma or full stop past the answer.
    assert exact / checked > (0.99 if name == "wordpiece" else 0.7)
    if name == "wordpiece":
        assert features[0].token_type_ids == [0] * features[0].context_start + [1] * (
            len(features[0].input_ids) - features[0].context_start)
    else:
        assert features[0].token_type_ids is None


def test_truncated_answers_are_counted_and_positives_become_unanswerable(tokenizers_, en_rows):
    tokenizer = tokenizers_["wordpiece"]
    featurizer = MRCFeaturizer(tokenizer, MRCFeatureConfig(max_length=96, max_query_length=16))
    features = featurizer(en_rows)
    stats = featurizer.stats
    assert stats.examples == len(en_rows) and stats.answers == sum(len(r["answers"]) for r in en_rows)
    assert stats.answers_truncated > 20
    assert stats.answers_kept + stats.answers_truncated + stats.answers_unmappable == stats.answers
    for row, feature in zip(en_rows, features):
        assert len(feature.input_ids) <= 96
        assert feature.context_start - 2 <= 16  # query tokens = context_start - [CLS] - [SEP]
        full = tokenizer(row["context"], add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        kept = feature.context_end - feature.context_start
        for answer in row["answers"]:
            first_last = char_span_to_tokens(full, answer["start"], answer["end"])
            lost = first_last[1] >= kept
            assert lost == (feature.answers_truncated > 0)
        if row["answers"] and feature.answers_truncated == len(row["answers"]):
            assert feature.made_unanswerable and not feature.answerable
    assert stats.made_unanswerable == sum(f.made_unanswerable for f in features) > 20
    assert stats.queries_truncated == sum(len(tokenizer.tokenize(r["query"])) > 16 for r in en_rows)


def test_collator_pads_dynamically_and_keeps_answers_sparse(tokenizers_, en_rows):
    tokenizer = tokenizers_["wordpiece"]
    collate = MRCCollator(tokenizer, MRCFeatureConfig(max_length=200, max_query_length=32), pad_to_multiple_of=8)
    rows = en_rows[:6]
    batch = collate(rows)
    features = MRCFeaturizer(tokenizer, MRCFeatureConfig(max_length=200, max_query_length=32))(rows)
    longest = max(len(f.input_ids) for f in features)
    width = batch["input_ids"].shape[1]
    assert width % 8 == 0 and longest <= width < longest + 8 and width <= 200
    for n, feature in enumerate(features):
        size = len(feature.input_ids)
        assert batch["input_ids"][n, :size].tolist() == feature.input_ids
        assert (batch["input_ids"][n, size:] == tokenizer.pad_token_id).all()
        assert batch["attention_mask"][n].sum() == size
    expected = [[n, s, e] for n, f in enumerate(features) for s, e in f.answer_spans]
    assert batch["answer_spans"].tolist() == expected
    assert batch["answerable"].tolist() == [f.answerable for f in features]
    assert batch["token_type_ids"].shape == batch["input_ids"].shape
    # Nothing of size L x L leaves the collator.
    assert all(t.dim() <= 2 for t in batch.values() if isinstance(t, torch.Tensor))

    unpadded = MRCCollator(tokenizer, MRCFeatureConfig(max_length=200, max_query_length=32),
                           pad_to_multiple_of=None)(rows)
    assert unpadded["input_ids"].shape[1] == longest


def test_collator_over_streamed_shards(tokenizers_, layouts):
    dataset = ShardDataset(layouts["many_row_groups"], kind="mrc", config=ShardStreamConfig(shuffle_buffer=16))
    collate = MRCCollator(tokenizers_["unigram"], MRCFeatureConfig(max_length=128, max_query_length=24,
                                                                   double_separator=True))
    batches = list(DataLoader(dataset, batch_size=8, num_workers=0, collate_fn=collate))
    assert sum(len(b["example_ids"]) for b in batches) == 57
    assert sum(int(b["answerable"].sum()) for b in batches) + sum(
        int(b["made_unanswerable"].sum()) for b in batches) == sum(
        1 for _ in ShardDataset(layouts["many_row_groups"]) if _["answers"])


def test_mixing_resumes_under_dataloader_workers(mixed_sources):
    def batches(dataset, count):
        loader = DataLoader(dataset, batch_size=5, num_workers=2, collate_fn=_id_only)
        return [batch for _, batch in zip(range(count), loader)]

    full = batches(_mixed(mixed_sources), 12)
    resumed = _mixed(mixed_sources)
    resumed.load_state_dict(resumed.dataloader_state(batches=7, batch_size=5, num_workers=2))
    assert batches(resumed, 5) == full[7:]
