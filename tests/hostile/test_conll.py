"""Catalogue: labelled CoNLL files given to ``pipelines.import_conll`` (cut and damaged copies of the shared
CoNLL-2002/Europarl files). Every case stops the run with one line naming the file and the line."""
import pytest

from pipelines.cli import main_wrapper
from pipelines.import_conll.__main__ import run
from hostile.outcomes import assert_failed_cleanly, manifest_of

RUNNER = ["--runner", "FnApiRunner"]
EUROPARL = "ner/en-europarl.test.conll02"  # token<TAB>tag, BIO


def _import(path, out, *args) -> int:
    return main_wrapper(run, ["--input", str(path), "--lang", "en", "--output", str(out), *args, *RUNNER])


def _head(path, lines: int) -> bytes:
    """The first ``lines`` lines of a file, as bytes (its own encoding)."""
    with open(path, "rb") as handle:
        return b"".join(handle.readline() for _ in range(lines))


def _europarl_with(data_dir, tmp_path, line_number: int, replacement: str):
    """The first 60 lines of the Europarl English gold with line ``line_number`` (1-based) replaced."""
    lines = _head(data_dir / EUROPARL, 60).decode("utf-8").splitlines(keepends=True)
    assert lines[line_number - 1].strip(), "the line to damage must be a token line"
    lines[line_number - 1] = replacement + "\n"
    path = tmp_path / "europarl-damaged.conll"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_latin1_read_without_encoding(data_dir, tmp_path, capsys):
    path = tmp_path / "esp.testa"
    path.write_bytes(_head(data_dir / "ner/conll2002/esp.testa", 400))  # Latin-1: 'ñ', 'í' ... as one byte
    first_bad = next(n for n, line in enumerate(path.read_bytes().splitlines(), start=1)
                     if any(byte > 0x7F for byte in line))
    out = tmp_path / "out"
    assert_failed_cleanly(_import(path, out), capsys.readouterr().err, f"{path}:{first_bad}:", "not valid utf-8",
                          "latin-1", output=out)
    # the same file with its encoding named is read
    assert _import(path, tmp_path / "ok", "--encoding", "latin-1") == 0


def test_wrong_column_count(data_dir, tmp_path, capsys):
    path = _europarl_with(data_dir, tmp_path, 8, "lonely-token")
    out = tmp_path / "out"
    assert_failed_cleanly(_import(path, out), capsys.readouterr().err, f"{path}:8:",
                          "expected a token and a tag, found 'lonely-token'", output=out)


def test_tag_that_is_not_iob_or_bioes(data_dir, tmp_path, capsys):
    path = _europarl_with(data_dir, tmp_path, 7, "Parliament\tORGANIZATION")
    out = tmp_path / "out"
    assert_failed_cleanly(_import(path, out), capsys.readouterr().err, f"{path}:7:", "malformed tag 'ORGANIZATION'",
                          output=out)


@pytest.mark.parametrize("content", [b"", b"-DOCSTART- O\n\n"], ids=["empty", "docstart_only"])
def test_empty_file(content, tmp_path, capsys):
    path = tmp_path / "empty.conll"
    path.write_bytes(content)
    out = tmp_path / "out"
    assert_failed_cleanly(_import(path, out), capsys.readouterr().err, f"{path}:1:", "no sentence in the file",
                          output=out)


def test_command_line_prints_no_runner_traceback(data_dir, tmp_path):
    # In a real process Beam's runner logs the worker's traceback before the run fails; the command's own
    # one line is all a user should read (in-process tests cannot see that log: pytest holds it).
    import subprocess
    import sys
    from pathlib import Path
    path = tmp_path / "esp.testa"
    path.write_bytes(_head(data_dir / "ner/conll2002/esp.testa", 400))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "pipelines.import_conll", "--input", str(path), "--lang", "es",
                           "--output", str(out), *RUNNER], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert_failed_cleanly(done.returncode, done.stderr, f"{path}:", "not valid utf-8", output=out)


def _sentences(out) -> list[tuple[list[str], list[str]]]:
    from schemas import open_dataset
    rows = open_dataset(out).iter_rows(columns=["sentence_index", "tokens", "tags"])
    return [(list(r["tokens"]), list(r["tags"])) for r in sorted(rows, key=lambda r: r["sentence_index"])]


def _europarl_text(data_dir, lines: int = 60) -> str:
    return _head(data_dir / EUROPARL, lines).decode("utf-8")


@pytest.mark.parametrize("line_end", ["\r\n", "\r"], ids=["crlf", "cr_only"])
def test_line_endings_give_the_same_sentences(data_dir, tmp_path, line_end):
    # A CR-only file used to be one line: one sentence of one token holding the whole file.
    text = _europarl_text(data_dir, 200)
    lf, other = tmp_path / "lf.conll", tmp_path / "other.conll"
    lf.write_bytes(text.encode("utf-8"))
    other.write_bytes(text.replace("\n", line_end).encode("utf-8"))
    assert _import(lf, tmp_path / "lf") == 0 and _import(other, tmp_path / "other") == 0
    expected = _sentences(tmp_path / "lf")
    assert len(expected) > 3 and _sentences(tmp_path / "other") == expected
    assert not any("\r" in token for tokens, _ in expected for token in tokens)


def test_token_with_unicode_space_is_kept_whole_and_counted(data_dir, tmp_path):
    # Columns are split at tabs and ASCII spaces only: str.split() cut these tokens in two and said nothing.
    lines = _europarl_text(data_dir).splitlines(keepends=True)
    odd = {0: "Resump\u00a0tion", 1: "o\u3000f", 2: "t\u2028he", 3: "ses\u200bsion"}  # NBSP, ideographic, LS, ZWSP
    for index, token in odd.items():
        lines[index] = f"{token}\tO\n"
    path = tmp_path / "odd.conll"
    path.write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "out"
    assert _import(path, out) == 0
    first_tokens, first_tags = _sentences(out)[0]
    assert first_tokens[:4] == list(odd.values()) and first_tags[:4] == ["O"] * 4
    assert manifest_of(out)["counters"]["tokens_with_unicode_space"] == 4


def test_line_of_unicode_space_only(data_dir, tmp_path, capsys):
    # Not blank (only tabs and spaces are), so not a sentence break: a line with one column.
    path = _europarl_with(data_dir, tmp_path, 3, "\u3000")
    out = tmp_path / "out"
    assert_failed_cleanly(_import(path, out), capsys.readouterr().err, f"{path}:3:",
                          "expected a token and a tag, found '\\u3000'", output=out)


@pytest.mark.parametrize("suffix", ["gz", "bz2"])
def test_compressed_input_is_read(data_dir, tmp_path, suffix):
    import bz2
    import gzip
    raw = _head(data_dir / EUROPARL, 200)
    plain = tmp_path / "plain.conll"
    plain.write_bytes(raw)
    packed = tmp_path / f"packed.conll.{suffix}"
    packed.write_bytes(gzip.compress(raw) if suffix == "gz" else bz2.compress(raw))
    assert _import(plain, tmp_path / "plain") == 0 and _import(packed, tmp_path / "packed") == 0
    assert _sentences(tmp_path / "packed") == _sentences(tmp_path / "plain") != []


def test_compressed_file_cut_short(data_dir, tmp_path, capsys):
    import gzip
    data = gzip.compress((data_dir / EUROPARL).read_bytes())
    path = tmp_path / "cut.conll.gz"
    path.write_bytes(data[:len(data) // 2])
    out = tmp_path / "out"
    assert_failed_cleanly(_import(path, out), capsys.readouterr().err, f"{path}:",
                          "the compressed stream is damaged or cut short", output=out)


def test_utf16_file(data_dir, tmp_path, capsys):
    text = _europarl_text(data_dir)
    path = tmp_path / "utf16.conll"
    path.write_bytes(text.encode("utf-16"))  # with a byte-order mark, as Windows editors save "Unicode"
    out = tmp_path / "out"
    assert_failed_cleanly(_import(path, out), capsys.readouterr().err, f"{path}:1:", "UTF-16 byte-order mark",
                          "pass the encoding utf-16", output=out)
    plain = tmp_path / "plain.conll"
    plain.write_text(text, encoding="utf-8")
    assert _import(path, tmp_path / "ok", "--encoding", "utf-16") == 0 and _import(plain, tmp_path / "plain") == 0
    assert _sentences(tmp_path / "ok") == _sentences(tmp_path / "plain")


def test_utf8_byte_order_mark(data_dir, tmp_path):
    # The mark would otherwise be glued to the first token ('\ufeffResumption').
    text = _europarl_text(data_dir)
    path = tmp_path / "bom.conll"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert _import(path, tmp_path / "out") == 0
    assert _sentences(tmp_path / "out")[0][0][0] == "Resumption"


@pytest.mark.parametrize("suffix", ["gz", "bz2"])
def test_trainer_reads_compressed_conll(data_dir, tmp_path, suffix):
    # The trainer reads evaluation CoNLL files itself (no Beam): the same file compressed gives the same rows.
    import bz2
    import gzip
    from trainer.data.readers import DataSource, read_sentences
    raw = (data_dir / EUROPARL).read_bytes()
    packed = tmp_path / f"en.conll.{suffix}"
    packed.write_bytes(gzip.compress(raw) if suffix == "gz" else bz2.compress(raw))
    plain = read_sentences(DataSource("en", str(data_dir / EUROPARL)))
    rows = read_sentences(DataSource("en", str(packed)))
    assert len(rows) == len(plain) > 100
    assert [(r["tokens"], r["tags"]) for r in rows] == [(r["tokens"], r["tags"]) for r in plain]
