"""pipelines.wiki.dump on the real dumps in ../shared/data/wiki, on the embedded sample, and on broken copies."""
import bz2
import gzip
import lzma
import pickle
from pathlib import Path

import pytest

from pipelines.wiki import dump as wiki_dump
from pipelines.wiki.dump import (DumpError, DumpFault, DumpUnit, Page, find_index, iter_unit, list_units,
                                 read_index_offsets, read_pages, read_siteinfo)
from wiki_fixtures import write_multistream

SAMPLE = Path(__file__).resolve().parent.parent / "pipelines" / "samples" / "enwiki-sample.xml"


def _split(records):
    pages = [r for r in records if isinstance(r, Page)]
    faults = [r for r in records if isinstance(r, DumpFault)]
    assert len(pages) + len(faults) == len(records)
    return pages, faults


@pytest.fixture(scope="module")
def wiki(data_dir):
    return data_dir / "wiki"


@pytest.fixture(scope="module")
def en_raw(wiki):
    return bz2.decompress((wiki / "enwiki-pages-articles-shortened.xml.bz2").read_bytes())


@pytest.fixture(scope="module")
def en_pages(wiki):
    return list(read_pages(str(wiki / "enwiki-pages-articles-shortened.xml.bz2")))


# --- real dumps ------------------------------------------------------------------------------------------------

def test_english_dump_counts_and_fields(wiki, en_pages):
    assert len(en_pages) == 206
    assert sum(p.namespace == 0 for p in en_pages) == 205
    assert sum(p.is_redirect for p in en_pages) == 100
    assert [p.title for p in en_pages if p.namespace != 0] == ["Wikipedia:Adding Wikipedia articles to Nupedia"]
    first = en_pages[0]
    assert (first.page_id, first.title, first.namespace) == (10, "AccessibleComputing", 0)
    assert first.redirect_target == "Computer accessibility"
    assert first.revision_id == 631144794
    assert first.text.startswith("#REDIRECT [[Computer accessibility]]")
    articles = [p for p in en_pages if p.namespace == 0 and not p.is_redirect]
    assert all(p.redirect_target is None and len(p.text) > 100 for p in articles)
    # entities are decoded (&quot; &lt; &amp; in the XML), and ids are unique
    assert any("<ref" in p.text for p in articles)
    assert len({p.page_id for p in en_pages}) == 206


def test_english_siteinfo(wiki):
    info = read_siteinfo(str(wiki / "enwiki-pages-articles-shortened.xml.bz2"))
    assert info.lang == "en" and info.dbname == "enwiki" and info.case == "first-letter"
    names = info.namespace_names()
    assert names[14] == "Category" and names[6] == "File" and names[0] == ""
    assert len(info.namespaces) == 35


def test_table_markup_dump_has_no_siteinfo(wiki):
    path = str(wiki / "enwiki-table-markup.xml.bz2")
    assert read_siteinfo(path) is None
    pages, faults = _split(list(iter_unit(path)))
    assert not faults
    assert len(pages) == 5 and all(p.namespace == 0 for p in pages)
    assert pages[0].title == "Constructive vote of no confidence"
    assert sum("{|" in p.text for p in pages) == 5


def test_bulgarian_utf16_dump(wiki, monkeypatch):
    path = str(wiki / "bgwiki-pages-articles-shortened-utf16.xml.bz2")
    pages, faults = _split(list(iter_unit(path)))
    assert not faults
    assert [p.namespace for p in pages] == [0, 4, 4]
    assert pages[0].title == "Григориански календар"
    assert "календар" in pages[0].text
    info = read_siteinfo(path)
    assert info.lang == "bg" and info.namespace_names()[14] == "Категория"
    # Odd chunk sizes split UTF-16 code units between reads: the result must not change.
    monkeypatch.setattr(wiki_dump, "_CHUNK", 4097)
    again, faults = _split(list(iter_unit(path)))
    assert not faults and again == pages


def test_vietnamese_dump(wiki):
    path = str(wiki / "viwiki-20230501-first-pages.xml.bz2")
    pages = list(read_pages(path))
    assert len(pages) == 970
    assert sum(p.namespace == 0 for p in pages) == 360
    assert pages[0].title == "Alexandre De Rhodes" and pages[0].redirect_target == "Alexandre de Rhodes"
    info = read_siteinfo(path)
    assert info.lang == "vi" and info.namespace_names()[14] == "Thể loại"


def test_compression_formats_agree(tmp_path, en_raw, en_pages):
    (tmp_path / "a.xml").write_bytes(en_raw)
    (tmp_path / "a.xml.xz").write_bytes(lzma.compress(en_raw, preset=0))
    (tmp_path / "a.xml.gz").write_bytes(gzip.compress(en_raw, compresslevel=1))
    for name in ("a.xml", "a.xml.xz", "a.xml.gz"):
        assert list(read_pages(str(tmp_path / name))) == en_pages, name


# --- multistream -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vi_multistream(wiki, tmp_path_factory):
    out = tmp_path_factory.mktemp("ms") / "viwiki-20230501-pages-articles-multistream.xml.bz2"
    return write_multistream(str(wiki / "viwiki-20230501-first-pages.xml.bz2"), str(out), pages_per_stream=100)


def test_multistream_units_cover_the_file(wiki, vi_multistream):
    path, index = vi_multistream
    assert find_index(path) == index
    offsets = read_index_offsets(index)
    assert len(offsets) == 10  # 970 pages, 100 per stream
    units = list_units(path)
    assert len(units) == 11  # the siteinfo stream + 10 page streams
    assert units[0].start == 0 and units[0].end == offsets[0]
    assert [u.start for u in units[1:]] == offsets
    assert all(a.end == b.start for a, b in zip(units, units[1:]))
    assert units[-1].end == Path(path).stat().st_size
    assert all(u.multistream for u in units)
    # unit 0 holds siteinfo only; every other unit is read on its own (in any order) and the union is the dump
    assert list(iter_unit(units[0])) == []
    by_unit = {u.stream_index: list(iter_unit(u)) for u in reversed(units)}
    assert all(not isinstance(r, DumpFault) for rs in by_unit.values() for r in rs)
    assert [len(by_unit[i]) for i in range(1, 11)] == [100] * 9 + [70]
    joined = [p for i in range(11) for p in by_unit[i]]
    whole = list(read_pages(str(wiki / "viwiki-20230501-first-pages.xml.bz2")))
    assert joined == whole
    # the multistream file is also a valid whole-file dump
    assert list(iter_unit(DumpUnit(path))) == whole
    assert read_siteinfo(path).lang == "vi"


def test_multistream_units_merge_and_pickle(vi_multistream):
    path, _ = vi_multistream
    merged = list_units(path, target_unit_bytes=1_000_000)
    assert 1 < len(merged) < 11
    assert sum(len(list(iter_unit(u))) for u in merged) == 970
    assert pickle.loads(pickle.dumps(merged)) == merged
    assert list_units(path, use_index=False) == [DumpUnit(path)]


def test_glob_skips_index_files(vi_multistream, tmp_path):
    path, _ = vi_multistream
    units = list_units(str(Path(path).parent / "*.bz2"))
    assert {u.path for u in units} == {path}


def test_multistream_index_mismatch_is_a_fault(vi_multistream):
    path, _ = vi_multistream
    unit = list_units(path)[3]
    shifted = DumpUnit(path, unit.start + 7, unit.end, multistream=True, stream_index=3)
    pages, faults = _split(list(iter_unit(shifted)))
    assert pages == [] and len(faults) == 1
    assert "index" in faults[0].message and faults[0].unit_start == unit.start + 7


# --- broken dumps ----------------------------------------------------------------------------------------------

def _complete_pages_before(raw: bytes, offset: int) -> int:
    return raw[:offset].count(b"</page>")


def test_cut_mid_page_keeps_earlier_pages(tmp_path, en_raw, en_pages):
    cut_at = en_raw.index(b"<title>Assistive technology</title>") + 2000
    cut = en_raw[:cut_at]
    for name, data in (("cut.xml", cut), ("cut.xml.bz2", bz2.compress(cut))):
        path = tmp_path / name
        path.write_bytes(data)
        pages, faults = _split(list(iter_unit(str(path))))
        assert pages == en_pages[:_complete_pages_before(en_raw, cut_at)]
        assert len(faults) == 1
        fault = faults[0]
        assert fault.path == str(path)
        assert "truncated" in fault.message and "Assistive technology" in fault.message
        assert fault.line == cut.count(b"\n") + 1
        assert fault.byte_offset == len(cut)
        assert fault.pages_before == len(pages) and fault.last_title == pages[-1].title
        assert "line" in fault.describe() and str(path) in fault.describe()


def test_truncated_bz2_stream(tmp_path, en_raw):
    data = bz2.compress(en_raw)
    path = tmp_path / "short.xml.bz2"
    path.write_bytes(data[: len(data) // 2])
    pages, faults = _split(list(iter_unit(str(path))))
    assert 50 < len(pages) < 206
    assert len(faults) == 1 and "truncated" in faults[0].message
    assert faults[0].compressed_offset == len(data) // 2


def test_invalid_bytes_give_position(tmp_path, en_raw, en_pages):
    at = en_raw.index(b"<title>Apollo</title>") + 500
    broken = en_raw[:at] + b"\xff\xfe\x80" + en_raw[at:]
    path = tmp_path / "bad.xml.bz2"
    path.write_bytes(bz2.compress(broken))
    pages, faults = _split(list(iter_unit(str(path))))
    assert pages == en_pages[:_complete_pages_before(en_raw, at)]
    fault = faults[0]
    assert "malformed XML" in fault.message
    assert fault.byte_offset == at
    assert fault.line == en_raw[:at].count(b"\n") + 1
    assert fault.column == at - en_raw.rfind(b"\n", 0, at)
    with pytest.raises(DumpError) as err:
        list(read_pages(str(path)))
    assert err.value.fault == fault
    assert len(list(read_pages(str(path), on_fault="skip"))) == len(pages)


def test_corrupt_compressed_bytes(tmp_path, en_raw):
    data = bytearray(bz2.compress(en_raw))
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)
    path = tmp_path / "corrupt.xml.bz2"
    path.write_bytes(bytes(data))
    pages, faults = _split(list(iter_unit(str(path))))
    assert len(pages) < 206 and len(faults) == 1
    assert "bz2" in faults[0].message and faults[0].compressed_offset is not None


def test_broken_utf16_dump(wiki, tmp_path):
    raw = bz2.decompress((wiki / "bgwiki-pages-articles-shortened-utf16.xml.bz2").read_bytes())
    end_of_first = raw.index("</page>".encode("utf-16-le")) + len("</page>".encode("utf-16-le"))
    cut = raw[: end_of_first + 4000]
    path = tmp_path / "bg-cut.xml"
    path.write_bytes(cut)
    pages, faults = _split(list(iter_unit(str(path))))
    assert [p.title for p in pages] == ["Григориански календар"]
    assert len(faults) == 1 and "truncated" in faults[0].message and faults[0].line > 1


def test_garbage_after_pages(tmp_path, en_raw):
    at = en_raw.index(b"  <page>", 100_000)
    path = tmp_path / "garbage.xml"
    path.write_bytes(en_raw[:at] + b"<page><title>x</oops>" + en_raw[at:])
    pages, faults = _split(list(iter_unit(str(path))))
    assert len(pages) == _complete_pages_before(en_raw, at)
    assert "mismatched tag" in faults[0].message and faults[0].line == en_raw[:at].count(b"\n") + 1


def test_empty_file(tmp_path):
    path = tmp_path / "empty.xml"
    path.write_bytes(b"")
    pages, faults = _split(list(iter_unit(str(path))))
    assert pages == [] and "empty" in faults[0].message


def test_missing_file_raises():
    with pytest.raises(FileNotFoundError):
        list_units("/nonexistent/dir/*-pages-articles.xml.bz2")


# --- embedded sample -------------------------------------------------------------------------------------------

def test_sample_dump():
    assert SAMPLE.stat().st_size < 60_000
    pages = list(read_pages(str(SAMPLE)))
    assert len(pages) == 24
    redirects = {p.title: p.redirect_target for p in pages if p.is_redirect}
    assert redirects["River Tarrow"] == "Tarrow" and redirects["Tarrow"] == "Tarrow River"  # a chain
    assert all(p.namespace == 0 for p in pages)
    info = read_siteinfo(str(SAMPLE))
    assert info.lang == "en" and info.namespace_names()[6] == "File"
