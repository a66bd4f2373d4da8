"""Catalogue: labelled CoNLL files given to ``pipelines.import_conll`` (cut and damaged copies of the shared
CoNLL-2002/Europarl files). Every case stops the run with one line naming the file and the line."""
import pytest

from pipelines.cli import main_wrapper
from pipelines.import_conll import run
from hostile.outcomes import assert_failed_cleanly

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
