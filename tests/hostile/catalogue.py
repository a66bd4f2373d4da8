"""The catalogue of bad inputs and faults that were tried: one ``Case`` per row, with what the user sees and the
test that shows it. A reviewer adds a case here and its test in the stage's file; ``test_catalogue.py`` checks
that both exist and that the table of docs/bad_input.md is this table.

    python tests/hostile/catalogue.py   # prints the table of docs/bad_input.md
"""
from __future__ import annotations

from dataclasses import dataclass

FAILS = "fails"  # exit status 1, one `error:` line naming file and position, no manifest
COUNTED = "counted"  # the run goes on; the record is counted (manifest `dropped` or a dead-letter file)
READ = "read"  # not bad after all: read correctly
REFUSED = "refused"  # a checkpoint file is not loaded, and nothing in it is run


@dataclass(frozen=True)
class Case:
    stage: str  # a key of STAGES
    bad_input: str
    outcome: str  # FAILS, COUNTED, READ or REFUSED
    user_sees: str  # the message (its gist) or the counter
    test: str  # "FILE::FUNCTION", FILE relative to tests/

    @property
    def test_file(self) -> str:
        return self.test.split("::")[0]

    @property
    def test_function(self) -> str:
        return self.test.split("::")[1]


# The command each stage's cases run.
STAGES = {
    "Dumps": "pipelines.wiki_mrc",
    "Parallel text": "pipelines.clism",
    "CoNLL": "pipelines.import_conll",
    "QA": "trainer.finetune",
    "Shards": "trainer.pretrain",
    "Alignment": "python -m alignment",
    "Checkpoints": "trainer.pretrain",
    "Faults": "pipelines.import_conll, trainer.pretrain",
    "Model folders": "trainer.evaluate",
    "Configs": "trainer.pretrain",
}

D, P, C, Q = "hostile/test_dumps.py", "hostile/test_parallel_text.py", "hostile/test_conll.py", "hostile/test_qa.py"
S, A, K, F = "hostile/test_shards.py", "hostile/test_alignment.py", "hostile/test_checkpoints.py", "hostile/test_faults.py"
M, G = "hostile/test_model_folders.py", "hostile/test_configs.py"
DD = "hostile/test_dump_dtd.py"

CASES = [
    Case("Dumps", "XML cut in the middle of a page", COUNTED,
         "pages before the cut kept; `FILE: line L, column C, byte B ...: the XML ends inside <.../text> of page "
         "'T': the dump is truncated` in `_dump_faults.txt`, counter `dump_faults`",
         f"{D}::test_cut_mid_page"),
    Case("Dumps", "bz2 stream cut short", COUNTED,
         "`..., near compressed byte N: the bz2 stream ends early: the file is truncated` (dump fault)",
         f"{D}::test_cut_mid_bz2_stream"),
    Case("Dumps", "bytes that are not UTF-8", COUNTED,
         "`FILE: line L, column C, ...: malformed XML: not well-formed (invalid token)` (dump fault)",
         f"{D}::test_invalid_utf8_bytes"),
    Case("Dumps", "an empty file", COUNTED, "`FILE: line 1, column 1, byte 0 ...: the dump is empty` (dump fault)",
         f"{D}::test_empty_file"),
    Case("Dumps", "a file that is not XML (a text file)", COUNTED,
         "`FILE: line 1, column 1, byte 0 ...: not a MediaWiki XML dump` (dump fault)", f"{D}::test_not_xml"),
    Case("Dumps", "several faulty files in one run", COUNTED,
         "one fault per file, `dump_faults` = their number, the pages before each kept",
         f"{D}::test_faults_are_counted_and_the_pages_before_them_kept"),
    Case("Dumps", "any dump fault with `--strict`", FAILS,
         "`error: 1 dump fault(s), the first: FILE: line L, ...`; no manifest", f"{D}::test_strict_fails_without_a_dataset"),
    Case("Dumps", "UTF-16 LE and BE, with and without a BOM", READ, "the same pages as the original",
         f"{D}::test_utf16_with_and_without_bom"),
    Case("Dumps", "a page whose markup hangs the parser (64 KB of unclosed templates)", COUNTED,
         "`page_parse_timeout` (`--parse-timeout`); warning `FILE: page 'T' (id N) dropped: ... (timeout)`",
         f"{D}::test_page_whose_markup_hangs_the_parser"),
    Case("Dumps", "a page whose parse balloons memory", COUNTED,
         "`page_parse_memory_limit` (`--parse-memory-mb`, default 1024: the parse child's RLIMIT_AS); warning "
         "naming file, title and id", f"{D}::test_page_whose_parse_balloons_memory"),
    Case("Dumps", "an `--input` glob that matches nothing", FAILS, "`error: --input [...] matches no dump`",
         f"{D}::test_no_dataset_when_nothing_was_written"),
    Case("Dumps", "a DOCTYPE defining an entity used in page text, before the root: at the start, after the XML "
         "declaration, comments (between two: this one used to expand the entity into the page), processing "
         "instructions or a BOM; UTF-16 LE/BE with and without BOM; in bz2, gzip, xz; cut by the 1 MiB read; past a "
         "4 MiB prolog; a parameter entity; an external entity or DTD (`file:///etc/hostname`)", FAILS,
         "`read_pages` raises `DumpError`: `FILE: line L, column C, byte B ...: a DTD is not allowed in a MediaWiki "
         "dump (<!DOCTYPE mediawiki ...>): ...; 0 pages read before it`; no page holds the entity's text",
         f"{DD}::test_dtd_before_the_root_is_refused"),
    Case("Dumps", "the same files given to the command", FAILS,
         "`error: FILE: line L, ..., byte B ...: a DTD is not allowed in a MediaWiki dump ... (DumpError)`, from the "
         "launcher (it reads each file's first bytes); no manifest",
         f"{DD}::test_dtd_before_the_root_fails_the_command"),
    Case("Dumps", "`<!ENTITY` after the root has started, cut by the bound of the first 1 MiB read", FAILS,
         "the pages before it read, then `FILE: ..., byte B ...: a DTD is not allowed in a MediaWiki dump (<!ENTITY "
         "...>)` (not a counted fault: the worker's error fails the run, one line); no manifest",
         f"{DD}::test_entity_declaration_after_the_root_in_a_later_chunk"),
    Case("Dumps", "a DOCTYPE at the start or in the middle of a later stream of a bz2 multistream dump", FAILS,
         "`FILE (unit starting at byte N): line L, ..., byte B ...: a DTD is not allowed in a MediaWiki dump ...`; "
         "the pages before it read; the command fails with that line, no manifest",
         f"{DD}::test_dtd_in_a_later_multistream_stream"),
    Case("Dumps", "comments, processing instructions, a BOM or a 1 MiB comment before the root, no DTD; UTF-16 BE "
         "without BOM starting with a comment; `&amp;`, `&lt;` and character references", READ,
         "the same pages as the plain file", f"{DD}::test_prolog_without_a_dtd_is_read"),
    Case("Parallel text", "line counts that differ", FAILS,
         "`error: SRC:N: SRC has more lines than TGT (N-1); they must be parallel (or pass --on-length-mismatch "
         "truncate)`", f"{P}::test_line_counts_that_differ"),
    Case("Parallel text", "empty lines on one side", COUNTED, "`empty_target` / `empty_source`",
         f"{P}::test_empty_lines_on_one_side"),
    Case("Parallel text", "a `\\|\\|\\|` line with three fields", FAILS,
         "`error: FILE:N: expected exactly one '\\|\\|\\|' between source and target, found 2 (or pass "
         "--on-malformed skip)`", f"{P}::test_joint_line_with_three_fields"),
    Case("Parallel text", "CRLF line endings", READ, "the same pairs, no `\\r` in any row",
         f"{P}::test_crlf_line_endings"),
    Case("CoNLL", "Latin-1 read without `--encoding`", FAILS,
         "`error: FILE:N: byte b'\\xf1' at column C is not valid utf-8; pass the file's encoding (e.g. latin-1)`",
         f"{C}::test_latin1_read_without_encoding"),
    Case("CoNLL", "a line with one column", FAILS, "`error: FILE:N: expected a token and a tag, found '...'`",
         f"{C}::test_wrong_column_count"),
    Case("CoNLL", "a tag that is not IOB/BIOES", FAILS,
         "`error: FILE:N: malformed tag 'ORGANIZATION': expected O or one of B-, I-, E-, S- and a type`",
         f"{C}::test_tag_that_is_not_iob_or_bioes"),
    Case("CoNLL", "an empty file (or only `-DOCSTART-` lines)", FAILS, "`error: FILE:1: no sentence in the file`",
         f"{C}::test_empty_file"),
    Case("CoNLL", "any worker error, from the command line", FAILS,
         "the one `error:` line; Beam's logged traceback of the worker is not printed",
         f"{C}::test_command_line_prints_no_runner_traceback"),
    Case("CoNLL", "CRLF or CR-only line endings", READ,
         "the same sentences as LF (a CR-only file was one token holding the whole file)",
         f"{C}::test_line_endings_give_the_same_sentences"),
    Case("CoNLL", "a token holding U+00A0, U+3000, U+2028 or a zero-width space", COUNTED,
         "kept whole (columns split at tabs and ASCII spaces only); counter `tokens_with_unicode_space`",
         f"{C}::test_token_with_unicode_space_is_kept_whole_and_counted"),
    Case("CoNLL", "a line of U+3000 alone (not blank)", FAILS,
         "`error: FILE:N: expected a token and a tag, found '\\u3000'`", f"{C}::test_line_of_unicode_space_only"),
    Case("CoNLL", "`.gz` and `.bz2` files", READ, "the same sentences as the plain file",
         f"{C}::test_compressed_input_is_read"),
    Case("CoNLL", "a `.gz` file cut short", FAILS,
         "`error: FILE:N: the compressed stream is damaged or cut short (...)`; Beam's own reader would have "
         "ended at the cut silently", f"{C}::test_compressed_file_cut_short"),
    Case("CoNLL", "a UTF-16 file (with byte-order mark) read as UTF-8", FAILS,
         "`error: FILE:1: the file starts with a UTF-16 byte-order mark, so it is not utf-8: pass the encoding "
         "utf-16`; with `--encoding utf-16` the same sentences", f"{C}::test_utf16_file"),
    Case("CoNLL", "a UTF-8 byte-order mark", READ, "dropped, not glued to the first token",
         f"{C}::test_utf8_byte_order_mark"),
    Case("CoNLL", "`.gz`/`.bz2` evaluation files given to the trainer", READ,
         "the same sentences as the plain file (`trainer.data.readers`)", f"{C}::test_trainer_reads_compressed_conll"),
    Case("QA", "SQuAD JSON whose answer text is not at its `answer_start`", FAILS,
         "`error: FILE: data[a].paragraphs[p].qas[q].answers[n]: answer '...' is not at answer_start S`",
         f"{Q}::test_answer_text_not_at_its_answer_start"),
    Case("QA", "a missing key", FAILS, "`error: FILE: data[a].paragraphs[p].qas[q]: missing 'question'`",
         f"{Q}::test_missing_keys"),
    Case("QA", "an empty dataset", FAILS, "`error: data.train.en: no examples (FILE)`", f"{Q}::test_empty_dataset"),
    Case("Shards", "a column of the wrong type", FAILS, "`error: DIR is not a valid polyspan dataset: - SHARD: column 'mention_index' is string, expected int32`",
         f"{S}::test_column_of_the_wrong_type"),
    Case("Shards", "a manifest whose row count disagrees", FAILS,
         "`error: DIR is not a valid polyspan dataset: - SHARD: 8 rows, _manifest.json says 13`", f"{S}::test_manifest_row_count_disagrees"),
    Case("Shards", "a shard listed but missing", FAILS, "`error: DIR is not a valid polyspan dataset: - SHARD: listed in _manifest.json but missing`",
         f"{S}::test_listed_shard_missing"),
    Case("Shards", "a dataset of another kind", FAILS, "`error: DIR is not a valid polyspan dataset: - _manifest.json: kind 'tagged', expected 'mrc'`",
         f"{S}::test_shard_of_another_kind"),
    Case("Shards", "a shard that is not Parquet (a CSV named `.parquet`)", FAILS,
         "`error: DIR is not a valid polyspan dataset: - SHARD: not a readable Parquet file (Parquet magic bytes "
         "not found ...)`", f"{S}::test_shard_that_is_not_parquet"),
    Case("Shards", "a shard cut short", FAILS, "`error: DIR ...: - SHARD: not a readable Parquet file (...)`",
         f"{S}::test_shard_cut_short"),
    Case("Shards", "a shard whose data pages are overwritten (footer intact)", FAILS,
         "`error: DIR ...: - SHARD: not a readable Parquet file (...)`", f"{S}::test_shard_with_a_damaged_page"),
    Case("Shards", "a `_manifest.json` that is not UTF-8", FAILS,
         "`error: DIR/_manifest.json: byte b'\\xff' at offset 0 is not UTF-8: not a manifest written by polyspan`",
         f"{S}::test_manifest_that_is_not_utf8"),
    Case("Alignment", "a gold index past the sentence end", FAILS,
         "`error: FILE, line N: link i-j (1-based) is past the end of the sentence pair (S source, T target words)`",
         f"{A}::test_gold_index_past_the_sentence_end"),
    Case("Alignment", "a links file with fewer lines than the corpus", FAILS,
         "`error: FILE, line N+1: has N lines but there are M sentence pairs`",
         f"{A}::test_links_file_with_fewer_lines_than_the_corpus"),
    Case("Checkpoints", "a pickle that would run code when loaded", REFUSED,
         "`error: .../rank-00000.pt: refused: its pickle calls builtins.open ...`; the code never runs "
         "(weights from safetensors, the rank file with `weights_only`)",
         f"{K}::test_pickle_that_would_run_code_is_refused"),
    Case("Checkpoints", "a model folder whose weights are a pickle (`pytorch_model.bin`)", REFUSED,
         "`error: .../pytorch_model.bin: pickled weights; the trainer reads safetensors only ...`; never unpickled",
         f"{K}::test_model_folder_with_pickled_weights"),
    Case("Checkpoints", "a `config.json` of another model type", FAILS,
         "`error: .../config.json: model_type 'distilbert', but .../model.safetensors holds only 4 of its 36 "
         "weights`, instead of a model initialised at random", f"{K}::test_config_json_of_another_model_type"),
    Case("Checkpoints", "a `heads.safetensors` cut short, then resume", FAILS,
         "`error: .../heads.safetensors: not a readable safetensors file (...): the file is damaged or cut short`",
         f"{K}::test_heads_file_cut_short"),
    Case("Model folders", "a checkpoint whose `config.json` has an `auto_map` (custom code), stdin closed",
         REFUSED, "`error: DIR/config.json: refused: its auto_map (AutoConfig=evil.EvilConfig, ...) asks to run "
         "Python shipped with the checkpoint ...`; no `[y/N]` prompt, the code never runs",
         f"{M}::test_checkpoint_that_asks_to_run_its_code"),
    Case("Model folders", "a `tokenizer_config.json` with an `auto_map`", REFUSED,
         "`error: DIR/tokenizer_config.json: refused: its auto_map ...`; the code never runs",
         f"{M}::test_tokenizer_config_that_asks_to_run_its_code"),
    Case("Model folders", "a `model_type` transformers does not know", REFUSED,
         "`error: DIR/config.json: refused: model_type 'evil-bert' is not one transformers knows ...`",
         f"{M}::test_model_type_transformers_does_not_know"),
    Case("Model folders", "`tokenizer.json`, `config.json` or `tokenizer_config.json` cut short", FAILS,
         "`error: FILE: not valid JSON (Unterminated string ... at line L, column C): the file is damaged or cut "
         "short`", f"{M}::test_json_file_cut_short"),
    Case("Model folders", "a `tokenizer.json` that is JSON but no tokenizer", FAILS,
         "`error: DIR/tokenizer.json: valid JSON but not a tokenizer (...)` (transformers: a bare `KeyError`)",
         f"{M}::test_tokenizer_json_that_is_no_tokenizer"),
    Case("Model folders", "a `config.json` saved as UTF-16", FAILS,
         "`error: DIR/config.json: byte b'\\xff' at offset 0 is not valid UTF-8: not a JSON file`",
         f"{M}::test_config_json_in_utf16"),
    Case("Model folders", "a `model.safetensors` header lying about a tensor's size", FAILS,
         "`error: DIR/model.safetensors: not a readable safetensors file (Error while deserializing header: ...)`",
         f"{M}::test_safetensors_header_lying_about_sizes"),
    Case("Model folders", "a `model.safetensors` cut short", FAILS,
         "`error: DIR/model.safetensors: not a readable safetensors file (...)`", f"{M}::test_safetensors_cut_short"),
    Case("Model folders", "the folder transformers wrote, undamaged", READ, "tokenizer and encoder load",
         f"{M}::test_original_folder_loads"),
    Case("Configs", "a YAML config that is not UTF-8", FAILS,
         "`error: FILE: byte b'\\xff' at offset 0 is not UTF-8 (a config is a UTF-8 YAML file)`",
         f"{G}::test_config_that_is_not_utf8"),
    Case("Configs", "a YAML syntax error", FAILS, "`error: FILE:N: not valid YAML (...)`",
         f"{G}::test_config_with_a_yaml_syntax_error"),
    Case("Faults", "SIGKILL mid-training, then resume", READ, "the resumed run repeats the uninterrupted losses",
         "test_trainer_checkpoint.py::test_killed_and_resumed_run_repeats_the_uninterrupted_losses"),
    Case("Faults", "SIGKILL mid-checkpoint, then resume", READ,
         "no partial checkpoint is picked; the resume is exact",
         "test_trainer_checkpoint.py::test_process_killed_mid_save_leaves_no_partial_checkpoint_and_resumes_exactly"),
    Case("Faults", "output disk full", FAILS,
         "`error: [Errno 28] No space left on device [...] (writing --output DIR)`; no manifest",
         f"{F}::test_output_disk_full"),
    Case("Faults", "disk full while the manifest is written", FAILS,
         "the write fails; neither `_manifest.json` nor its temporary file is left",
         f"{F}::test_manifest_on_a_full_disk_leaves_none"),
    Case("Faults", "a reader opening a dataset being written", READ,
         "`_manifest.json` is written after every shard, to a temporary name, then moved into place",
         f"{F}::test_manifest_is_written_last"),
]

OUTCOME_WORDS = {FAILS: "**fails**", COUNTED: "counted", READ: "read", REFUSED: "**refused**"}


def markdown_table() -> str:
    """The table of docs/bad_input.md: one row per case, in catalogue order."""
    lines = ["| stage (command) | bad input | outcome | what the user sees | test |", "|---|---|---|---|---|"]
    for case in CASES:
        lines.append(f"| {case.stage} (`{STAGES[case.stage]}`) | {case.bad_input} | {OUTCOME_WORDS[case.outcome]} "
                     f"| {case.user_sees} | `{case.test_file.split('/')[-1]}::{case.test_function}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
