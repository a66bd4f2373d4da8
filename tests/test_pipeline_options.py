"""A pipeline option lives in one place: its config dataclass (pipelines/config_arguments.py). Checked from the
outside, through argparse: every config field's default is what its flag parses to when the flag is not given,
and the flags the commands had keep their names and set the fields they set."""
import argparse
import dataclasses

import pytest

from pipelines.clism import __main__ as clism_cli
from pipelines.clism.config import ClismConfig
from pipelines.config_arguments import add_config_arguments, config_values, flag
from pipelines.import_conll import __main__ as import_conll
from pipelines.import_conll.config import ImportConllConfig
from pipelines.project_labels import __main__ as project_cli
from pipelines.project_labels.config import ExtraFilter, ProjectionConfig
from pipelines.wiki_mrc import __main__ as mrc_cli
from pipelines.wiki_mrc.config import MrcConfig

# (parser, the arguments it requires, config class, its fields that are no flag of their own: required values,
# values the command builds from several flags, the shared alignment flags)
PIPELINES = {
    "wiki_mrc": (mrc_cli.build_parser, ["--input", "x.xml", "--lang", "en", "--output", "out"], MrcConfig,
                 {"lang", "tokenizer_lang"}),
    "clism": (clism_cli.build_parser, ["--output", "out"], ClismConfig,
              {"corpora", "output", "ner_models", "entity_labels", "alignment", "ner_batch_size"}),
    "project_labels": (project_cli.build_parser,
                       ["--source", "s.conll", "--src-lang", "en", "--translations", "t.txt", "--tgt-lang", "de",
                        "--output", "out"], ProjectionConfig,
                       {"source", "src_lang", "targets", "output", "extra_parallel", "extra_filter", "alignment",
                        "conll_out", "links_out"}),
    "project_labels.extra_filter": (project_cli.build_parser,
                                    ["--source", "s.conll", "--src-lang", "en", "--translations", "t.txt",
                                     "--tgt-lang", "de", "--output", "out"], ExtraFilter, set()),
    "import_conll": (import_conll.build_parser, ["--input", "x.conll", "--lang", "en", "--output", "out"],
                     ImportConllConfig, {"inputs", "lang", "output"}),
}


@pytest.mark.parametrize("name", PIPELINES)
def test_every_config_default_is_its_flags_parsed_default(name):
    build_parser, required, config_class, not_flags = PIPELINES[name]
    parsed = vars(build_parser().parse_args(required))
    flagged = [f for f in dataclasses.fields(config_class) if f.name not in not_flags]
    assert flagged, name
    for field in flagged:
        assert field.default is not dataclasses.MISSING, (name, field.name)
        assert field.name in parsed, f"{name}: field {field.name} has no flag"
        assert parsed[field.name] == field.default and type(parsed[field.name]) is type(field.default), \
            (name, field.name, parsed[field.name], field.default)


# The flags as the commands had them: (flag and value, the field it sets, the value it sets)
CLISM_FLAGS = [(["--max-span-words", "4"], "max_span_words", 4), (["--que-token", "<Q>"], "que_token", "<Q>"),
               (["--pretokenized"], "pretokenized", True), (["--no-html-unescape"], "html_unescape", False),
               (["--max-words", "7"], "max_words", 7), (["--max-chars", "70"], "max_chars", 70),
               (["--on-length-mismatch", "truncate"], "on_length_mismatch", "truncate"),
               (["--on-malformed", "skip"], "on_malformed", "skip"),
               (["--conll-encoding", "latin-1"], "conll_encoding", "latin-1"),
               (["--align-only-spanned"], "align_spanless_pairs", False), (["--seed", "3"], "seed", 3),
               (["--num-shards", "2"], "num_shards", 2)]


@pytest.mark.parametrize("argv,field,value", CLISM_FLAGS, ids=[a[0] for a, _, _ in CLISM_FLAGS])
def test_clism_flags_set_their_config_fields(argv, field, value):
    corpus = ["--source-spans", "gold.conll", "--tgt", "t.de", "--src-lang", "en", "--tgt-lang", "de",
              "--output", "out"]
    default = clism_cli.config_from_args(clism_cli.build_parser().parse_args(corpus))
    config = clism_cli.config_from_args(clism_cli.build_parser().parse_args(corpus + argv))
    assert getattr(default, field) != value and getattr(config, field) == value


PROJECTION_FLAGS = [(["--method", "word"], "method", "word"), (["--conflict", "first"], "conflict", "first"),
                    (["--tag-column", "3"], "tag_column", 3), (["--encoding", "latin-1"], "encoding", "latin-1"),
                    (["--input-scheme", "bio"], "input_scheme", "bio"),
                    (["--output-scheme", "bio"], "output_scheme", "BIO"),  # upper-cased, as before
                    (["--pretokenized"], "pretokenized", True), (["--drop-incomplete"], "drop_incomplete", True),
                    (["--seed", "3"], "seed", 3), (["--num-shards", "2"], "num_shards", 2),
                    (["--extra-max-words", "9"], "extra_filter.max_words", 9),
                    (["--extra-max-ratio", "1.5"], "extra_filter.max_ratio", 1.5)]


@pytest.mark.parametrize("argv,field,value", PROJECTION_FLAGS, ids=[a[0] for a, _, _ in PROJECTION_FLAGS])
def test_project_labels_flags_set_their_config_fields(argv, field, value):
    required = PIPELINES["project_labels"][1]

    def get(config):
        for part in field.split("."):
            config = getattr(config, part)
        return config

    default = project_cli.config_from_args(project_cli.build_parser().parse_args(required))
    config = project_cli.config_from_args(project_cli.build_parser().parse_args(required + argv))
    assert get(default) != value and get(config) == value


def test_import_conll_and_wiki_mrc_flags_set_their_config_fields(tmp_path, capsys):
    conll = tmp_path / "x.conll"
    conll.write_text("EU B-ORG\n\n", encoding="utf-8")
    config, _ = import_conll.configure(["--input", str(conll), "--lang", "en", "--output", str(tmp_path / "o"),
                                        "--encoding", "latin-1", "--tag-column", "1", "--tag-scheme", "BIO",
                                        "--num-shards", "2"])
    assert (config.encoding, config.tag_column, config.tag_scheme, config.num_shards) == ("latin-1", 1, "BIO", 2)
    parser = mrc_cli.build_parser()
    required = PIPELINES["wiki_mrc"][1]
    for choice in ("drop", "mask", "keep"):
        args = parser.parse_args(required + ["--lead-parenthetical", choice])
        assert MrcConfig("en", "en", **config_values(args, MrcConfig)).lead_parenthetical == choice
    with pytest.raises(SystemExit):
        parser.parse_args(required + ["--lead-parenthetical", "hide"])
    assert "invalid choice: 'hide'" in capsys.readouterr().err


def test_help_is_as_written_and_switches_turn_the_default_over():
    @dataclasses.dataclass
    class Config:
        words: int = flag(100, "longest sentence")
        quiet: int = flag(0, "stay quiet (0: never)", show_default=False)
        scheme: str = flag("BIOES", "tags written", type=str.upper, choices=("BIOES", "BIO"))
        strict: bool = flag(False, "stop at the first fault")
        unescape: bool = flag(True, "keep entities as they are")
        spanless: bool = flag(True, "align only pairs with spans", name="--align-only-spanned")

    parser = argparse.ArgumentParser()
    add_config_arguments(parser, Config)
    helps = {a.option_strings[0]: a.help for a in parser._actions if a.option_strings[0] != "-h"}
    assert helps == {"--words": "longest sentence (default 100)", "--quiet": "stay quiet (0: never)",
                     "--scheme": "tags written (default 'BIOES')", "--strict": "stop at the first fault",
                     "--no-unescape": "keep entities as they are",
                     "--align-only-spanned": "align only pairs with spans"}
    values = config_values(parser.parse_args([]), Config)
    assert Config(**values) == Config()
    values = config_values(parser.parse_args(["--scheme", "bio", "--strict", "--no-unescape",
                                              "--align-only-spanned"]), Config)
    assert (values["scheme"], values["strict"], values["unescape"], values["spanless"]) == ("BIO", True, False,
                                                                                           False)
