"""wiki_mrc, clism and project_labels on a real engine give the local runner's rows, row for row after sorting,
and the same manifest: counts and drop reasons (counted as data, not read from the runner's metrics).

Inputs are small slices of the real data: the 106-article English dump excerpt, and the first 120 sentences of
the Europarl NER test set with their German side. Each pipeline runs once on FnApiRunner per session. clism and
project_labels align with fast_align on one thread: eflomal's sampler seeds itself from the operating system,
so two eflomal runs differ even on one runner (pipelines/align/transforms.py, "Determinism")."""
import json
from pathlib import Path

import pytest

from pipelines.clism.__main__ import run as run_clism
from pipelines.project_labels.__main__ import run as run_project_labels
from pipelines.wiki_mrc.__main__ import run as run_wiki_mrc
from schemas import open_dataset, read_manifest, validate_dataset
from schemas.conll import read_conll, write_conll

pytestmark = pytest.mark.slow

SENTENCES = 120
LOCAL = ["--runner=FnApiRunner"]


def _europarl(data_dir: Path, folder: Path) -> tuple[Path, Path]:
    """The first SENTENCES English sentences (CoNLL) and their German side (one tokenised sentence a line)."""
    ner = data_dir / "ner"
    english = list(read_conll(ner / "en-europarl.test.conll02", tag_scheme=None))[:SENTENCES]
    german = list(read_conll(ner / "de-europarl.test.conll02", tag_scheme=None))[:SENTENCES]
    folder.mkdir(parents=True, exist_ok=True)
    source, target = folder / "en.conll", folder / "de.txt"
    source.write_text(write_conll([(s.tokens, s.tags) for s in english]), encoding="utf-8")
    target.write_text("".join(" ".join(s.tokens) + "\n" for s in german), encoding="utf-8")
    return source, target


def _fast_align(tools_dir) -> list[str]:
    return ["--aligner", "fast_align", "--aligner-bin", str(tools_dir), "--align-threads", "1"]


def _wiki_mrc(data_dir, tools_dir, out, flags):
    run_wiki_mrc(["--input", str(data_dir / "wiki" / "enwiki-pages-articles-shortened.xml.bz2"), "--lang", "en",
                  "--min-mentions", "3", "--num-shards", "2", "--output", str(out), *flags])
    return [out]


def _clism(data_dir, tools_dir, out, flags):
    source, target = _europarl(data_dir, out.parent / "inputs")
    run_clism(["--source-spans", str(source), "--tgt", str(target), "--src-lang", "en", "--tgt-lang", "de",
               "--pretokenized", *_fast_align(tools_dir), "--num-shards", "2", "--output", str(out), *flags])
    return [out]


def _project_labels(data_dir, tools_dir, out, flags):
    source, target = _europarl(data_dir, out.parent / "inputs")
    run_project_labels(["--source", str(source), "--src-lang", "en", "--translations", str(target),
                        "--tgt-lang", "de", "--pretokenized", *_fast_align(tools_dir), "--num-shards", "2",
                        "--output", str(out), *flags])
    return [out / "de"]


PIPELINES = {"wiki_mrc": (_wiki_mrc, "mrc"), "clism": (_clism, "clism"), "project_labels": (_project_labels, "tagged")}


def _dataset(directory: Path, kind: str):
    assert validate_dataset(directory) == []
    rows = open_dataset(directory, kind=kind).iter_rows()
    return sorted(json.dumps(row, sort_keys=True, default=str) for row in rows), read_manifest(directory)


@pytest.fixture(scope="session")
def local_datasets(data_dir, tools_dir, tmp_path_factory):
    """Each pipeline's datasets on the local runner, made once (the reference of every engine)."""
    cache = {}

    def get(name):
        if name not in cache:
            build, kind = PIPELINES[name]
            dirs = build(data_dir, tools_dir, tmp_path_factory.mktemp(f"local-{name}") / "out", LOCAL)
            cache[name] = [_dataset(d, kind) for d in dirs]
        return cache[name]
    return get


def _compare(local, engine):
    for (rows, manifest), (engine_rows, engine_manifest) in zip(local, engine, strict=True):
        assert rows, "the reference run made no rows: the comparison would prove nothing"
        assert engine_rows == rows
        assert engine_manifest.dropped == manifest.dropped
        assert engine_manifest.counters == manifest.counters
        assert engine_manifest.row_count == manifest.row_count == len(rows)


@pytest.mark.parametrize("pipeline", sorted(PIPELINES))
@pytest.mark.parametrize("engine", ["prism", "flink", "spark"])
def test_engine_gives_the_local_runner_s_rows_and_counts(engine, pipeline, request, data_dir, tools_dir, tmp_path,
                                                         local_datasets):
    flags = request.getfixturevalue(f"{engine}_flags")
    build, kind = PIPELINES[pipeline]
    dirs = build(data_dir, tools_dir, tmp_path / "out", flags)
    _compare(local_datasets(pipeline), [_dataset(d, kind) for d in dirs])
