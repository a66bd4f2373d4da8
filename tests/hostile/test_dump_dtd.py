"""Catalogue: MediaWiki dumps that carry a DTD (the real English sample with a DOCTYPE or an ``<!ENTITY`` put in by
hand, and a reference to the entity in a page's text). A dump must not be able to define entities: every DTD is
refused with one line naming the file and the position, by ``read_pages`` and by ``pipelines.wiki_mrc`` (exit
status 1, no manifest), and no entity's text reaches a page. One variant used to get through: a DOCTYPE between
two comments, which the root-detecting pattern matched across, so expat read the DTD and expanded the entity."""
import bz2
import gzip
import lzma
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.wiki import dump
from pipelines.wiki.dump import DumpError, read_pages
from pipelines.wiki_mrc.__main__ import main
from hostile.outcomes import assert_failed_cleanly

TABLES = "wiki/enwiki-table-markup.xml.bz2"  # 5 English articles, no <siteinfo>, no XML declaration
MARK = "ENTITY-TEXT-5c1e"  # an entity's replacement text: no page may ever hold it
REFUSED = "a DTD is not allowed in a MediaWiki dump"
DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'
INTERNAL = f'<!DOCTYPE mediawiki [<!ENTITY payload "{MARK}">]>\n'
PARAMETER = f"<!DOCTYPE mediawiki [<!ENTITY % p \"<!ENTITY payload '{MARK}'>\"> %p;]>\n"
EXTERNAL = '<!DOCTYPE mediawiki [<!ENTITY payload SYSTEM "file:///etc/hostname">]>\n'
EXTERNAL_DTD = '<!DOCTYPE mediawiki SYSTEM "file:///etc/hostname">\n'


def _hostname() -> str | None:
    try:
        return Path("/etc/hostname").read_text().strip() or None
    except OSError:
        return None


def _sample(data_dir) -> str:
    """The English sample with ``&payload;`` in its first article's text."""
    xml = bz2.decompress((data_dir / TABLES).read_bytes()).decode("utf-8")
    assert xml.startswith("<mediawiki ")
    text_start = xml.index(">", xml.index("<text ")) + 1
    return xml[:text_start] + "&payload; " + xml[text_start:]


def _comment(total: int) -> str:
    """A comment of ``total`` characters (ASCII, so as many bytes in UTF-8)."""
    return "<!--" + "x" * (total - 7) + "-->"


# Where a DTD can stand before the root: name -> (prolog before <mediawiki>, encoding, compressor).
_CHUNK = dump._CHUNK
PROLOGS = {
    "start": (INTERNAL, "utf-8", None),
    "after_xml_declaration": (DECLARATION + INTERNAL, "utf-8", None),
    "after_a_comment": ("<!-- exported by hand -->\n" + INTERNAL, "utf-8", None),
    # the variant that got through: the pattern's comment matched from the first <!-- to the last -->
    "between_two_comments": ("<!-- a -->" + INTERNAL + "<!-- b -->\n", "utf-8", None),
    "between_two_comments_after_declaration": (DECLARATION + "<!-- a -->" + INTERNAL + "<!-- b -->\n", "utf-8", None),
    "after_processing_instructions": (DECLARATION + '<?xml-stylesheet href="a.xsl"?><?php x ?>\n' + INTERNAL,
                                      "utf-8", None),
    "after_a_utf8_bom": ("\ufeff" + DECLARATION + INTERNAL, "utf-8", None),
    "utf16_le_with_bom": ("\ufeff" + INTERNAL, "utf-16-le", None),
    "utf16_be_with_bom": ("\ufeff<!-- a -->" + INTERNAL + "<!-- b -->", "utf-16-be", None),
    "utf16_le_without_bom": (INTERNAL, "utf-16-le", None),
    "utf16_be_without_bom_after_declaration": ('<?xml version="1.0" encoding="UTF-16"?>' + INTERNAL, "utf-16-be", None),
    "in_bz2": ("<!-- a -->" + INTERNAL + "<!-- b -->", "utf-8", bz2.compress),
    "in_gzip": (DECLARATION + INTERNAL, "utf-8", gzip.compress),
    "in_xz": (INTERNAL, "utf-8", lzma.compress),
    "parameter_entity": (PARAMETER, "utf-8", None),
    "external_entity": ("<!-- a -->" + EXTERNAL + "<!-- b -->", "utf-8", None),
    "external_dtd": (EXTERNAL_DTD, "utf-8", None),
    # <!DOCTYPE cut by the bound of the first 1 MiB read: the root is looked for past it
    "split_across_read_chunks": (_comment(_CHUNK - 4) + INTERNAL, "utf-8", None),
    # a prolog longer than the reader follows: the DOCTYPE is then met by expat, in or out of a synthetic root
    "after_a_longer_prolog_than_is_sniffed": (_comment(dump._PROLOG_MAX + 10) + INTERNAL, "utf-8", None),
    "after_a_longer_prolog_than_is_sniffed_after_declaration":
        (DECLARATION + _comment(dump._PROLOG_MAX + 10) + INTERNAL, "utf-8", None),
}


def _write_prolog_case(data_dir, folder: Path, name: str) -> Path:
    prolog, encoding, compress = PROLOGS[name]
    data = (prolog + _sample(data_dir)).encode(encoding)
    suffix = {None: ".xml", bz2.compress: ".xml.bz2", gzip.compress: ".xml.gz", lzma.compress: ".xml.xz"}[compress]
    path = folder / f"dtd-{name}{suffix}"
    path.write_bytes(compress(data) if compress else data)
    return path


def _read_until_refused(path: Path):
    """The pages ``read_pages`` yields before it raises, and the error."""
    pages = []
    with pytest.raises(DumpError) as refused:
        for page in read_pages(str(path)):
            pages.append(page)
    return pages, str(refused.value)


def _assert_no_entity_text(texts) -> None:
    hostname = _hostname()
    for text in texts:
        assert MARK not in text
        assert hostname is None or hostname not in text, "the external entity was read"


def _assert_refusal_line(message: str, path: Path) -> None:
    assert "\n" not in message
    assert message.startswith(f"{path}: line "), message
    assert ", byte " in message and REFUSED in message, message


def _written_texts(out: Path) -> list:
    """Every string in what a run left in ``out``: the text of every file, and every string cell of every shard."""
    texts = []
    for path in out.rglob("*") if out.exists() else ():
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            texts += [str(value) for column in table.columns for value in column.to_pylist()]
        elif path.is_file():
            texts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return texts


def _run(path: Path, out: Path, capsys, runner: str) -> tuple[int, str]:
    status = main(["--input", str(path), "--output", str(out), "--lang", "en", "--min-mentions", "1",
                   "--runner", runner])
    return status, capsys.readouterr().err


# A refusal in a worker: the in-process runner of the other hostile tests. (DirectRunner, which runs Prism here,
# ends with the same one error line, but Prism's own log records quote the worker's traceback as text.)
WORKER_RUNNER = "FnApiRunner"


@pytest.mark.parametrize("name", PROLOGS)
def test_dtd_before_the_root_is_refused(data_dir, tmp_path, name):
    path = _write_prolog_case(data_dir, tmp_path, name)
    pages, message = _read_until_refused(path)
    assert pages == []  # the DTD comes before every page
    _assert_refusal_line(message, path)
    assert "0 pages read before it" in message


@pytest.mark.parametrize("name", PROLOGS)
def test_dtd_before_the_root_fails_the_command(data_dir, tmp_path, capsys, name):
    # The launcher reads each file's <siteinfo> from its first bytes, so it meets the DTD before any work starts.
    path = _write_prolog_case(data_dir, tmp_path, name)
    out = tmp_path / "mrc"
    status, stderr = _run(path, out, capsys, "DirectRunner")
    line = assert_failed_cleanly(status, stderr, str(path), REFUSED, output=out)
    assert status == 1 and line.endswith("(DumpError)"), line
    _assert_no_entity_text(_written_texts(out) + [stderr])


def _entity_in_a_later_chunk(data_dir, folder: Path) -> Path:
    """A dump whose root has started: two articles, a comment that pushes what follows past the first 1 MiB
    read, ``<!ENTITY`` cut by the bound of that read, and a later article referencing it."""
    xml = _sample(data_dir).replace("&payload; ", "", 1)
    second_end = xml.index("</page>", xml.index("</page>") + 1) + len("</page>")
    before = xml[:second_end] + "\n"
    padding = _comment(_CHUNK - len(before.encode("utf-8")) - 3)  # "<!E" ends the first chunk
    after = xml[second_end:]
    text_start = after.index(">", after.index("<text ")) + 1
    after = after[:text_start] + "&payload; " + after[text_start:]
    data = (before + padding + f'<!ENTITY payload "{MARK}">' + after).encode("utf-8")
    assert data[_CHUNK - 3:_CHUNK + 5] == b"<!ENTITY"
    path = folder / "entity-after-the-root.xml"
    path.write_bytes(data)
    return path


@pytest.mark.slow
def test_entity_declaration_after_the_root_in_a_later_chunk(data_dir, tmp_path, capsys):
    path = _entity_in_a_later_chunk(data_dir, tmp_path)
    pages, message = _read_until_refused(path)
    # the two articles before the declaration are kept, as before any fault; nothing after it is read
    assert [p.title for p in pages] == ["Constructive vote of no confidence", "List of Prison Break characters"]
    _assert_refusal_line(message, path)
    assert "(<!ENTITY ...>)" in message and "2 pages read before it" in message
    assert f"byte {_CHUNK - 3} of the decompressed XML" in message, message
    _assert_no_entity_text(p.text for p in pages)

    # The launcher stops reading at the first article, so a worker meets the declaration: the run fails all the
    # same (a DTD is never a counted fault), with the worker's one line.
    out = tmp_path / "mrc"
    status, stderr = _run(path, out, capsys, WORKER_RUNNER)
    assert_failed_cleanly(status, stderr, str(path), REFUSED, f"byte {_CHUNK - 3}", output=out)
    _assert_no_entity_text(_written_texts(out) + [stderr])


def _multistream(data_dir, folder: Path, where: str) -> Path:
    """The sample as a multistream dump (header, pages 1-2, pages 3-5 and the footer, one bz2 stream each, and
    its index beside it), with a DOCTYPE at the start or in the middle of the last stream."""
    xml = _sample(data_dir).replace("&payload; ", "", 1)
    starts = [i for i in range(len(xml)) if xml.startswith("<page>", i)]
    assert len(starts) == 5
    header, first, last = xml[:starts[0]], xml[starts[0]:starts[2]], xml[starts[2]:]
    text_start = last.index(">", last.index("<text ", last.index("<page>", 1))) + 1
    last = last[:text_start] + "&payload; " + last[text_start:]  # in the fourth article
    if where == "start":
        last = INTERNAL + last
    else:  # between the third and fourth articles
        fourth = last.index("<page>", 1)
        last = last[:fourth] + INTERNAL + last[fourth:]
    streams = [bz2.compress(s.encode("utf-8")) for s in (header, first, last)]
    offsets = [0, len(streams[0]), len(streams[0]) + len(streams[1])]
    path = folder / f"enwiki-dtd-{where}-multistream.xml.bz2"
    path.write_bytes(b"".join(streams))
    index = "".join(f"{offsets[1 if i < 2 else 2]}:{i + 1}:Page {i + 1}\n" for i in range(5))
    (folder / f"enwiki-dtd-{where}-multistream-index.txt.bz2").write_bytes(bz2.compress(index.encode("utf-8")))
    assert len(dump.list_units(str(path))) == 3  # the index was found: the last stream is a unit of its own
    return path


@pytest.mark.slow
@pytest.mark.parametrize("where", ["start", "middle"])
def test_dtd_in_a_later_multistream_stream(data_dir, tmp_path, capsys, where):
    path = _multistream(data_dir, tmp_path, where)
    pages, message = _read_until_refused(path)
    # the pages of the streams before, and in the middle case the third article, are read before the refusal
    assert len(pages) == (2 if where == "start" else 3)
    last_stream = dump.list_units(str(path))[-1].start
    _assert_refusal_line(message.replace(f" (unit starting at byte {last_stream})", "", 1), path)
    assert message.startswith(f"{path} (unit starting at byte {last_stream}): line "), message
    _assert_no_entity_text(p.text for p in pages)

    out = tmp_path / "mrc"
    status, stderr = _run(path, out, capsys, WORKER_RUNNER)
    assert_failed_cleanly(status, stderr, str(path), REFUSED, output=out)
    _assert_no_entity_text(_written_texts(out) + [stderr])


def test_prolog_without_a_dtd_is_read(data_dir, tmp_path):
    # What the root detection must still take for a dump: the same pages whatever stands before the root.
    xml = _sample(data_dir).replace("&payload; ", "&amp;&lt;&#65;&#x42; ", 1)  # predefined and character references
    expected = [(p.title, p.text) for p in read_pages(str(_write(tmp_path / "plain.xml", xml.encode("utf-8"))))]
    assert len(expected) == 5 and expected[0][1].startswith("&<AB ")
    prologs = {
        "declaration_comments_and_processing_instructions.xml":
            (DECLARATION + "<!-- a --><?php x ?>\n<!-- b -->\n" + xml).encode("utf-8"),
        "bom_and_comments.xml": ("\ufeff<!-- a --><!-- b -->" + xml).encode("utf-8"),
        "utf16_be_without_bom_comment_first.xml": ("<!-- a -->" + xml).encode("utf-16-be"),
        "comment_across_read_chunks.xml": (_comment(_CHUNK + 100) + xml).encode("utf-8"),
    }
    for name, data in prologs.items():
        assert [(p.title, p.text) for p in read_pages(str(_write(tmp_path / name, data)))] == expected, name


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
