"""The one registry helper (schemas/registry.py): lookup by name, alias and case; an explicit default; refused
duplicates; and an unknown name that names the kind and lists what is known - in every registry of the house."""
import pickle

import pytest

from schemas.errors import UserError
from schemas.registry import Registry, UnknownNameError


def colours() -> Registry:
    registry = Registry("colour")
    registry.register("red", 0xFF0000, "the colour of fire", aliases=("rouge", "rot"))
    registry.register("green", 0x00FF00, "the colour of grass", default=True)
    registry.register("blue", 0x0000FF, "the colour of the sky")
    return registry


def test_lookup_by_name_and_alias_in_registration_order():
    registry = colours()
    assert registry["red"] == registry["rouge"] == registry["rot"] == 0xFF0000
    assert registry.canonical("rot") == "red" and registry.entry("rouge").summary == "the colour of fire"
    assert registry.names() == ("red", "green", "blue") == tuple(registry)
    assert list(registry.items()) == [("red", 0xFF0000), ("green", 0x00FF00), ("blue", 0x0000FF)]
    assert [entry.aliases for entry in registry.entries()] == [("rouge", "rot"), (), ()]
    assert len(registry) == 3 and "rot" in registry and "Red" not in registry and 3 not in registry


def test_unknown_name_names_the_kind_and_lists_the_known_names_with_aliases():
    with pytest.raises(UnknownNameError) as caught:
        colours()["purple"]
    err = caught.value
    assert str(err) == "unknown colour 'purple'; choose one of red (rouge, rot), green, blue"
    assert isinstance(err, UserError) and isinstance(err, LookupError) and not isinstance(err, ValueError)
    assert (err.kind, err.name, err.known) == ("colour", "purple", ("red", "green", "blue"))
    # Case matters unless the registry ignores it.
    with pytest.raises(UnknownNameError, match="unknown colour 'RED'"):
        colours().canonical("RED")
    # Beam and multiprocessing pickle errors to send them back from a worker.
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is UnknownNameError and str(copy) == str(err) and copy.aliases == {"red": ("rouge", "rot")}


def test_ignore_case_finds_names_and_aliases_whatever_their_case():
    registry = Registry("aligner", ignore_case=True)
    registry.register("giza", "G", "GIZA++", aliases=("giza++",))
    assert registry["GIZA"] == registry["Giza++"] == "G" and registry.canonical("GIZA++") == "giza"
    assert "GiZa" in registry
    with pytest.raises(ValueError, match="already registered"):
        registry.register("GIZA", "H", "the same name in capitals")


def test_the_default_is_explicit():
    assert colours().default == "green" and colours().has_default
    registry = Registry("shape")
    registry.register("circle", 1, "round")
    assert not registry.has_default
    with pytest.raises(LookupError, match="no shape is registered as the default"):
        registry.default
    registry.register("square", 2, "four sides", default=True)
    with pytest.raises(ValueError, match="'square' already is"):
        registry.register("triangle", 3, "three sides", default=True)
    assert registry.default == "square" and "triangle" not in registry


def test_a_name_or_alias_registered_twice_is_refused_and_changes_nothing():
    registry = colours()
    with pytest.raises(ValueError, match="colour 'red' is already registered"):
        registry.register("red", 1, "another red")
    with pytest.raises(ValueError, match="colour 'rot' is already registered \\(as 'red'\\)"):
        registry.register("crimson", 2, "dark red", aliases=("rot",))
    with pytest.raises(ValueError, match="given twice"):
        registry.register("cyan", 3, "blue-green", aliases=("cyan",))
    assert registry.names() == ("red", "green", "blue") and "crimson" not in registry and "cyan" not in registry
    with pytest.raises(ValueError, match="one non-empty line"):
        registry.register("grey", 4, "first line\nsecond line")
    with pytest.raises(TypeError, match="not the string"):
        registry.register("grey", 4, "grey", aliases="gray")



def test_every_registry_of_the_house_is_one_and_names_its_parts():
    """Each kind of part is registered the same way: an unknown name is an UnknownNameError listing the
    registered names of that kind."""
    from alignment.registry import ALIGNERS
    from pipelines.report.registry import REPORTS
    from trainer.adaptation.constraints import CONSTRAINTS
    from trainer.adaptation.mixing import ADAPTATIONS
    from trainer.objectives.registry import OBJECTIVES
    from trainer.tasks.registry import TASKS

    expected = {
        "aligner": (ALIGNERS, ("eflomal", "fast_align", "giza", "mgiza", "precomputed")),
        "report kind": (REPORTS, ("mrc", "clism", "tagged")),
        "constraint": (CONSTRAINTS, ("none", "frozen", "mtf", "gem")),
        "adaptation": (ADAPTATIONS, ("zero-shot", "to", "bilingual", "mtl", "mtl-ws")),
        "objective": (OBJECTIVES, ("wae", "clism")),
        "task": (TASKS, ("qa", "ner", "pair", "absa")),
    }
    for kind, (registry, names) in expected.items():
        assert isinstance(registry, Registry) and registry.names() == names
        assert all(entry.summary for entry in registry.entries())
        with pytest.raises(UnknownNameError, match=f"^unknown {kind} 'nope'; choose one of {names[0]}"):
            registry["nope"]
    assert ALIGNERS.default == "eflomal" and CONSTRAINTS.default == "none" and ADAPTATIONS.default == "zero-shot"
    assert ADAPTATIONS.canonical("translate-train") == "to"
    # Every task names its default head explicitly.
    assert {name: heads.default for name, heads in TASKS.items()} == {
        "qa": "start_end", "ner": "tagging", "pair": "classifier", "absa": "mrc"}
    with pytest.raises(UnknownNameError, match="^unknown qa head 'tagging'; choose one of start_end, extractor, que$"):
        TASKS["qa"]["tagging"]


def test_tasks_are_listed_and_checked_without_importing_a_task_module():
    """The config checks and the commands' --help read the task registry; only using a task's class imports its
    module (and torch)."""
    import subprocess
    import sys

    from conftest import REPO_ROOT

    code = ("import sys\n"
            "from trainer.tasks import registry as r\n"
            "heads, fil, teach = r.task_heads(), r.filter_tasks(), r.self_teaching_tasks()\n"
            "assert r.default_head('absa') == 'mrc' and r.task_head('qa', 'start_end').self_teaching_needs_filter\n"
            "heavy = ('torch', 'transformers', 'trainer.tasks.qa', 'trainer.tasks.base')\n"
            "light = [m for m in heavy if m in sys.modules]\n"
            "r.task_class('qa', 'start_end')\n"
            "loaded = 'trainer.tasks.qa' in sys.modules and 'torch' in sys.modules\n"
            "print(light, heads['qa'], len(fil), len(teach), loaded)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "['start_end',", "'extractor',", "'que']", "5", "5", "True"]


def test_every_head_class_agrees_with_its_registry_line():
    from trainer.tasks.registry import TASKS, TaskHead, filter_tasks, self_teaching_tasks, task_class

    for name, heads in TASKS.items():
        for head in heads:
            found = task_class(name, head)  # checks the line's flags against the class
            assert (found.name, found.head) == (name, head)
    one_window = [("qa", "start_end"), ("ner", "tagging"), ("pair", "classifier"), ("absa", "tagging"),
                  ("absa", "pair")]
    assert filter_tasks() == self_teaching_tasks() == one_window
    wrong = TaskHead("qa", "extractor", "trainer.tasks.qa:QAExtractor", filter=True)
    with pytest.raises(ValueError, match="QAExtractor is .* but its registry line says"):
        wrong.load()
