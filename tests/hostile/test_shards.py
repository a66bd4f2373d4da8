"""Catalogue: dataset directories given to ``trainer.pretrain`` (MRC shards built from XQuAD English, then
damaged). The trainer opens every dataset before it builds anything: each case stops it with one line naming
the dataset, the shard file and what is wrong, and no checkpoint is written."""
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finetune_fixtures import write_tagged_dataset
from hostile.outcomes import assert_failed_cleanly
from trainer.pretrain import main as pretrain_main
from trainer_fixtures import write_mrc_dataset, xquad_rows

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo_tiny_wae.yaml"
FIRST = "part-00000-of-00002.parquet"


@pytest.fixture
def mrc(data_dir, tmp_path):
    rows = xquad_rows(data_dir, "en", limit=16, unanswerable_every=4)
    return write_mrc_dataset(tmp_path / "mrc", [rows[:8], rows[8:]])


def _pretrain(tmp_path, dataset) -> tuple[int, Path]:
    out = tmp_path / "run"
    status = pretrain_main(["--config", str(DEMO), f"output_dir={out}", f"data.train=[{dataset}]", "data.eval=[]",
                            "train.total_steps=2", "train.warmup_steps=0"])
    return status, out


def _assert_no_checkpoint(out: Path) -> None:
    assert not list(out.glob("**/step-*")), sorted(out.glob("**/*"))


def test_column_of_the_wrong_type(mrc, tmp_path, capsys):
    table = pq.read_table(mrc / FIRST)
    at = table.schema.get_field_index("mention_index")
    table = table.set_column(at, "mention_index", pa.array([str(v) for v in table["mention_index"].to_pylist()]))
    pq.write_table(table, mrc / FIRST)
    status, out = _pretrain(tmp_path, mrc)
    assert_failed_cleanly(status, capsys.readouterr().err, str(mrc), FIRST, "mention_index")
    _assert_no_checkpoint(out)


def test_manifest_row_count_disagrees(mrc, tmp_path, capsys):
    manifest = json.loads((mrc / "_manifest.json").read_text())
    manifest["shards"][0]["rows"] += 5
    (mrc / "_manifest.json").write_text(json.dumps(manifest))
    status, out = _pretrain(tmp_path, mrc)
    assert_failed_cleanly(status, capsys.readouterr().err, str(mrc), f"{FIRST}: 8 rows, _manifest.json says 13")
    _assert_no_checkpoint(out)


def test_listed_shard_missing(mrc, tmp_path, capsys):
    (mrc / FIRST).unlink()
    status, out = _pretrain(tmp_path, mrc)
    assert_failed_cleanly(status, capsys.readouterr().err, str(mrc), f"{FIRST}: listed in _manifest.json but missing")
    _assert_no_checkpoint(out)


def test_shard_of_another_kind(data_dir, tmp_path, capsys):
    # Tagged sentences (what import_conll and project_labels write) given to mPMR pretraining, which reads MRC.
    tagged = write_tagged_dataset(tmp_path / "tagged", data_dir / "ner" / "en-europarl.test.conll02", "en", 16)
    status, out = _pretrain(tmp_path, tagged)
    assert_failed_cleanly(status, capsys.readouterr().err, str(tagged), "kind 'tagged', expected 'mrc'")
    _assert_no_checkpoint(out)


def test_shard_that_is_not_parquet(mrc, tmp_path, capsys):
    # pyarrow says "Parquet magic bytes not found in footer" and names no file.
    (mrc / FIRST).write_bytes(b"id,query,context\n1,who,nobody\n" * 20)
    status, out = _pretrain(tmp_path, mrc)
    assert_failed_cleanly(status, capsys.readouterr().err, str(mrc), f"{FIRST}: not a readable Parquet file")
    _assert_no_checkpoint(out)


def test_shard_cut_short(mrc, tmp_path, capsys):
    data = (mrc / FIRST).read_bytes()
    (mrc / FIRST).write_bytes(data[:len(data) // 2])  # the footer is gone
    status, out = _pretrain(tmp_path, mrc)
    assert_failed_cleanly(status, capsys.readouterr().err, str(mrc), f"{FIRST}: not a readable Parquet file")
    _assert_no_checkpoint(out)


def test_shard_with_a_damaged_page(mrc, tmp_path, capsys):
    # Footer and schema intact, so open_dataset accepts the shard; the first column's pages are overwritten,
    # and the error comes when they are read.
    data = bytearray((mrc / FIRST).read_bytes())
    start = 4  # after the leading magic bytes, the first column chunk's pages begin
    end = pq.ParquetFile(mrc / FIRST).metadata.row_group(0).column(0).total_compressed_size + start
    data[start:end] = b"\xff" * (end - start)
    (mrc / FIRST).write_bytes(bytes(data))
    status, out = _pretrain(tmp_path, mrc)
    assert_failed_cleanly(status, capsys.readouterr().err, str(mrc), f"{FIRST}: not a readable Parquet file")
    _assert_no_checkpoint(out)


def test_manifest_that_is_not_utf8(mrc, tmp_path, capsys):
    path = mrc / "_manifest.json"
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))
    status, out = _pretrain(tmp_path, mrc)
    assert_failed_cleanly(status, capsys.readouterr().err, str(path), "is not UTF-8")
    _assert_no_checkpoint(out)
