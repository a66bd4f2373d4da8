"""Shared helpers of the report tests (no tests here): the first sentences of the Europarl parallel NER gold
standard, as CoNLL (the labelled side) and as one tokenised sentence per line (the other side's text)."""
from __future__ import annotations

from pathlib import Path

RUNNER = ["--runner", "FnApiRunner"]
SAMPLES = Path(__file__).resolve().parent.parent / "pipelines" / "samples"


def europarl_head(data_dir: Path, lang: str, sentences: int, out: Path) -> tuple[Path, Path]:
    """``out/<lang>.conll`` with the first ``sentences`` sentences of ``<lang>-europarl.test.conll02`` and
    ``out/<lang>.txt`` with their tokens, space-separated, one sentence per line."""
    out.mkdir(parents=True, exist_ok=True)
    blocks = (data_dir / "ner" / f"{lang}-europarl.test.conll02").read_text(encoding="utf-8").strip().split("\n\n")
    head = blocks[:sentences]
    conll, text = out / f"{lang}.conll", out / f"{lang}.txt"
    conll.write_text("\n\n".join(head) + "\n\n", encoding="utf-8")
    text.write_text("".join(" ".join(line.split("\t")[0] for line in block.splitlines()) + "\n" for block in head),
                    encoding="utf-8")
    return conll, text
