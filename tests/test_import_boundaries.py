"""The halves stay apart (DESIGN.md): schemas and alignment import without torch; trainer and schemas import
without Beam or spaCy. Each check runs in a fresh interpreter where the forbidden packages cannot be imported
at all, so an indirect import anywhere in the chain fails the test."""
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO_ROOT

BLOCKER = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = set(sys.argv[1].split(","))
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
    sys.meta_path.insert(0, Block())
    import importlib, pkgutil
    for package in sys.argv[2].split(","):
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, package + "."):
            if info.name.endswith("__main__"):
                continue
            importlib.import_module(info.name)
    leaked = sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED)
    assert not leaked, leaked
    print("ok")
""")


@pytest.mark.parametrize("packages, blocked", [
    ("schemas,alignment", "torch,transformers"),
    ("trainer,schemas", "apache_beam,spacy,pythainlp,sacremoses,mwparserfromhell,eflomal"),
])
def test_package_imports_without_the_other_half(packages, blocked):
    result = subprocess.run([sys.executable, "-c", BLOCKER, blocked, packages], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_the_blocker_does_block():
    """The check above would pass vacuously if blocking did not work: importing a blocked package must fail."""
    result = subprocess.run([sys.executable, "-c", BLOCKER, "apache_beam", "pipelines"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "blocked" in result.stderr
