"""Catalogue: model folders given to ``trainer.evaluate --model`` (the same loader serves pretraining,
fine-tuning, prediction and the benches). The original is a real tiny BERT saved by transformers with a
WordPiece tokenizer built from XQuAD English; each test copies and damages it. A folder that asks for its own
code is refused before transformers reads it, and nothing in it runs; a damaged file gives one line naming it."""
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoModel, BertConfig, BertModel

from hostile.outcomes import assert_failed_cleanly
from trainer.evaluate import main as evaluate_main
from trainer.models.loading import load_pretrained, load_tokenizer_from
from trainer_fixtures import wordpiece_tokenizer, xquad_rows

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Imported by transformers only if it is allowed to run the folder's code: the marker file proves it ran.
EVIL_MODULE = """\
from pathlib import Path
Path(__file__).with_name("THE-CHECKPOINT-CODE-RAN").write_text("ran")
from transformers import BertConfig as EvilConfig, BertModel as EvilModel, BertTokenizerFast as EvilTokenizer
"""
MARKER = "THE-CHECKPOINT-CODE-RAN"


@pytest.fixture(scope="module")
def model_folder(data_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "tiny-bert"
    texts = [row["context"] for row in xquad_rows(data_dir, "en", limit=8)]
    tokenizer = wordpiece_tokenizer(texts, vocab_size=300)
    tokenizer.save_pretrained(folder)
    BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(folder)
    return folder


@pytest.fixture
def folder_copy(model_folder, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(model_folder, copy)
    return copy


def _evaluate(folder: Path, tmp_path: Path) -> int:
    # A pair model needs no label set, so a plain encoder folder is a valid --model; loading fails first.
    return evaluate_main(["--model", str(folder), "--task", "pair", "--data", f"en={tmp_path / 'unread.tsv'}",
                          "--device", "cpu"])


def _edit_json(path: Path, **changes) -> None:
    value = json.loads(path.read_text(encoding="utf-8"))
    value.update(changes)
    path.write_text(json.dumps(value), encoding="utf-8")


def test_original_folder_loads(model_folder):
    # The checks refuse nothing that transformers wrote itself.
    tokenizer = load_tokenizer_from(model_folder)
    assert tokenizer.tokenize("the normans")[:1] == ["the"]
    assert load_pretrained(AutoModel, model_folder).config.hidden_size == 32


@pytest.mark.parametrize("known_type", [False, True], ids=["unknown_model_type", "bert_with_auto_map"])
def test_checkpoint_that_asks_to_run_its_code(folder_copy, known_type):
    # What a hub repository with custom code looks like. Asked without trust_remote_code, transformers would
    # prompt "Do you wish to run the custom code? [y/N]" and import evil.py on "y". The command runs in a
    # process of its own with stdin closed: a prompt would fail or hang there, not pass.
    _edit_json(folder_copy / "config.json", model_type="bert" if known_type else "evil-bert",
               auto_map={"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"})
    (folder_copy / "evil.py").write_text(EVIL_MODULE, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "trainer.evaluate", "--model", str(folder_copy), "--task", "pair",
                           "--data", "en=unread.tsv", "--device", "cpu"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert "[y/N]" not in done.stdout + done.stderr
    assert_failed_cleanly(done.returncode, done.stderr, str(folder_copy / "config.json"), "refused", "auto_map")
    assert not (folder_copy / MARKER).exists(), "the checkpoint's code ran"


def test_tokenizer_config_that_asks_to_run_its_code(folder_copy, tmp_path, capsys):
    _edit_json(folder_copy / "tokenizer_config.json", auto_map={"AutoTokenizer": ["evil.EvilTokenizer", None]})
    (folder_copy / "evil.py").write_text(EVIL_MODULE, encoding="utf-8")
    assert_failed_cleanly(_evaluate(folder_copy, tmp_path), capsys.readouterr().err,
                          str(folder_copy / "tokenizer_config.json"), "refused", "auto_map")
    assert not (folder_copy / MARKER).exists(), "the checkpoint's code ran"


def test_model_type_transformers_does_not_know(folder_copy, tmp_path, capsys):
    _edit_json(folder_copy / "config.json", model_type="evil-bert")
    assert_failed_cleanly(_evaluate(folder_copy, tmp_path), capsys.readouterr().err,
                          str(folder_copy / "config.json"), "refused", "'evil-bert'")


@pytest.mark.parametrize("name", ["tokenizer.json", "config.json", "tokenizer_config.json"])
def test_json_file_cut_short(folder_copy, tmp_path, capsys, name):
    path = folder_copy / name
    text = path.read_text(encoding="utf-8")
    path.write_text(text[:len(text) // 2], encoding="utf-8")
    assert_failed_cleanly(_evaluate(folder_copy, tmp_path), capsys.readouterr().err, str(path),
                          "not valid JSON", "line ")


def test_tokenizer_json_that_is_no_tokenizer(folder_copy, tmp_path, capsys):
    # Valid JSON, wrong content: transformers fails with a bare KeyError('added_tokens') naming nothing.
    path = folder_copy / "tokenizer.json"
    path.write_text(json.dumps({"version": "1.0", "model": {"type": "WordPiece"}}), encoding="utf-8")
    assert_failed_cleanly(_evaluate(folder_copy, tmp_path), capsys.readouterr().err, str(path),
                          "valid JSON but not a tokenizer")


def test_config_json_in_utf16(folder_copy, tmp_path, capsys):
    path = folder_copy / "config.json"
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))
    assert_failed_cleanly(_evaluate(folder_copy, tmp_path), capsys.readouterr().err, str(path),
                          "is not valid UTF-8")


def _safetensors_header(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]), data[8 + length:]


def test_safetensors_header_lying_about_sizes(folder_copy, tmp_path, capsys):
    path = folder_copy / "model.safetensors"
    header, body = _safetensors_header(path)
    name = next(key for key in header if key != "__metadata__")
    header[name]["data_offsets"][1] += 4096  # the tensor claims bytes past its neighbour's start
    raw = json.dumps(header).encode("utf-8")
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)
    assert_failed_cleanly(_evaluate(folder_copy, tmp_path), capsys.readouterr().err, str(path),
                          "not a readable safetensors file")


def test_safetensors_cut_short(folder_copy, tmp_path, capsys):
    path = folder_copy / "model.safetensors"
    path.write_bytes(path.read_bytes()[:1000])  # inside the header
    assert_failed_cleanly(_evaluate(folder_copy, tmp_path), capsys.readouterr().err, str(path),
                          "not a readable safetensors file")
