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
    manifest = json.loads((mrc / "manifest.json").read_text())
    manifest["shards"][0]["rows"] += 5
    (mrc / "manifest.json").write_text(json.dumps(manifest))
    status, out = _pretrain(tmp_path, mrc)
    assert_failed_cleanly(status, capsys.readouterr().err, str(mrc), f"{FIRST}: 8 rows, manifest.json says 13")
    _assert_no_checkpoint(out)


def test_listed_shard_missing(mrc, tmp_path, capsys):
    (mrc / FIRST).unlink()
    status, out = _pretrain(tmp_path, mrc)
    assert_failed_cleanly(status, capsys.readouterr().err, str(mrc), f"{FIRST}: listed in manifest.json but missing")
    _assert_no_checkpoint(out)


def test_shard_of_another_kind(data_dir, tmp_path, capsys):
    # Tagged sentences (what import_conll and project_labels write) given to mPMR pretraining, which reads MRC.
    tagged = write_tagged_dataset(tmp_path / "tagged", data_dir / "ner" / "en-europarl.test.conll02", "en", 16)
    status, out = _pretrain(tmp_path, tagged)
    assert_failed_cleanly(status, capsys.readouterr().err, str(tagged), "kind 'tagged', expected 'mrc'")
    _assert_no_checkpoint(out)
