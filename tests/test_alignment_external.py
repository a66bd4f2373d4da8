"""Finding and running the external aligner programs: the real builds under $POLYSPAN_TOOLS (../shared/tools)."""
import os
import shutil
import subprocess

import pytest

from alignment import AlignerFailedError, BinaryNotFoundError, FastAlignAligner, GizaAligner, make_aligner
from alignment.external import BIN_ENV, find_binary, run_command, tool_environment

PAIRS = [(["the", "house"], ["la", "maison"]), (["a", "small", "house"], ["une", "petite", "maison"])]


def test_found_by_directory_file_environment_and_path(tools_dir, bare_environment, monkeypatch):
    exe = str(tools_dir / "fast_align")
    assert find_binary(["fast_align"], str(tools_dir), "t", "") == exe
    assert find_binary(["fast_align"], exe, "t", "") == exe
    # A file naming another tool of the folder: its companions are looked for next to it.
    assert find_binary(["snt2cooc"], str(tools_dir / "mgiza"), "t", "") == str(tools_dir / "snt2cooc")
    with pytest.raises(BinaryNotFoundError, match="no 'fast_align' executable found in .*PATH"):
        find_binary(["fast_align"], None, "t", "")
    monkeypatch.setenv(BIN_ENV, str(tools_dir))
    assert find_binary(["fast_align"], None, "t", "") == exe
    monkeypatch.delenv(BIN_ENV)
    monkeypatch.setenv("PATH", str(tools_dir))
    assert find_binary(["fast_align"], None, "t", "") == exe
    # And an aligner built with no option at all runs the program it finds there.
    assert make_aligner("fast_align").align(PAIRS)[1] != []


def test_missing_programs_say_what_to_install(bare_environment, tmp_path):
    with pytest.raises(BinaryNotFoundError, match="Install fast_align"):
        FastAlignAligner().align(PAIRS)
    with pytest.raises(BinaryNotFoundError, match="neither GIZA\\+\\+ nor MGIZA\\+\\+.*'GIZA\\+\\+'.*'mgiza'"):
        GizaAligner().align(PAIRS)
    with pytest.raises(BinaryNotFoundError, match="no 'mgiza'"):
        make_aligner("mgiza").align(PAIRS)
    with pytest.raises(BinaryNotFoundError, match="not an executable file or a directory"):
        FastAlignAligner(binary=str(tmp_path / "nope")).align(PAIRS)


def test_an_install_prefix_lib_folder_reaches_the_program(tools_dir, tmp_path):
    """mgiza needs Boost's thread library from ../lib: the adapter puts it on LD_LIBRARY_PATH by itself."""
    env = tool_environment(str(tools_dir / "mgiza"))
    assert env["LD_LIBRARY_PATH"].split(os.pathsep)[0] == str(tools_dir.parent / "lib")
    # Copied without lib/ beside it, the same program cannot start: the loader's own message comes back.
    lonely = tmp_path / "bin"
    lonely.mkdir()
    shutil.copy(tools_dir / "mgiza", lonely / "mgiza")
    assert tool_environment(str(lonely / "mgiza")) is None
    if "not found" not in subprocess.run(["ldd", str(lonely / "mgiza")], capture_output=True, text=True).stdout:
        pytest.skip("this machine has Boost's thread library installed: mgiza starts without lib/")
    with pytest.raises(AlignerFailedError, match="mgiza exited with status 127: .*libboost_thread"):
        run_command([str(lonely / "mgiza")], "mgiza test")


def test_a_failing_program_is_one_line_with_its_own_message(tools_dir):
    # fast_align itself rejects a zero Dirichlet alpha with -v.
    with pytest.raises(AlignerFailedError) as err:
        FastAlignAligner(binary=str(tools_dir), extra_args=("-a", "0")).align(PAIRS)
    assert str(err.value) == "fast_align (forward): fast_align exited with status 1: --alpha must be > 0"
