"""Pharaoh link I/O and gold formats."""
import pytest

from alignment import (GoldAlignment, InputError, format_links, parse_gold, parse_links, read_gold,
                       read_joint, read_links, read_parallel, sentence_lengths, write_links)


def test_parse_and_format_round_trip():
    assert parse_links("2-1 0-0 0-0 1-2") == [(0, 0), (1, 2), (2, 1)]
    assert parse_links("1-1 3-2", one_based=True) == [(0, 0), (2, 1)]
    assert parse_links("   ") == []
    assert format_links([(2, 1), (0, 0)]) == "0-0 2-1"
    assert format_links([(2, 1), (0, 0)], one_based=True) == "1-1 3-2"


def test_gold_sure_and_possible():
    g = parse_gold("1-1 2p3 3-2", one_based=True)
    assert g.sure == {(0, 0), (2, 1)}
    assert g.possible == {(0, 0), (1, 2), (2, 1)}  # P ⊇ S
    assert parse_gold("0p0", one_based=False) == GoldAlignment(frozenset(), frozenset({(0, 0)}))


@pytest.mark.parametrize("line, message", [
    ("0-1 x-2", "bad link 'x-2'"),
    ("0-1 1p2", "possible link '1p2'"),
    ("0_1", "bad link"),
])
def test_bad_links_name_file_and_line(line, message):
    with pytest.raises(InputError, match=message) as err:
        parse_links(line, path="pred.txt", lineno=7)
    assert str(err.value).startswith("pred.txt, line 7: ")


def test_zero_in_one_based_file_is_an_error():
    with pytest.raises(InputError, match="index 0 but the file is read as 1-based"):
        parse_gold("0-1", one_based=True)


def test_gold_index_past_sentence_end_names_file_and_line(tmp_path):
    gold = tmp_path / "x.gold"
    gold.write_text("1-1 2p2\n1-1 3-2\n")
    assert len(read_gold(gold, one_based=True, lengths=[(2, 2), (3, 2)])) == 2
    with pytest.raises(InputError) as err:
        read_gold(gold, one_based=True, lengths=[(2, 2), (2, 2)])
    assert err.value.path == str(gold) and err.value.lineno == 2
    assert "3-2 (1-based) is past the end" in str(err.value)
    with pytest.raises(InputError, match="has 2 lines but there are 3 sentence pairs"):
        read_gold(gold, one_based=True, lengths=[(2, 2)] * 3)


def test_real_gold_files_parse_within_sentence_lengths(data_dir):
    gold_dir = data_dir / "align_gold"
    for name, n_pairs, n_sure, n_possible_only in (("enfr", 447, 4038, 13400), ("roen", 248, None, 0)):
        pairs = read_joint(gold_dir / f"{name}.src-tgt")
        gold = read_gold(gold_dir / f"{name}.gold", one_based=True, lengths=sentence_lengths(pairs))
        assert len(pairs) == len(gold) == n_pairs
        if n_sure is not None:
            assert sum(len(g.sure) for g in gold) == n_sure
        assert sum(len(g.possible - g.sure) for g in gold) == n_possible_only
    # The data README: strip spaces around '|||'.
    assert pairs[0][0][0] != "" and all(t.strip() == t for s, t_ in pairs for t in s + t_)


def test_write_links(tmp_path):
    out = tmp_path / "o.txt"
    write_links(out, [[(1, 0), (0, 1)], []])
    assert out.read_text() == "0-1 1-0\n\n"
    assert read_links(out) == [[(0, 1), (1, 0)], []]


def test_parallel_input_errors(tmp_path):
    src, tgt = tmp_path / "a.src", tmp_path / "a.tgt"
    src.write_text("a b\nc\nd\n")
    tgt.write_text("x y\nz\n")
    with pytest.raises(InputError) as err:
        read_parallel(src, tgt)
    assert err.value.path == str(src) and err.value.lineno == 3
    tgt.write_text("x y\n\nz\n")
    with pytest.raises(InputError, match="empty target sentence") as err:
        read_parallel(src, tgt)
    assert err.value.path == str(tgt) and err.value.lineno == 2
    assert read_parallel(src, tgt, allow_empty=True)[1] == (["c"], [])
    joint = tmp_path / "j.txt"
    joint.write_text("a ||| b\na b c\n")
    with pytest.raises(InputError, match="exactly one '|||'") as err:
        read_joint(joint)
    assert err.value.lineno == 2
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xff\xfe\n")
    with pytest.raises(InputError, match="not valid UTF-8") as err:
        read_parallel(tmp_path / "bad.txt", src)
    assert err.value.lineno == 2
