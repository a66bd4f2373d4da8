"""fast_align and GIZA++/MGIZA++ wrappers. No Debian package provides these binaries, so the tests use
small stand-in executables that read the real input formats and write the real output formats, plus
hand-written outputs for the parsers; and check the missing-binary errors."""
import os
import stat
import sys
import textwrap

import pytest

from alignment import (AlignerFailedError, BinaryNotFoundError, FastAlignAligner, GizaAligner, InputError,
                       make_aligner, parse_a3)
from alignment.fast_align import parse_pharaoh_output

PAIRS = [(["the", "house"], ["das", "Haus"]), (["a", "small", "house", "."], ["ein", "kleines", "Haus", "."]),
         ([], ["leer"]), (["x|||y", "z"], ["w"])]


def _script(path, body):
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


FAKE_FAST_ALIGN = """
    import sys
    args = sys.argv[1:]
    with open(sys.argv[0] + ".calls", "a") as log:
        log.write(repr(args) + "\\n")
    path = args[args.index("-i") + 1]
    for line in open(path, encoding="utf-8"):
        src, tgt = (side.split() for side in line.split(" ||| "))
        if "-r" in args:   # each source word to one target word
            links = [f"{i}-{min(i, len(tgt) - 1)}" for i in range(len(src))]
        else:              # each target word to one source word
            links = [f"{min(j, len(src) - 1)}-{j}" for j in range(len(tgt))]
        print(" ".join(links))
"""


def test_fast_align_runs_both_directions(tmp_path):
    exe = _script(tmp_path / "fast_align", FAKE_FAST_ALIGN)
    fwd, rev = FastAlignAligner(binary=str(exe)).align_directional(PAIRS)
    assert fwd[0] == [(0, 0), (1, 1)] and rev[1] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert fwd[2] == [] and rev[2] == []                 # empty side: not sent to the binary
    assert fwd[3] == [(0, 0)] and rev[3] == [(0, 0), (1, 0)]   # '|||' inside a token kept one token
    calls = [eval(line) for line in (tmp_path / "fast_align.calls").read_text().splitlines()]
    assert len(calls) == 2 and "-r" in calls[1] and "-r" not in calls[0]
    assert {"-d", "-o", "-v"} <= set(calls[0])
    # By directory too, and on PATH.
    assert FastAlignAligner(binary=str(tmp_path)).align(PAIRS)[0] == [(0, 0), (1, 1)]


def test_fast_align_on_path(tmp_path, monkeypatch):
    _script(tmp_path / "fast_align", FAKE_FAST_ALIGN)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ["PATH"])
    assert make_aligner("fast_align").align(PAIRS[:1]) == [[(0, 0), (1, 1)]]


def test_fast_align_failure_and_bad_output(tmp_path):
    exe = _script(tmp_path / "fast_align", "import sys\nsys.stderr.write('bad corpus\\n')\nsys.exit(3)\n")
    with pytest.raises(AlignerFailedError, match="exited with status 3: bad corpus"):
        FastAlignAligner(binary=str(exe)).align(PAIRS)
    with pytest.raises(AlignerFailedError, match="printed 1 lines for 2"):
        parse_pharaoh_output("0-0\n", PAIRS[:2], "fast_align forward output")
    with pytest.raises(InputError, match="line 2: link 0-4 .* past the end"):
        parse_pharaoh_output("0-0\n0-4\n", PAIRS[:2], "fast_align forward output")


def test_missing_binaries_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BinaryNotFoundError, match="Install fast_align"):
        FastAlignAligner().align(PAIRS)
    with pytest.raises(BinaryNotFoundError, match="Install GIZA\\+\\+"):
        GizaAligner().align(PAIRS)
    with pytest.raises(BinaryNotFoundError, match="no 'mgiza'"):
        make_aligner("mgiza").align(PAIRS)
    with pytest.raises(BinaryNotFoundError, match="not an executable"):
        FastAlignAligner(binary=str(tmp_path / "nope")).align(PAIRS)


A3_SAMPLE = """\
# Sentence pair (1) source length 2 target length 3 alignment score : 0.00123
das kleine Haus
NULL ({ }) the ({ 1 }) house ({ 2 3 })
# Sentence pair (2) source length 3 target length 2 alignment score : 1.5e-07
ja danke
NULL ({ 2 }) yes ({ 1 }) thank ({ }) you ({ })
"""


def test_parse_a3_final():
    assert parse_a3(A3_SAMPLE) == {1: [(0, 0), (1, 1), (1, 2)], 2: [(0, 0)]}


def test_parse_a3_errors():
    with pytest.raises(InputError, match="x.A3, line 3: position 4 past the end"):
        parse_a3(A3_SAMPLE.replace("({ 2 3 })", "({ 2 4 })"), "x.A3")
    with pytest.raises(InputError, match="line 1: expected a '# Sentence pair"):
        parse_a3("garbage\n", "x.A3")


# Stand-in GIZA++: reads the .snt/.vcb files it is given and writes a diagonal A3.final in GIZA's format
# (pairs numbered from 1, target line, then source words with ({ target positions })).
FAKE_GIZA = """
    import sys
    args = sys.argv[1:]
    opt = {args[k]: args[k + 1] for k in range(0, len(args) - 1, 2)}
    assert "-CoocurrenceFile" in opt and open(opt["-CoocurrenceFile"]).read() == "cooc\\n"
    vocab = {}
    for key in ("-s", "-t"):
        vocab[key] = {int(l.split()[0]): l.split()[1] for l in open(opt[key], encoding="utf-8")}
    lines = open(opt["-c"], encoding="utf-8").read().splitlines()
    suffix = ".part000" if "-ncpus" in opt else ""
    with open(opt["-o"] + ".A3.final" + suffix, "w", encoding="utf-8") as out:
        for n in range(len(lines) // 3):
            s = [vocab["-s"][int(x)] for x in lines[3 * n + 1].split()]
            t = [vocab["-t"][int(x)] for x in lines[3 * n + 2].split()]
            groups = {i: [] for i in range(len(s))}
            for j in range(len(t)):
                groups[min(j, len(s) - 1)].append(j + 1)
            out.write(f"# Sentence pair ({n + 1}) source length {len(s)} target length {len(t)} "
                      "alignment score : 1e-05\\n" + " ".join(t) + "\\nNULL ({ }) "
                      + " ".join(f"{w} ({{ {' '.join(map(str, groups[i]))} }})" for i, w in enumerate(s)) + "\\n")
"""


@pytest.mark.parametrize("variant, names", [("giza", ("GIZA++", "snt2cooc.out")), ("mgiza", ("mgiza", "snt2cooc"))])
def test_giza_runs_both_directions(tmp_path, variant, names):
    _script(tmp_path / names[0], FAKE_GIZA)
    if variant == "giza":   # snt2cooc.out VCB1 VCB2 SNT > COOC
        _script(tmp_path / names[1], "import sys\nassert len(sys.argv) == 4\nprint('cooc')\n")
    else:                   # snt2cooc COOC VCB1 VCB2 SNT
        _script(tmp_path / names[1], "import sys\nopen(sys.argv[1], 'w').write('cooc\\n')\n")
    pairs = PAIRS + [(["w"] * 101, ["v"] * 101)]  # over GIZA's length limit: no links, not sent
    fwd, rev = GizaAligner(binary=str(tmp_path), variant=variant).align_directional(pairs)
    assert fwd[0] == [(0, 0), (1, 1)]
    assert fwd[1] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert rev[3] == [(0, 0), (1, 0)]  # reverse run: source words each get one target word, flipped back
    assert fwd[2] == rev[2] == [] and fwd[4] == rev[4] == []


def test_giza_failure_is_reported(tmp_path):
    _script(tmp_path / "GIZA++", "import sys\nsys.stderr.write('ERROR: out of memory\\n')\nsys.exit(1)\n")
    _script(tmp_path / "snt2cooc.out", "print('cooc')\n")
    with pytest.raises(AlignerFailedError, match="out of memory"):
        GizaAligner(binary=str(tmp_path / "GIZA++")).align(PAIRS)
