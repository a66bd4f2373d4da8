"""The inputs of the wiki_mrc scale bench and of its PMR-chain comparison (bench/wiki_replicas.py,
bench/pmr_chain.py), on the sample dump that ships with the package: each replicated copy must be a wiki of its
own (links and redirects resolve within it, as in the original), and the chain must run and find the anchors."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench/ is a folder of scripts, not an installed package

from bench.wiki_replicas import ID_STRIDE, Replicator, copy_title, differences, write_replicated
from pipelines.wiki.dump import DumpFault, iter_unit, list_units, read_siteinfo
from pipelines.wiki.parser_process import WikiTextParser
from pipelines.wiki.titles import NamespaceTable, is_disambiguation
from pipelines.wiki_mrc.examples import unqualified

SAMPLE = ROOT / "pipelines" / "samples" / "enwiki-sample.xml"
COPIES = 3


@pytest.fixture(scope="module")
def replicated(tmp_path_factory):
    out = tmp_path_factory.mktemp("replicas") / "x3-multistream.xml.bz2"
    path, index, written = write_replicated(str(SAMPLE), str(out), COPIES)
    pages = [p for unit in list_units(path) for p in iter_unit(unit)]
    assert not [p for p in pages if isinstance(p, DumpFault)]
    # copy 0 is the dump itself
    assert pages[:len(pages) // COPIES] == [p for unit in list_units(str(SAMPLE)) for p in iter_unit(unit)]
    table = NamespaceTable.from_siteinfo(read_siteinfo(path), "en")
    return pages, written, WikiTextParser("en", table)


def test_every_copy_reads_like_the_original(replicated):
    pages, written, parser = replicated
    per_copy = len(pages) // COPIES
    assert written == len(pages) == per_copy * COPIES and per_copy > 20
    for copy in range(1, COPIES):
        for original, page in zip(pages[:per_copy], pages[copy * per_copy:(copy + 1) * per_copy]):
            assert differences(original, page, copy, parser) == [], original.title


def test_links_and_redirects_stay_within_their_copy(replicated):
    pages, _, parser = replicated
    per_copy = len(pages) // COPIES
    titles = [{p.title for p in pages[c * per_copy:(c + 1) * per_copy]} for c in range(COPIES)]
    assert all(not (titles[a] & titles[b]) for a in range(COPIES) for b in range(a + 1, COPIES))
    resolved = []
    for copy in range(COPIES):
        links = redirects = 0
        for page in pages[copy * per_copy:(copy + 1) * per_copy]:
            if page.is_redirect:
                assert page.redirect_target in titles[copy] or page.redirect_target not in set().union(*titles)
                redirects += page.redirect_target in titles[copy]
                continue
            for anchor in parser.parse(page.text).anchors:
                others = set().union(*(titles[c] for c in range(COPIES) if c != copy))
                assert anchor.target not in others, (page.title, anchor.target)
                links += anchor.target in titles[copy]
        resolved.append((links, redirects))
    assert resolved[0][0] > 0 and resolved[0][1] > 0
    assert resolved == [resolved[0]] * COPIES  # as many links and redirects resolve in every copy


def test_ids_are_unique_and_shifted(replicated):
    pages, _, _ = replicated
    ids = [p.page_id for p in pages]
    assert len(set(ids)) == len(ids)
    per_copy = len(pages) // COPIES
    assert ids[per_copy] == ids[0] + ID_STRIDE


def test_a_copy_title_keeps_its_qualifier():
    assert copy_title("Mercury (disambiguation)", 2) == "Mercury~2 (disambiguation)"
    assert is_disambiguation(copy_title("Mercury (disambiguation)", 2))
    assert unqualified(copy_title("Tarrow River (Vale)", 4)) == "Tarrow River~4"
    assert copy_title("Tarrow River", 0) == "Tarrow River"


def test_a_dump_without_pages_is_refused():
    with pytest.raises(ValueError, match="no <page>"):
        Replicator("<mediawiki></mediawiki>", NamespaceTable.default("en"))


def test_the_pmr_chain_finds_the_sample_anchors(tmp_path):
    pytest.importorskip("wikiextractor", reason="the [dev] extra installs wikiextractor")
    from bench import pmr_chain
    shutil.copy(SAMPLE, tmp_path / "sample.xml")
    extracted = pmr_chain.run_wikiextractor(str(tmp_path / "sample.xml"), str(tmp_path / "out"))
    assert extracted["articles"] > 10
    texts = list(pmr_chain.articles_of(str(tmp_path / "out")))
    targets = set()
    for extracted_text in texts:
        text, anchors = pmr_chain.plain_text(extracted_text)
        assert "<a href" not in text
        for start, end, target in anchors:
            assert text[start:end].strip(), target
            targets.add(target)
    assert any("Tarrow" in target for target in targets)
    done = subprocess.run([sys.executable, str(Path(pmr_chain.__file__)), "--child-tokenise",
                           str(tmp_path / "out"), "en"], capture_output=True, text=True, check=True)
    assert '"words"' in done.stdout
