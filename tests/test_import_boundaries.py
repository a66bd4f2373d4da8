"""The halves stay apart (DESIGN.md): schemas and alignment import without torch; trainer and schemas import
without Beam or spaCy. Each check runs in a fresh interpreter where the forbidden packages cannot be imported
at all, so an indirect import anywhere in the chain fails the test."""
import ast
import re
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


# ---- the trainer's own house (ARCHITECTURE.md) ---------------------------------------------------------------

TRAINER = REPO_ROOT / "trainer"
ENTRY_POINTS = ("pretrain", "finetune", "evaluate", "predict")
# Modules, the importer included. 7 before the sub-packages, 6 after them; 7 again since each constraint is a
# module of its own that its registry imports: finetune -> finetune_config -> constraints -> mtf -> loop.train ->
# loop.checkpoint -> loop.distributed.
LONGEST_CHAIN = 7
LONGEST_FILE = 450  # lines


def trainer_imports() -> dict[str, set[str]]:
    """Module -> the trainer modules (and ``schemas``/``pipelines``/``alignment``) it imports, lazily or not;
    imports under ``if TYPE_CHECKING:`` never run and are left out."""
    modules = {}
    for path in sorted(TRAINER.rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
                node.body = []
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[name] = {m for m in found if m in modules and m != name} | \
            {m.split(".")[0] for m in found if m.split(".")[0] in ("schemas", "pipelines", "alignment")}
    return graph


def longest_chain(graph: dict[str, set[str]]) -> list[str]:
    """The longest import chain among trainer modules (an error on a cycle)."""
    best: dict[str, list[str]] = {}

    def walk(name: str, seen: tuple) -> list[str]:
        assert name not in seen, f"import cycle: {' -> '.join(seen + (name,))}"
        if name not in best:
            tails = [walk(dep, seen + (name,)) for dep in graph[name] if dep in graph]
            best[name] = [name] + max(tails, key=len, default=[])
        return best[name]

    return max((walk(name, ()) for name in graph), key=len)


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "trainer"


def allowed_imports() -> dict[str, set[str]]:
    """Each sub-package's rule, read from the "May import:" sentence of its docstring."""
    rules = {}
    for init in sorted(TRAINER.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "May import:" in doc, f"{init}: the docstring says nothing of what the room may import"
        named = re.findall(r"``([a-z_.]+)``", doc.split("May import:")[1])
        rules[init.parent.name] = {name.split(".")[-1] if name.startswith("trainer.") else name for name in named}
    return rules


def test_every_room_imports_only_what_its_docstring_allows():
    graph, rules = trainer_imports(), allowed_imports()
    assert set(rules) == {"adaptation", "data", "loop", "models", "objectives", "tasks"}
    wrong = []
    for module, deps in graph.items():
        room = room_of(module)
        if room not in rules:
            continue
        for dep in deps:
            target = room_of(dep) if dep.startswith("trainer") else dep
            if target != room and target not in rules[room]:
                wrong.append(f"{module} imports {dep}")
    assert not wrong, wrong


def test_no_entry_point_imports_another_and_the_rooms_import_none():
    graph = trainer_imports()
    entry = {f"trainer.{name}" for name in ENTRY_POINTS}
    assert entry <= set(graph), sorted(entry - set(graph))
    wrong = [f"{module} imports {dep}" for module, deps in graph.items() for dep in deps if dep in entry]
    assert not wrong, wrong


def test_import_chain_and_file_length():
    graph = trainer_imports()
    chain = longest_chain(graph)
    assert len(chain) <= LONGEST_CHAIN, " -> ".join(chain)
    lengths = {path.relative_to(REPO_ROOT): len(path.read_text(encoding="utf-8").splitlines())
               for path in TRAINER.rglob("*.py")}
    assert max(lengths.values()) <= LONGEST_FILE, max(lengths.items(), key=lambda item: item[1])


if __name__ == "__main__":
    # The figures of ARCHITECTURE.md: python tests/test_import_boundaries.py
    figures = trainer_imports()
    chain = longest_chain(figures)
    lines = sorted(((len(p.read_text(encoding="utf-8").splitlines()), str(p.relative_to(REPO_ROOT)))
                    for p in TRAINER.rglob("*.py")), reverse=True)
    print(f"{len(figures)} modules; longest import chain {len(chain)}: {' -> '.join(chain)}")
    print("longest files: " + ", ".join(f"{path} {n}" for n, path in lines[:5]))
