"""Shared helpers of the fine-tuning CLI tests (no tests here): tiny configs written as YAML, runs of
``python -m trainer.finetune`` in-process, and task inputs in their released layouts built from real data."""
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
import yaml

from schemas import KINDS, Manifest, ShardInfo, write_manifest
from schemas.conll import read_conll
from schemas.tags import spans_from_tags
from trainer.finetune import main as finetune_main

TINY_BERT = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 64, "max_position_embeddings": 192}


def tiny_config(output_dir: Path, task: dict, data: dict, **sections) -> dict:
    """A from-scratch 2-layer BERT config with a tokenizer trained on the task text; ``sections`` override."""
    config = {
        "output_dir": str(output_dir),
        "task": task,
        "model": {"from_scratch": dict(TINY_BERT)},
        "tokenizer": {"train_vocab_size": 1200},
        "data": {"batch_size": 8, "eval_batch_size": 16, "max_length": 128, "max_query_length": 32,
                 "doc_stride": 48, **data},
        "train": {"lr": 2e-3, "warmup_steps": 0, "total_steps": 3, "log_every": 1, "precision": "fp32",
                  "seed": 0},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    return config


def save_tiny_mlm_backbone(tokenizer, directory: Path, seed: int) -> Path:
    """A randomly initialised BERT of ``TINY_BERT``'s sizes with its MLM head (seeded by ``seed``) and
    ``tokenizer``, saved to ``directory``: a backbone to fine-tune from whose head the MLM probes can score."""
    from transformers import BertConfig, BertForMaskedLM

    sizes = {key: value for key, value in TINY_BERT.items() if key != "model_type"}
    torch.manual_seed(seed)
    BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                               **sizes)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def run_finetune(tmp_path: Path, config: dict, *extra: str, name: str = "config.yaml") -> int:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return finetune_main(["--config", str(path), *extra])


def read_records(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (Path(output_dir) / "metrics.jsonl").read_text().splitlines() if line]


def read_report(output_dir: Path) -> dict:
    return json.loads((Path(output_dir) / "eval_report.json").read_text(encoding="utf-8"))


def write_tagged_dataset(directory: Path, conll_path: Path, lang: str, limit: int, source_lang: str = "en") -> Path:
    """A ``tagged`` dataset (the projection pipeline's output layout) from a real CoNLL file: the German side of
    Europarl stands in for English labels projected onto German."""
    rows = []
    for sentence in read_conll(conll_path, tag_scheme="BIOES"):
        if len(rows) == limit:
            break
        rows.append({"id": f"{lang}-{sentence.index}", "lang": lang, "tokens": sentence.tokens, "tags": sentence.tags,
                     "corpus": conll_path.name, "sentence_index": sentence.index,
                     "source_id": f"{source_lang}-{sentence.index}", "source_lang": source_lang,
                     "projection": None})
    directory.mkdir(parents=True, exist_ok=True)
    name = "part-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=KINDS["tagged"].schema_with_metadata()), directory / name)
    write_manifest(directory, Manifest(kind="tagged", schema_version=KINDS["tagged"].version, command=["test"],
                                       config={"tag_scheme": "BIOES"}, code_version="test",
                                       input_files=[str(conll_path)], shards=[ShardInfo(name, len(rows))]))
    return directory


def write_pair_tsv(path: Path, sentences: list[str], count: int, offset: int = 0) -> Path:
    """A PAWS-X-layout TSV (id, sentence1, sentence2, label) of real sentences: a pair is a paraphrase (1) when
    both sides are the same sentence, not (0) when the second is another sentence."""
    lines = ["id\tsentence1\tsentence2\tlabel"]
    for n in range(count):
        first = sentences[offset + n]
        same = n % 2 == 0
        second = first if same else sentences[(offset + n + count // 2 + 1) % len(sentences)]
        lines.append(f"{n}\t{first}\t{second}\t{1 if same else 0}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tatoeba_pair_files(data_dir: Path, directory: Path) -> dict[str, Path]:
    """English and German pair TSVs (``write_pair_tsv``) from the Tatoeba deu-eng sentences, lines aligned, so
    that ``en_*`` and ``de_*`` pairs of the same id translate each other: ``{en,de}_train`` (24 pairs) and
    ``{en,de}_dev`` (8 pairs from line 200 on)."""
    parallel = data_dir / "parallel"
    lines = {lang: [line.strip() for line in (parallel / f"tatoeba.deu-eng.{lang}").read_text().splitlines()
                    if line.strip()] for lang in ("eng", "deu")}
    return {name: write_pair_tsv(directory / f"{name}.tsv", lines["deu" if name.startswith("de") else "eng"], count,
                                 offset) for name, count, offset in
            (("en_train", 24, 0), ("de_train", 24, 0), ("de_dev", 8, 200), ("en_dev", 8, 200))}


def write_semeval_from_conll(path: Path, conll_path: Path, count: int, offset: int = 0) -> Path:
    """A SemEval-2014-layout ABSA file of real sentences: the sentences of a CoNLL file (words joined by spaces)
    with their entities as aspect terms, the polarity fixed by the entity type (PER positive, ORG negative,
    LOC and MISC neutral). No ABSA data is in shared/data; the labels are made by rule, the text is real."""
    from xml.sax.saxutils import quoteattr

    polarity = {"PER": "positive", "ORG": "negative", "LOC": "neutral", "MISC": "neutral"}
    sentences = [s for s in read_conll(conll_path, tag_scheme="BIO")][offset:offset + count]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<sentences>"]
    for sentence in sentences:
        text = " ".join(sentence.tokens)
        starts = [sum(len(t) + 1 for t in sentence.tokens[:n]) for n in range(len(sentence.tokens))]
        lines.append(f'  <sentence id="{sentence.index}">')
        lines.append(f"    <text>{text.replace('&', '&amp;').replace('<', '&lt;')}</text>")
        lines.append("    <aspectTerms>")
        for span in spans_from_tags(list(sentence.tags)):
            start, end = starts[span.start], starts[span.end - 1] + len(sentence.tokens[span.end - 1])
            lines.append(f"      <aspectTerm term={quoteattr(text[start:end])} polarity=\"{polarity[span.label]}\" "
                         f"from=\"{start}\" to=\"{end}\"/>")
        lines += ["    </aspectTerms>", "  </sentence>"]
    lines.append("</sentences>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
