"""The dataset card of a dataset folder: ``_README.md`` (the Hugging Face YAML header, then the manifest in
prose) and the same YAML alone in ``.huggingface.yaml``, where ``datasets.load_dataset(folder)`` reads the
``configs`` that point it at the shards (schemas/layout.py says why the card is not ``README.md``).

The YAML is written here, by hand, so that ``schemas`` keeps needing nothing but pyarrow: values are quoted
with JSON's rules, which YAML reads as the same strings.
"""
from __future__ import annotations

import json
import os
import re

import pyarrow as pa

from schemas.kinds import get_kind
from schemas.layout import CARD, HF_YAML, SHARD_GLOB
from schemas.manifest import Manifest
from schemas.storage import join, resolve

# The licence of what each kind is made from. Wikipedia's text is CC BY-SA 4.0; CoNLL files and parallel corpora
# come with their own licences, which the card then names as the input files' ("other").
_LICENCES = {"mrc": ("cc-by-sa-4.0", "Wikipedia text, licensed CC BY-SA 4.0 (and GFDL); the dataset is a "
                                     "derived work under the same licence, with attribution to Wikipedia's "
                                     "authors")}
_OTHER_LICENCE = "the licence of its input files (named above): the rows are derived from them"

# Hugging Face's size categories, by row count.
_SIZES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]

_DTYPES = {pa.string(): "string", pa.large_string(): "large_string", pa.int8(): "int8", pa.int16(): "int16",
           pa.int32(): "int32", pa.int64(): "int64", pa.float32(): "float32", pa.float64(): "float64",
           pa.bool_(): "bool"}


def size_category(rows: int) -> str:
    for bound, name in _SIZES:
        if rows < bound:
            return name
    return "n>1B"


def languages(manifest: Manifest) -> list[str]:
    """The languages of a dataset's rows, as its config names them."""
    config = manifest.config
    found = [config.get(key) for key in ("lang", "tgt_lang", "src_lang")]
    for corpus in config.get("corpora") or []:
        if isinstance(corpus, dict):
            found += [corpus.get("src_lang"), corpus.get("tgt_lang")]
    return sorted({lang for lang in found if isinstance(lang, str) and lang})


def _feature(type_: pa.DataType, indent: str, key: str) -> list[str]:
    """``key: ...`` of one type in the features YAML of ``datasets`` (dtype, list or struct)."""
    if type_ in _DTYPES:
        return [f"{indent}{key}: {_DTYPES[type_]}"]
    if pa.types.is_list(type_) or pa.types.is_large_list(type_):
        return _feature(type_.value_type, indent, "list")
    if pa.types.is_struct(type_):
        return [f"{indent}{key}:"] + _fields(list(type_), indent)
    raise ValueError(f"no Hugging Face feature for the Arrow type {type_}")


def _fields(fields: list[pa.Field], indent: str) -> list[str]:
    lines = []
    for field in fields:
        lines.append(f"{indent}- name: {json.dumps(field.name)}")
        lines += _feature(field.type, indent + "  ", "dtype")
    return lines


def card_yaml(manifest: Manifest) -> str:
    """The YAML of the card: the data files (the shards, one ``train`` split), features, languages, licence,
    size category."""
    kind = get_kind(manifest.kind)
    licence = _LICENCES.get(manifest.kind, ("other", ""))[0]
    lines = ["configs:", "- config_name: default", "  data_files:", "  - split: train",
             f"    path: {json.dumps(SHARD_GLOB)}", "dataset_info:", "  features:"]
    lines += _fields(list(kind.schema), "  ")
    langs = languages(manifest)
    if langs:
        lines += ["language:"] + [f"- {json.dumps(lang)}" for lang in langs]
    lines += [f"license: {json.dumps(licence)}", "size_categories:",
              f"- {json.dumps(size_category(manifest.row_count))}", "tags:", "- polyspan", f"- {json.dumps(manifest.kind)}",
              f"pretty_name: {json.dumps(_title(manifest, langs))}"]
    return "\n".join(lines) + "\n"


def _title(manifest: Manifest, langs: list[str]) -> str:
    return f"polyspan {manifest.kind} dataset" + (f" ({', '.join(langs)})" if langs else "")


def card_markdown(manifest: Manifest) -> str:
    """The whole card: YAML header, then what the manifest says, in prose."""
    kind = get_kind(manifest.kind)
    langs = languages(manifest)
    licence = _LICENCES.get(manifest.kind, (None, _OTHER_LICENCE))[1]
    dropped = sum(manifest.dropped.values())
    lines = ["---", card_yaml(manifest).rstrip("\n"), "---", "", f"# {_title(manifest, langs)}", "",
             f"{kind.description}: {manifest.row_count} rows in {len(manifest.shards)} Parquet shard(s) "
             f"(`{SHARD_GLOB}`, kind `{manifest.kind}` version {manifest.schema_version}; the columns are "
             "documented in each shard's schema and in polyspan's docs/data_formats.md).", "",
             "## Provenance", "",
             f"Made on {manifest.created_at} by run `{manifest.run_id or 'unknown'}` of polyspan "
             f"{manifest.code_version} with", "", "```", " ".join(manifest.command), "```", "",
             "from " + (", ".join(f"`{f}`" for f in manifest.input_files) or "no input file") + ".", "",
             f"Licence: {licence}.", "",
             "## Counts", "",
             f"{dropped} input record(s) did not become rows"
             + (":" if manifest.dropped else "."), ""]
    lines += [f"- {reason}: {value}" for reason, value in manifest.dropped.items()]
    if manifest.counters:
        lines += ["", "What the run counted:", ""] + [f"- {name}: {value}" for name, value in manifest.counters.items()]
    lines += ["", "`_manifest.json` holds all of this as JSON, with the run's whole configuration; "
              "`python -m schemas validate DIR` checks the folder against it.", ""]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def write_card(directory: str | os.PathLike, manifest: Manifest) -> None:
    """Write ``_README.md`` and ``.huggingface.yaml`` into ``directory`` (local or remote)."""
    fs, base = resolve(directory)
    for name, text in ((CARD, card_markdown(manifest)), (HF_YAML, card_yaml(manifest))):
        with fs.open_output_stream(join(base, name)) as out:
            out.write(text.encode("utf-8"))
