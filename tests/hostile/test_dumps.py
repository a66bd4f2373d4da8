"""Catalogue: MediaWiki dumps given to ``pipelines.wiki_mrc`` (cut, re-encoded and corrupted copies of the shared
dumps, written at test time). A faulty file keeps the pages read before its fault, and the fault (file, line,
column, byte) is counted (``dump_faults``) and listed in the dead-letter file ``_dump_faults.txt``; ``--strict``
turns it into a failed run. Pages the parser's guard gives up on are counted by reason and logged by title."""
import bz2
import logging
from pathlib import Path

import pytest

from pipelines.wiki_mrc.__main__ import main, read_faults
from hostile.outcomes import assert_failed_cleanly, assert_no_dataset, manifest_of

RUNNER = ["--runner", "FnApiRunner"]
TABLES = "wiki/enwiki-table-markup.xml.bz2"  # 5 English articles, no <siteinfo>
BULGARIAN = "wiki/bgwiki-pages-articles-shortened-utf16.xml.bz2"  # 3 pages, UTF-16 LE with a BOM

pytestmark = pytest.mark.slow


def _tables_xml(data_dir) -> bytes:
    return bz2.decompress((data_dir / TABLES).read_bytes())


def _run(inputs, out: Path, *args) -> int:
    argv = [a for path in inputs for a in ("--input", str(path))]
    return main([*argv, "--output", str(out), "--min-mentions", "1", *args, *RUNNER])


@pytest.fixture(scope="module")
def faulty_files(data_dir, tmp_path_factory):
    """One file per kind of damage, all read by one run (each fault names its own file)."""
    folder = tmp_path_factory.mktemp("dumps")
    xml = _tables_xml(data_dir)
    compressed = (data_dir / TABLES).read_bytes()
    files = {
        # the XML ends 300 bytes into the text of the third page
        "cut_mid_page": ("cut-mid-page.xml.bz2",
                         bz2.compress(xml[:xml.index(b"<text", xml.index(b"<title>Academy Award")) + 300])),
        # the compressed bytes end in the middle of the (only) bz2 stream
        "cut_mid_bz2_stream": ("cut-mid-stream.xml.bz2", compressed[:len(compressed) // 2]),
        # two bytes that are not UTF-8 in the second page's text
        "invalid_utf8": ("invalid-utf8.xml", xml[:xml.index(b"List of Prison Break characters") + 600] + b"\xff\xfe"
                         + xml[xml.index(b"List of Prison Break characters") + 600:]),
        "empty_file": ("empty.xml", b""),
        # a real text file where a dump should be
        "not_xml": ("not-a-dump.xml", (data_dir / "parallel" / "tatoeba.deu-eng.deu").read_bytes()[:4000]),
    }
    paths = {}
    for case, (name, data) in files.items():
        paths[case] = folder / name
        paths[case].write_bytes(data)
    return paths


@pytest.fixture(scope="module")
def faulty_run(faulty_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("faulty") / "mrc"
    status = _run(faulty_files.values(), out, "--lang", "en")
    return status, out, read_faults(str(out))


def _assert_fault(faulty_files, faulty_run, case: str, *fragments: str) -> None:
    """The run went on, and its one fault line for ``case``'s file holds every fragment (reason and position)."""
    status, out, faults = faulty_run
    assert status == 0
    mine = [line for line in faults if line.startswith(f"{faulty_files[case]}:")]
    assert len(mine) == 1, faults
    for fragment in fragments:
        assert fragment in mine[0], (fragment, mine[0])


def test_cut_mid_page(faulty_files, faulty_run):
    _assert_fault(faulty_files, faulty_run, "cut_mid_page",
                  "the XML ends inside <mediawiki/page/revision/text> of page 'Academy Award for Best Production "
                  "Design': the dump is truncated; 2 pages read before it", ": line ", ", column ")


def test_cut_mid_bz2_stream(faulty_files, faulty_run):
    _assert_fault(faulty_files, faulty_run, "cut_mid_bz2_stream",
                  "near compressed byte", "the bz2 stream ends early: the file is truncated")


def test_invalid_utf8_bytes(faulty_files, faulty_run):
    _assert_fault(faulty_files, faulty_run, "invalid_utf8",
                  ": line ", "malformed XML: not well-formed (invalid token); 1 pages read before it")


def test_empty_file(faulty_files, faulty_run):
    _assert_fault(faulty_files, faulty_run, "empty_file", "line 1, column 1, byte 0", "the dump is empty")


def test_not_xml(faulty_files, faulty_run):
    _assert_fault(faulty_files, faulty_run, "not_xml", "line 1, column 1, byte 0", "not a MediaWiki XML dump")


def test_faults_are_counted_and_the_pages_before_them_kept(faulty_run):
    status, out, faults = faulty_run
    manifest = manifest_of(out)
    assert manifest["counters"]["dump_faults"] == len(faults) == 5
    # 2 pages before the cut, 1 before the bad bytes, none from the other three files
    assert manifest["counters"]["pages_read"] == 3


def test_strict_fails_without_a_dataset(faulty_files, tmp_path, capsys):
    out = tmp_path / "strict"
    status = _run([faulty_files["cut_mid_page"]], out, "--lang", "en", "--strict")
    assert_failed_cleanly(status, capsys.readouterr().err, str(faulty_files["cut_mid_page"]), "line ",
                          "the dump is truncated", output=out)


def test_utf16_with_and_without_bom(data_dir, tmp_path, capsys):
    # The Bulgarian sample (UTF-16 LE with a BOM) re-encoded: LE and BE, each with and without the BOM.
    text = bz2.decompress((data_dir / BULGARIAN).read_bytes()).decode("utf-16")
    text = text.lstrip("\ufeff")
    inputs = []
    for codec in ("utf-16-le", "utf-16-be"):
        for bom in (True, False):
            path = tmp_path / f"bg-{codec}{'-bom' if bom else ''}.xml"
            path.write_bytes((("\ufeff" if bom else "") + text).encode(codec))
            inputs.append(path)
    out = tmp_path / "mrc"
    assert _run(inputs, out, "--lang", "bg", "--tokenizer-lang", "ru") == 0
    assert "Traceback" not in capsys.readouterr().err
    counters = manifest_of(out)["counters"]
    assert counters["pages_read"] == 4 * 3 and counters.get("dump_faults", 0) == 0
    assert counters["articles_kept"] == 4 and read_faults(str(out)) == []


@pytest.fixture(scope="module")
def guarded_run(data_dir, tmp_path_factory):
    """The table dump with two pages' wikitext replaced: one that mwparserfromhell needs about a minute for
    (unclosed templates: its backtracking is super-linear), one whose parse needs ~170 MB (1.5M characters of
    entities: a node each), above the ceiling this run sets."""
    xml = _tables_xml(data_dir).decode("utf-8")
    hang, balloon = "Economy of Estonia", "List of Prison Break characters"

    def replace_text(document: str, title: str, wikitext: str) -> str:
        page = document.index(f"<title>{title}</title>")
        start = document.index(">", document.index("<text", page)) + 1
        return document[:start] + wikitext + document[document.index("</text>", start):]

    xml = replace_text(xml, hang, "{{a|" * 16000)
    xml = replace_text(xml, balloon, "&amp;amp;" * 300_000)
    folder = tmp_path_factory.mktemp("guard")
    path = folder / "enwiki-guarded.xml"
    path.write_text(xml, encoding="utf-8")
    out = folder / "mrc"
    # The local runner's workers are threads of this process: their warnings reach this logger.
    warnings = _Lines()
    logger = logging.getLogger("pipelines.wiki_mrc.pipeline")
    logger.addHandler(warnings)
    try:
        status = _run([path], out, "--lang", "en", "--parse-timeout", "5", "--parse-memory-mb", "120")
    finally:
        logger.removeHandler(warnings)
    return status, path, out, hang, balloon, warnings.lines


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def _dropped_line(warnings, path, title, reason) -> None:
    mine = [line for line in warnings if repr(title) in line]
    assert len(mine) == 1, warnings
    assert mine[0].startswith(f"{path}: page {title!r} (id ") and mine[0].endswith(f"not converted ({reason})")


def test_page_whose_markup_hangs_the_parser(guarded_run):
    status, path, out, hang, _, warnings = guarded_run
    assert status == 0
    manifest = manifest_of(out)
    assert manifest["dropped"]["page_parse_timeout"] == 1
    assert manifest["counters"]["articles_read"] == 5
    _dropped_line(warnings, path, hang, "timeout")


def test_page_whose_parse_balloons_memory(guarded_run):
    status, path, out, _, balloon, warnings = guarded_run
    assert status == 0
    manifest = manifest_of(out)
    assert manifest["dropped"]["page_parse_memory_limit"] == 1
    assert manifest["config"]["parse_memory_mb"] == 120
    # the three untouched articles fit under the same ceiling, in the fresh child started after the balloon
    assert manifest["counters"]["articles_kept"] == 3
    _dropped_line(warnings, path, balloon, "memory_limit")


def test_no_dataset_when_nothing_was_written(tmp_path, capsys):
    # The launcher checks --input before any work: a glob matching nothing fails with no output folder at all.
    out = tmp_path / "mrc"
    status = _run([tmp_path / "nothing-*.xml.bz2"], out, "--lang", "en")
    assert_failed_cleanly(status, capsys.readouterr().err, "nothing-*.xml.bz2", output=out)
    assert_no_dataset(out)
