"""A dataset folder opens as one in the tools people read data folders with - pandas, pyarrow, DuckDB, Polars,
Hugging Face ``datasets`` and Spark (with the machine's Java) - for a dataset of each kind made by its real
pipeline, with its report and (wiki_mrc) its empty dump-faults file beside the shards; older folders
(``manifest.json``, ``report/``) still open through ``schemas.open_dataset``.

Polars reads every file under a folder it is given (``_`` and ``.`` names included, and fails on one that is
not Parquet), so it is given the shards' glob, ``DIR/*.parquet``, as docs/data_formats.md says."""
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.clism.__main__ import main as clism
from pipelines.cli import main_wrapper
from pipelines.import_conll.__main__ import run as import_conll
from pipelines.report.registry import write_report
from pipelines.wiki_mrc.__main__ import main as wiki_mrc
from schemas import get_kind, open_dataset, read_manifest, validate_dataset
from schemas.layout import CARD, HF_YAML, LEGACY_MANIFEST, LEGACY_REPORT_DIR, MANIFEST, REPORT_DIR

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "pipelines" / "samples"
RUNNER = ["--runner", "FnApiRunner"]
KINDS = ["tagged", "mrc", "clism"]


@pytest.fixture(scope="module")
def datasets_by_kind(tmp_path_factory) -> dict[str, Path]:
    """One folder per kind, as the demo makes them: pipeline, then report."""
    root = tmp_path_factory.mktemp("tools")
    runs = {
        "tagged": lambda out: main_wrapper(import_conll, [
            "--input", str(SAMPLES / "en-de-sample.en.conll"), "--lang", "en", "--output", out, "--num-shards", "2",
            *RUNNER]),
        "mrc": lambda out: wiki_mrc([
            "--input", str(SAMPLES / "enwiki-sample.xml"), "--lang", "en", "--min-mentions", "5", "--output", out,
            "--num-shards", "2", *RUNNER]),
        "clism": lambda out: clism([
            "--source-spans", str(SAMPLES / "en-de-sample.en.conll"), "--src-lang", "en",
            "--tgt", str(SAMPLES / "en-de-sample.de.txt"), "--tgt-lang", "de", "--output", out, "--num-shards", "1",
            *RUNNER]),
    }
    folders = {}
    for kind, run in runs.items():
        out = root / kind
        assert run(str(out)) == 0
        write_report(str(out))
        folders[kind] = out
    return folders


def _ids(folder: Path) -> list[str]:
    return sorted(open_dataset(folder).to_arrow(columns=["id"]).column("id").to_pylist())


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession
    session = (SparkSession.builder.master("local[1]").appName("polyspan-tests")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "1").getOrCreate())
    yield session
    session.stop()


def test_the_folder_holds_shards_and_names_the_tools_skip(datasets_by_kind):
    mrc = datasets_by_kind["mrc"]
    names = sorted(p.name for p in mrc.iterdir())
    assert [n for n in names if not n.startswith(("_", "."))] == ["part-00000-of-00002.parquet",
                                                                   "part-00001-of-00002.parquet"]
    assert {MANIFEST, CARD, HF_YAML, REPORT_DIR, "_dump_faults.txt"} <= set(names)
    assert (mrc / "_dump_faults.txt").stat().st_size == 0  # the file pyarrow used to fail on


@pytest.mark.parametrize("kind", KINDS)
def test_pandas(datasets_by_kind, kind):
    import pandas as pd
    frame = pd.read_parquet(datasets_by_kind[kind])
    assert sorted(frame["id"]) == _ids(datasets_by_kind[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_pyarrow_dataset(datasets_by_kind, kind):
    import pyarrow.dataset as ds
    table = ds.dataset(datasets_by_kind[kind], format="parquet").to_table()
    assert sorted(table.column("id").to_pylist()) == _ids(datasets_by_kind[kind])
    assert table.schema.remove_metadata().equals(get_kind(kind).schema)


@pytest.mark.parametrize("kind", KINDS)
def test_duckdb(datasets_by_kind, kind):
    import duckdb
    folder = datasets_by_kind[kind]
    ids = [row[0] for row in duckdb.sql(f"SELECT id FROM read_parquet('{folder}') ORDER BY id").fetchall()]
    assert ids == _ids(folder)
    glob = duckdb.sql(f"SELECT count(*) FROM '{folder}/*.parquet'").fetchall()[0][0]
    assert glob == read_manifest(folder).row_count


@pytest.mark.parametrize("kind", KINDS)
def test_polars(datasets_by_kind, kind):
    import polars as pl
    frame = pl.read_parquet(f"{datasets_by_kind[kind]}/*.parquet")
    assert sorted(frame["id"].to_list()) == _ids(datasets_by_kind[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_hugging_face_datasets(datasets_by_kind, kind, tmp_path):
    import datasets
    folder = datasets_by_kind[kind]
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf"))
    assert list(loaded) == ["train"]
    train = loaded["train"]
    assert sorted(train["id"]) == _ids(folder)
    # The card's features (written by hand from the kind's schema) are the ones datasets derives from Arrow.
    assert train.features == datasets.Features.from_arrow_schema(get_kind(kind).schema)
    card = (folder / CARD).read_text(encoding="utf-8")
    assert card.startswith("---\nconfigs:") and (folder / HF_YAML).read_text() in card
    assert f"{read_manifest(folder).row_count} rows" in card


@pytest.mark.parametrize("kind", KINDS)
def test_spark(datasets_by_kind, kind, spark):
    folder = datasets_by_kind[kind]
    ids = sorted(row["id"] for row in spark.read.parquet(str(folder)).select("id").collect())
    assert ids == _ids(folder)


@pytest.mark.parametrize("kind", KINDS)
def test_open_dataset_to_arrow_and_pandas(datasets_by_kind, kind):
    dataset = open_dataset(datasets_by_kind[kind], kind=kind)
    table = dataset.to_arrow()
    assert isinstance(table, pa.Table) and table.num_rows == dataset.num_rows
    assert table.schema.equals(get_kind(kind).schema)
    assert list(dataset.to_pandas()["id"]) == table.column("id").to_pylist()


def test_an_older_folder_still_opens(datasets_by_kind, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(datasets_by_kind["tagged"], old)
    manifest = json.loads((old / MANIFEST).read_text())
    del manifest["run_id"]  # what older manifests lacked
    for shard in manifest["shards"]:
        del shard["bytes"]
    (old / LEGACY_MANIFEST).write_text(json.dumps(manifest))
    (old / MANIFEST).unlink()
    (old / REPORT_DIR).rename(old / LEGACY_REPORT_DIR)
    for name in (CARD, HF_YAML):
        (old / name).unlink()
    assert validate_dataset(old) == []
    assert open_dataset(old, kind="tagged").to_arrow().num_rows == read_manifest(old).row_count
    write_report(str(old))  # the report of an older folder goes beside its shards as well
    assert (old / REPORT_DIR / "report.md").is_file()
