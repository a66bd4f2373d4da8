"""Schemas, manifest and dataset validation: a valid dataset passes, and each kind of departure from the
contract is reported precisely (shard, column, row)."""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import KINDS, DatasetError, Manifest, ShardInfo, open_dataset, validate_dataset, write_manifest
from schemas.manifest import read_manifest


def mrc_row(n=0, context="Mercury orbits the Sun. Mercury is small.", answers=None):
    answers = [{"text": "Mercury", "start": 0, "end": 7}, {"text": "Mercury", "start": 24, "end": 31}] \
        if answers is None else answers
    return {"id": f"mrc-{n}", "lang": "en", "query": "[MASK] is the smallest planet.", "context": context,
            "answers": answers, "entity": "Mercury (planet)", "entity_page_id": 19, "anchor_text": "Mercury",
            "context_title": "Sun", "context_page_id": 7, "mention_index": 3, "source_file": "dump.xml"}


def clism_row():
    source = "Anna lives in Berlin ."
    target = "Anna wohnt in Berlin ."
    return {"id": "c-0", "src_lang": "en", "tgt_lang": "de", "masked_source": "[QUE] lives in [QUE] .",
            "source": source, "target": target, "que_token": "[QUE]",
            "source_spans": [{"text": "Anna", "start": 0, "end": 4, "label": "PER"},
                             {"text": "Berlin", "start": 14, "end": 20, "label": "LOC"}],
            "answers": [{"text": "Anna", "start": 0, "end": 4}, {"text": "Berlin", "start": 14, "end": 20}],
            "source_words": [{"start": s, "end": e} for s, e in [(0, 4), (5, 10), (11, 13), (14, 20), (21, 22)]],
            "target_words": [{"start": s, "end": e} for s, e in [(0, 4), (5, 10), (11, 13), (14, 20), (21, 22)]],
            "alignment": [{"src": i, "tgt": i} for i in range(5)], "corpus": "pairs.tsv", "line": 0}


def tagged_row(tags=("B-PER", "E-PER", "O", "S-LOC")):
    return {"id": "t-0", "lang": "en", "tokens": ["Anna", "Keller", "in", "Bonn"], "tags": list(tags),
            "corpus": "x.conll", "sentence_index": 0, "source_id": None, "source_lang": None, "projection": None}


def write_dataset(directory, kind, shards, config=None, schema=None):
    directory.mkdir(parents=True, exist_ok=True)
    infos = []
    for n, rows in enumerate(shards):
        name = f"part-{n:05d}-of-{len(shards):05d}.parquet"
        table = pa.Table.from_pylist(rows, schema=schema or KINDS[kind].schema_with_metadata())
        pq.write_table(table, directory / name)
        infos.append(ShardInfo(name, len(rows)))
    write_manifest(directory, Manifest(kind=kind, schema_version=KINDS[kind].version, command=["test"],
                                       config=config or {}, code_version="test", input_files=["in"],
                                       shards=infos, dropped={"too_short": 2}, counters={"read": 5}))
    return directory


@pytest.mark.parametrize("kind, row", [("mrc", mrc_row()), ("clism", clism_row()), ("tagged", tagged_row())])
def test_valid_dataset_of_each_kind(tmp_path, kind, row):
    directory = write_dataset(tmp_path / kind, kind, [[row], [row]])
    assert validate_dataset(directory) == []
    dataset = open_dataset(directory, kind=kind)
    assert dataset.num_rows == 2
    assert list(dataset.iter_rows())[1] == row


def test_manifest_round_trip_and_counts(tmp_path):
    directory = write_dataset(tmp_path / "d", "tagged", [[tagged_row()] * 3, [tagged_row()]])
    manifest = read_manifest(directory)
    assert manifest.row_count == 4 and manifest.dropped == {"too_short": 2} and manifest.counters == {"read": 5}
    assert json.loads((directory / "_manifest.json").read_text())["row_count"] == 4


def test_wrong_column_type_and_missing_column_are_named(tmp_path):
    schema = KINDS["tagged"].schema.set(
        KINDS["tagged"].schema.get_field_index("sentence_index"), pa.field("sentence_index", pa.string()))
    schema = schema.remove(schema.get_field_index("corpus"))
    row = tagged_row()
    row["sentence_index"] = "0"
    del row["corpus"]
    directory = write_dataset(tmp_path / "d", "tagged", [[row]], schema=schema)
    problems = validate_dataset(directory)
    assert any("column 'sentence_index' is string, expected int64" in p for p in problems), problems
    assert any("missing column 'corpus'" in p for p in problems), problems
    assert all(p.startswith("part-00000-of-00001.parquet") for p in problems)
    with pytest.raises(DatasetError, match="sentence_index"):
        open_dataset(directory)


def test_shards_missing_unlisted_and_row_count_mismatch(tmp_path):
    directory = write_dataset(tmp_path / "d", "mrc", [[mrc_row()], [mrc_row(1)]])
    (directory / "part-00001-of-00002.parquet").rename(directory / "part-00009-of-00002.parquet")
    problems = validate_dataset(directory)
    assert "part-00001-of-00002.parquet: listed in _manifest.json but missing" in problems
    assert "part-00009-of-00002.parquet: present but not listed in _manifest.json" in problems

    other = write_dataset(tmp_path / "e", "mrc", [[mrc_row()]])
    manifest = read_manifest(other)
    manifest.shards[0].rows = 5
    write_manifest(other, manifest)
    assert validate_dataset(other) == ["part-00000-of-00001.parquet: 1 rows, _manifest.json says 5"]


def test_row_checks_name_shard_row_and_problem(tmp_path):
    bad_answer = mrc_row(1, answers=[{"text": "Venus", "start": 0, "end": 7}])
    out_of_range = mrc_row(2, answers=[{"text": "x", "start": 30, "end": 99}])
    directory = write_dataset(tmp_path / "d", "mrc", [[mrc_row(0), bad_answer, out_of_range]])
    problems = validate_dataset(directory)
    assert len(problems) == 2
    assert problems[0].startswith("part-00000-of-00001.parquet row 1 (id 'mrc-1'): answers[0] text 'Venus'")
    assert "outside the text" in problems[1] and "row 2" in problems[1]
    assert validate_dataset(directory, check_rows=False) == []


def test_clism_que_count_must_match_answers(tmp_path):
    row = clism_row()
    row["masked_source"] = "[QUE] lives in Berlin ."
    problems = validate_dataset(write_dataset(tmp_path / "d", "clism", [[row]]))
    assert any("1 '[QUE]' tokens, 2 answers and 2 source spans" in p for p in problems), problems


@pytest.mark.parametrize("tags, scheme, message", [
    (("B-PER", "I-PER", "O", "S-LOC"), "BIOES", "follows an unfinished PER entity"),
    (("O", "E-PER", "O", "O"), "BIOES", "continues no open PER entity"),
    (("B-PER", "I-PER", "O", "S-LOC"), "BIO", "'S-LOC' is not a BIO tag"),
])
def test_tag_sequences_are_checked_against_the_manifest_scheme(tmp_path, tags, scheme, message):
    directory = write_dataset(tmp_path / "d", "tagged", [[tagged_row(tags)]], config={"tag_scheme": scheme})
    problems = validate_dataset(directory)
    assert len(problems) == 1 and message in problems[0], problems


def test_nullable_column_where_the_kind_forbids_nulls(tmp_path):
    schema = KINDS["tagged"].schema
    schema = schema.set(schema.get_field_index("lang"), pa.field("lang", pa.string(), nullable=True))
    row = tagged_row()
    row["lang"] = None
    problems = validate_dataset(write_dataset(tmp_path / "d", "tagged", [[row]], schema=schema))
    assert problems == ["part-00000-of-00001.parquet: column 'lang' is nullable, expected non-nullable"]


def test_unknown_kind_and_bad_manifest(tmp_path):
    directory = write_dataset(tmp_path / "d", "tagged", [[tagged_row()]])
    manifest = json.loads((directory / "_manifest.json").read_text())
    manifest["kind"] = "images"
    (directory / "_manifest.json").write_text(json.dumps(manifest))
    assert validate_dataset(directory) == ["_manifest.json: unknown dataset kind 'images'; choose one of "
                                           "clism, mrc, tagged"]
    (directory / "_manifest.json").write_text("{not json")
    assert "not valid JSON (line 1" in validate_dataset(directory)[0]
    assert "no manifest" in validate_dataset(tmp_path / "empty")[0]


def test_validate_command_line(tmp_path, capsys):
    from schemas.__main__ import main

    good = write_dataset(tmp_path / "good", "tagged", [[tagged_row()]])
    bad = write_dataset(tmp_path / "bad", "tagged", [[tagged_row(("O", "I-PER", "O", "O"))]])
    assert main(["validate", str(good)]) == 0
    assert "ok (tagged v1, 1 rows in 1 shard(s), 2 input records dropped)" in capsys.readouterr().out
    assert main(["validate", str(good), str(bad)]) == 1
    assert "INVALID" in capsys.readouterr().out


def test_a_file_the_data_tools_would_read_as_a_shard_is_a_problem(tmp_path):
    directory = write_dataset(tmp_path / "t", "tagged", [[tagged_row()]])
    (directory / "_notes.txt").write_text("skipped by every tool")
    (directory / ".hidden").write_text("skipped too")
    assert validate_dataset(directory) == []
    (directory / "README.md").write_text("# read as Parquet by pandas")
    (directory / "report").mkdir()
    problems = validate_dataset(directory)
    assert len(problems) == 2 and all("rename it _" in p for p in problems), problems
    assert problems[0].startswith("README.md: not a shard") or problems[1].startswith("README.md: not a shard")
    # An older folder (manifest.json) kept its report/ and dump_faults.txt beside the shards: still valid.
    (directory / "README.md").unlink()
    (directory / "_manifest.json").rename(directory / "manifest.json")
    (directory / "dump_faults.txt").write_text("")
    assert validate_dataset(directory) == []

