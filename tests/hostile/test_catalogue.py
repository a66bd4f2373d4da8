"""The catalogue itself: every case names a test that exists, every hostile test is a case, and the table of
docs/bad_input.md is the one ``catalogue.markdown_table()`` renders."""
import ast
from pathlib import Path

from hostile.catalogue import CASES, FAILS, COUNTED, READ, REFUSED, STAGES, markdown_table

TESTS = Path(__file__).resolve().parent.parent
BAD_INPUT_PAGE = TESTS.parent / "docs" / "bad_input.md"
SECTION = "## The catalogue"


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_case_names_an_existing_test():
    for case in CASES:
        assert case.stage in STAGES and case.outcome in (FAILS, COUNTED, READ, REFUSED), case
        path = TESTS / case.test_file
        assert path.is_file(), case.test
        assert case.test_function in _test_functions(path), case.test


def test_every_hostile_test_is_a_case():
    listed = {case.test for case in CASES}
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        if path.name == Path(__file__).name:
            continue
        for name in _test_functions(path):
            assert f"hostile/{path.name}::{name}" in listed, f"{path.name}::{name} is not in catalogue.CASES"


def test_docs_table_is_the_catalogue():
    text = BAD_INPUT_PAGE.read_text(encoding="utf-8")
    assert SECTION in text, f"docs/bad_input.md has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    assert markdown_table() in section, ("docs/bad_input.md's table differs from the catalogue: paste the output "
                                         "of `python tests/hostile/catalogue.py`")
