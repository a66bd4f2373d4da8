"""Paper 003 (GEM), cross-lingual: does fine-tuning English NER under GEM (MLM and XSR memories) keep the
encoder's cross-lingual retrieval and its zero-shot transfer better than plain fine-tuning?

    python bench/xl_gem.py [--quick] [--model DIR] [--out DIR] [--data DIR]
    python -m bench --only xl_gem [--quick]

Arms: (a) plain fine-tuning (``constraint.name=none``); (b) GEM (``constraint.name=gem``), both from
``configs/finetune_ner_gem.yaml`` (tagging head, BIO, lr 1e-5 as paper 003; XSR memories es-en/de-en from the
Tatoeba files, the config's; the MLM memory English only, paper 003's main setting "MLM (en)" - each MLM memory
batch is a forward and backward through e5's 250k-word output layer, the dearest part of a step) on CoNLL-2003
English train (``ner/conll2003/eng.train``), seeds
0, 1, 2. Measured:

- XSR P@1 (and P@5/10) before and after fine-tuning on every Tatoeba pair of ``parallel/tatoeba.*-eng.*`` found
  (``probes.xsr``; the probe slice is the part of each file after the memories' 500 lines, so no memory sentence
  is probed), and the MLM perplexity probes of the memories' files;
- zero-shot NER F1 on every ``ner/conll2002/*.testb`` found (es, nl; Latin-1) and CoNLL-2003 English testb (the
  source-language reference), scored by ``trainer.evaluate`` on each kept checkpoint (``<out>/<arm>/seed-S``,
  without optimizer state).

Full budget (set by time alone, before any score of it was seen; no model selection on a scored set: the last
step is the model): 40 steps x batch 16 (640 of the 14k sentences), max length 128, memories of 500 sentences
(pairs) with batches of 8 (the paper's 16 would double the memories' cost), probes of 100, the first 300
sentences of each test file; 2 arms x 3 seeds = 6 runs. The projected time on 2 cores is computed from what a run
measured (``projection`` in the JSON; ``--quick`` projects the full run). A --quick run with the config's five
memories (MLM en/es/de, batch 16) on the shared machine (load 4-9) took 8.9-12 s per plain step and 30-130 s per
GEM step; this budget's time on 2 idle cores is not measured (the estimate in docs/cross_lingual.md).
``--quick``: 4 steps, seeds 0 and 1, probes of 32, 20 sentences per test file, the same lengths.
Output: ``<out>/xl_gem.json`` and ``.md`` (default out/bench/xl_gem, quick: out/bench/xl_gem_quick).
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench._xl import (Gold, arm_table, conll2002_files, data_root, default_model, f1_scale,  # noqa: E402
                       finetune_run, out_dir, parse_command, per_step_seconds, print_results, projected_row,
                       seed_summary, spread, tatoeba_pairs, timed_scores, write_results)
from bench.finetune_qa import Clock  # noqa: E402

NAME = "xl_gem"
CONFIG = ROOT / "configs" / "finetune_ner_gem.yaml"
ARMS = {"none": "(a) plain fine-tuning", "gem": "(b) GEM (MLM + XSR memories)"}


class Budget(NamedTuple):
    steps: int = 40
    batch_size: int = 16
    max_length: int = 128
    memory_size: int = 500
    memory_batch: int = 8
    probe_size: int = 100
    seeds: tuple[int, ...] = (0, 1, 2)
    max_eval: int | None = 300  # sentences per test file (its first N)
    threads: int = 2


FULL = Budget()
QUICK = Budget(steps=4, probe_size=32, seeds=(0, 1), max_eval=20)


def memories(data: str | None) -> dict:
    """The memories, read from the data folder (the config's paths assume ../shared/data): the config's XSR pairs
    and its English MLM file."""
    parallel = data_root(data) / "parallel"
    return {"mlm": {"en": str(parallel / "tatoeba.spa-eng.eng")},
            "xsr": {"es_en": [str(parallel / "tatoeba.spa-eng.spa"), str(parallel / "tatoeba.spa-eng.eng")],
                    "de_en": [str(parallel / "tatoeba.deu-eng.deu"), str(parallel / "tatoeba.deu-eng.eng")]}}


def run(budget: Budget, out: Path, model: str | None = None, data: str | None = None) -> dict:
    torch.set_num_threads(budget.threads)
    log = logging.getLogger(f"bench.{NAME}")
    out = Path(out).resolve()
    base = default_model(model)
    pairs = tatoeba_pairs(data)
    english = data_root(data) / "ner" / "conll2003"
    golds = {"conll2002": list(conll2002_files(data).values()),
             "conll2003": [Gold("en", english / "eng.testb")]}
    print(f"{NAME}: model {base}; {len(ARMS)} arms x seeds {list(budget.seeds)}, {budget.steps} steps x "
          f"{budget.batch_size}, max length {budget.max_length}; XSR probes {', '.join(pairs)}; scored on "
          f"{', '.join(f'{g}/{x.lang}' for g, files in golds.items() for x in files)} "
          f"({budget.max_eval or 'all'} sentences each); projection at the end", flush=True)
    total = Clock().__enter__()
    memory_files = memories(data)
    runs = []
    for arm in ARMS:
        for seed in budget.seeds:
            where = out / arm / f"seed-{seed}"
            overrides = [f"model.name_or_path={base}", f"data.train={{en: {english / 'eng.train'}}}", "data.eval={}",
                         f"data.batch_size={budget.batch_size}", f"data.max_length={budget.max_length}",
                         f"train.total_steps={budget.steps}", f"train.seed={seed}", "train.checkpoint_every=0",
                         f"train.log_every={max(1, min(50, budget.steps // 2))}", "evaluation.every=0",
                         "evaluation.select=null", "evaluation.final=false", f"constraint.name={arm}",
                         f"constraint.memories.mlm={json.dumps(memory_files['mlm'])}",
                         f"constraint.memories.xsr={json.dumps(memory_files['xsr'])}",
                         f"constraint.memories.size={budget.memory_size}",
                         f"constraint.memories.batch_size={budget.memory_batch}", f"probes.size={budget.probe_size}",
                         f"probes.xsr={json.dumps({k: [str(a), str(b)] for k, (a, b) in pairs.items()})}"]
            log.info("fine-tuning %s, seed %d", arm, seed)
            figures = finetune_run(CONFIG, overrides, where)
            scores, eval_wall, sentences = timed_scores(Path(figures["checkpoint"]), golds, where, budget.max_eval)
            xsr = figures["retention"]["xsr"]
            scores.update({f"xsr-before/{k}": v["before"] for k, v in xsr.items()})
            scores.update({f"xsr-after/{k}": v["after"] for k, v in xsr.items()})
            runs.append({"arm": arm, "seed": seed, "scores": scores, "eval_wall": eval_wall, "sentences": sentences,
                         **figures})
    total.__exit__()
    summaries = {arm: seed_summary(r for r in runs if r["arm"] == arm) for arm in ARMS}
    figures = {"budget": budget._asdict(), "model": str(base), "runs": runs, "summary": summaries,
               "total_wall": total.wall, "total_cpu": total.cpu}
    figures["projection"] = project(figures, FULL)
    write_results(out, NAME, figures, markdown(figures))
    return figures


def project(figures: dict, full: Budget) -> dict:
    """Minutes of the full budget from this run's wall time per step, per scored sentence and per run besides
    (loading, probes before and after, saving)."""
    runs = figures["runs"]
    step = per_step_seconds(runs)
    fixed = sum(r["wall"] - r["train_wall"] for r in runs) / max(1, len(runs))
    per_sentence = sum(r["eval_wall"] for r in runs) / max(1, sum(r["sentences"] for r in runs))
    sentences = sum(r["sentences"] for r in runs) / max(1, len(runs)) * (
        (full.max_eval or 1) / max(1, figures["budget"]["max_eval"] or 1))
    probes = full.probe_size / max(1, figures["budget"]["probe_size"])
    n = len(ARMS) * len(full.seeds)
    seconds = {"training": n * full.steps * step, "loading and probes": n * fixed * probes,
               "scoring": n * sentences * per_sentence}
    return {"per_step_s": step, "per_sentence_s": per_sentence, "phases_min": {k: v / 60 for k, v in seconds.items()},
            "total_min": sum(seconds.values()) / 60}


def markdown(figures: dict) -> str:
    b, s = figures["budget"], figures["summary"]
    lines = [f"# {NAME}: model {figures['model']}", "", f"{b['steps']} steps x {b['batch_size']}, max length "
             f"{b['max_length']}, seeds {b['seeds']}, {b['max_eval'] or 'all'} sentences per test file.", "",
             "## Zero-shot NER F1 (entity level), mean ± std over seeds", ""]
    ner = {ARMS[a]: {c: v for c, v in s[a].items() if not c.startswith("xsr")} for a in ARMS}
    lines += arm_table(ner, ("f1",), scale=f1_scale(ner))
    lines += ["", "## XSR P@1 on the Tatoeba probes, before → after fine-tuning, mean ± std over seeds", "",
              "| arm | " + " | ".join(sorted({c.split('/', 1)[1] for a in ARMS for c in s[a] if c.startswith('xsr-')}))
              + " |"]
    names = sorted({c.split("/", 1)[1] for a in ARMS for c in s[a] if c.startswith("xsr-")})
    lines.append("|---|" + "---|" * len(names))
    for arm in ARMS:
        # The retention probes report P@k in percent already.
        cells = [f"{spread(s[arm][f'xsr-before/{n}']['p@1'])} → {spread(s[arm][f'xsr-after/{n}']['p@1'])}"
                 for n in names]
        lines.append(f"| {ARMS[arm]} | " + " | ".join(cells) + " |")
    p = figures["projection"]
    lines += ["", f"Whole run: {figures['total_wall']:.0f} s wall, {figures['total_cpu']:.0f} s CPU; "
              f"{p['per_step_s']:.2f} s per step (both arms). Projected full run: **{p['total_min']:.0f} min** ("
              + ", ".join(f"{k} {v:.1f}" for k, v in p["phases_min"].items()) + ")."]
    return "\n".join(lines) + "\n"


def bench_rows(quick: bool = False) -> list[tuple[str, str, str, str]]:
    figures = run(QUICK if quick else FULL, out_dir(NAME, quick))
    rows = []
    for arm, summary in figures["summary"].items():
        for column, stats in summary.items():
            metric = "p@1" if column.startswith("xsr") else "f1"
            rows.append((NAME, f"{ARMS[arm]}: {column} {metric}", spread(stats[metric]),
                         f"{stats[metric]['runs']} seeds"))
    rows.append(projected_row(NAME, figures))
    return rows


def main(argv: list[str] | None = None) -> None:
    args, out = parse_command(NAME, __doc__, "4 steps, 2 seeds, small probes and test slices", argv)
    run(QUICK if args.quick else FULL, out, args.model, args.data)
    print_results(out, NAME)


if __name__ == "__main__":
    main()
