"""Paper 002 (label projection), measured end to end: is the German training data that ``pipelines.project_labels``
makes worth making? NER on the Europarl parallel gold (799 sentences, each side its own gold), scored on German
gold by k-fold.

    python bench/xl_projection.py [--quick] [--model DIR] [--out DIR] [--data DIR]
    python -m bench --only xl_projection [--quick]

1. projection: ``python -m pipelines.project_labels`` projects the English gold labels of
   ``ner/en-europarl.test.conll02`` onto the German sentences of ``ner/de-europarl.test.conll02`` (its tokens,
   ``--pretokenized``; the pipeline's default aligner, symmetrisation and projection method), the German gold
   labels unseen; its projected F1 against the German gold is reported too;
2. k = 4 contiguous folds of the 799 sentence pairs (whole stretches of debate stay together); for each fold the
   models train on the other three folds only and are scored on the fold's German gold, so no scored sentence -
   nor its English translation - is ever trained on. Arms (``configs/finetune_ner.yaml``: tagging head, BIOES):
   (a) zero-shot: English gold only; (b) translate-train: the projected German only; (c) bilingual: both;
3. every fine-tuned checkpoint (kept, without optimizer state, under ``<out>/<arm>/fold-F``) is scored by
   ``trainer.evaluate`` on its fold's German gold (``<out>/folds/fold-F/gold.de.conll``); F1 mean ± std over the
   folds (seed = fold index). With more ``<lang>-europarl.test.conll02`` files in the data folder, each
   non-English one is a target of its own (projected, folded and scored the same way).

Full budget (set by time alone, before any score of it was seen; no model selection: the last step is the
model): 60 steps x batch 16 per run (~1.6 epochs of a fold's 599 training sentences), lr 5e-5 (the config's 1e-5
is paper 002's XLM-R-large rate for 10k steps), max length 128; 3 arms x 4 folds = 12 runs per target language.
The projected time on 2 cores is computed from what a run measured (``projection`` in the JSON; ``--quick``
projects the full run). A --quick run on the shared machine (load ~4.4; 331 CPU s in 409 s wall) measured 7.6 s
per step and projected 159 min for a first budget of 100 steps; at 60 steps that is ~98 min at that load, and
about half on 2 idle cores if the two threads scale (an estimate, not a measurement). ``--quick``: 4 steps, 2 folds scored
(of the 4), the same lengths. Output: ``<out>/xl_projection.json`` and ``.md`` (default out/bench/xl_projection,
quick: out/bench/xl_projection_quick).
"""
from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench._xl import (Gold, arm_table, default_model, europarl_files, f1_scale, finetune_run,  # noqa: E402
                       out_dir, parse_command, per_step_seconds, print_results, projected_row, seed_summary,
                       spread, timed_scores, write_results)
from bench.finetune_qa import Clock  # noqa: E402
from schemas.conll import write_conll as conll_text  # noqa: E402
from trainer.data.readers import DataSource, read_sentences  # noqa: E402
from trainer.tasks.metrics import entity_scores  # noqa: E402

NAME = "xl_projection"
CONFIG = ROOT / "configs" / "finetune_ner.yaml"
ARMS = {"zero-shot": "(a) zero-shot: English gold", "translate-train": "(b) translate-train: projected German",
        "bilingual": "(c) bilingual: English gold + projected German"}


class Budget(NamedTuple):
    steps: int = 60
    batch_size: int = 16
    lr: float = 5e-5
    max_length: int = 128
    folds: int = 4
    scored_folds: int | None = None  # None: every fold
    threads: int = 2


FULL = Budget()
QUICK = Budget(steps=4, scored_folds=2)


def write_conll(path: Path, sentences: Sequence[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(conll_text([(s["tokens"], s["tags"]) for s in sentences]), encoding="utf-8")
    return path


def fold_bounds(n: int, k: int) -> list[tuple[int, int]]:
    """k contiguous folds of n sentences, sizes differing by at most one."""
    edges = [round(i * n / k) for i in range(k + 1)]
    return list(zip(edges, edges[1:]))


def project(source: Path, target: Gold, out: Path) -> tuple[list[dict], dict]:
    """The target's gold tokens, labelled by projecting the source's gold labels through the pipeline."""
    gold = read_sentences(DataSource(target.lang, str(target.path)))
    text = out / f"tokens.{target.lang}.txt"
    text.parent.mkdir(parents=True, exist_ok=True)
    text.write_text("".join(" ".join(s["tokens"]) + "\n" for s in gold), encoding="utf-8")
    conll = out / f"projected.{target.lang}.conll"
    command = [sys.executable, "-m", "pipelines.project_labels", "--source", str(source), "--src-lang", "en",
               "--translations", str(text), "--tgt-lang", target.lang, "--pretokenized", "--output",
               str(out / "projected"), "--conll-out", str(conll), "--runner=FnApiRunner"]
    started = time.perf_counter()
    with (out / f"project_labels.{target.lang}.log").open("w", encoding="utf-8") as log:
        done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"pipelines.project_labels failed (exit {done.returncode}): see {log.name} in {out}")
    projected = read_sentences(DataSource(target.lang, str(conll)))
    if [s["tokens"] for s in projected] != [s["tokens"] for s in gold]:
        raise SystemExit(f"{conll}: the projected sentences are not the gold's, sentence for sentence")
    scores = entity_scores([s["tags"] for s in gold], [s["tags"] for s in projected])
    return projected, {"command": command, "wall": time.perf_counter() - started, "sentences": len(projected),
                       "scores": scores}


def run(budget: Budget, out: Path, model: str | None = None, data: str | None = None) -> dict:
    torch.set_num_threads(budget.threads)
    log = logging.getLogger(f"bench.{NAME}")
    out = Path(out).resolve()
    base = default_model(model)
    files = europarl_files(data)
    if "en" not in files:
        raise SystemExit("the English Europarl gold (ner/en-europarl.test.conll02) is the projection's source")
    targets = [g for lang, g in files.items() if lang != "en"]
    scored = list(range(budget.folds))[:budget.scored_folds]
    print(f"{NAME}: model {base}; targets {', '.join(g.lang for g in targets)}; {len(ARMS)} arms x folds {scored} "
          f"of {budget.folds}, {budget.steps} steps x {budget.batch_size}, lr {budget.lr:g}, max length "
          f"{budget.max_length}; projection at the end", flush=True)
    total = Clock().__enter__()
    english = read_sentences(DataSource("en", str(files["en"].path)))
    projections, runs = {}, []
    for target in targets:
        projected, projections[target.lang] = project(files["en"].path, target, out)
        gold = read_sentences(DataSource(target.lang, str(target.path)))
        if len(gold) != len(english):
            raise SystemExit(f"{target.path}: {len(gold)} sentences, the English side has {len(english)}")
        for fold in scored:
            start, end = fold_bounds(len(gold), budget.folds)[fold]
            where = out / "folds" / target.lang / f"fold-{fold}"
            keep = [i for i in range(len(gold)) if not start <= i < end]
            train_en = write_conll(where / "train.en.conll", [english[i] for i in keep])
            train_x = write_conll(where / f"train.projected.{target.lang}.conll", [projected[i] for i in keep])
            scored_gold = Gold(target.lang, write_conll(where / f"gold.{target.lang}.conll", gold[start:end]))
            for arm in ARMS:
                overrides = [f"model.name_or_path={base}", f"data.train={{en: {train_en}}}", "data.eval={}",
                             "data.translated={}" if arm == "zero-shot" else f"data.translated={{{target.lang}: "
                                                                             f"{train_x}}}",
                             f"adaptation.name={arm}", f"data.batch_size={budget.batch_size}",
                             f"data.max_length={budget.max_length}", f"train.lr={budget.lr}",
                             f"train.total_steps={budget.steps}", f"train.seed={fold}", "train.checkpoint_every=0",
                             f"train.warmup_steps={max(1, budget.steps // 10)}",
                             f"train.log_every={max(1, min(10, budget.steps // 2))}", "evaluation.every=0",
                             "evaluation.final=false"]
                if arm != "zero-shot":
                    overrides.append(f"adaptation.target={target.lang}")
                log.info("%s, %s fold %d", arm, target.lang, fold)
                run_dir = out / arm / f"{target.lang}-fold-{fold}"
                figures = finetune_run(CONFIG, overrides, run_dir)
                scores, eval_wall, sentences = timed_scores(Path(figures["checkpoint"]), {"europarl": [scored_gold]},
                                                            run_dir, None)
                runs.append({"arm": arm, "target": target.lang, "fold": fold, "seed": fold, "scores": scores,
                             "eval_wall": eval_wall, "sentences": sentences, "train_sentences": len(keep), **figures})
    total.__exit__()
    summaries = {arm: seed_summary(r for r in runs if r["arm"] == arm) for arm in ARMS}
    figures = {"budget": budget._asdict(), "model": str(base), "projections": projections, "runs": runs,
               "summary": summaries, "total_wall": total.wall, "total_cpu": total.cpu}
    figures["projection"] = projected_time(figures, FULL, len(targets))
    write_results(out, NAME, figures, markdown(figures))
    return figures


def projected_time(figures: dict, full: Budget, targets: int) -> dict:
    """Minutes of the full budget from this run's wall time per step and per run besides (loading, scoring,
    saving), plus the projection pipeline's own time."""
    runs = figures["runs"]
    step = per_step_seconds(runs)
    fixed = sum(r["wall"] - r["train_wall"] + r["eval_wall"] for r in runs) / max(1, len(runs))
    n = len(ARMS) * (full.scored_folds or full.folds) * targets
    seconds = {"projection pipeline": sum(p["wall"] for p in figures["projections"].values()),
               "training": n * full.steps * step, "loading, scoring, saving": n * fixed}
    return {"per_step_s": step, "phases_min": {k: v / 60 for k, v in seconds.items()},
            "total_min": sum(seconds.values()) / 60}


def markdown(figures: dict) -> str:
    b = figures["budget"]
    lines = [f"# {NAME}: model {figures['model']}", "",
             f"{b['steps']} steps x {b['batch_size']}, lr {b['lr']:g}, max length {b['max_length']}; "
             f"{b['folds']} contiguous folds, each scored on its German gold after training on the others.", ""]
    lines += [f"- projected {lang}: {p['sentences']} sentences in {p['wall']:.0f} s; the projected labels against "
              f"the {lang} gold: " + ", ".join(f"{k} {v:.3f}" for k, v in p["scores"].items() if isinstance(v, float))
              for lang, p in figures["projections"].items()]
    lines += ["", "## Entity F1 on the held-out fold's gold, mean ± std over folds", ""]
    lines += arm_table({ARMS[a]: s for a, s in figures["summary"].items()}, ("f1",), f1_scale(figures["summary"]))
    p = figures["projection"]
    lines += ["", f"Whole run: {figures['total_wall']:.0f} s wall, {figures['total_cpu']:.0f} s CPU; "
              f"{p['per_step_s']:.2f} s per step. Projected full run: **{p['total_min']:.0f} min** ("
              + ", ".join(f"{k} {v:.1f}" for k, v in p["phases_min"].items()) + ")."]
    return "\n".join(lines) + "\n"


def bench_rows(quick: bool = False) -> list[tuple[str, str, str, str]]:
    figures = run(QUICK if quick else FULL, out_dir(NAME, quick))
    rows = [(NAME, f"{ARMS[arm]}: {column} F1", spread(stats["f1"]), f"{stats['f1']['runs']} folds")
            for arm, summary in figures["summary"].items() for column, stats in summary.items()]
    rows.append(projected_row(NAME, figures))
    return rows


def main(argv: list[str] | None = None) -> None:
    args, out = parse_command(NAME, __doc__, "4 steps, 2 of the 4 folds", argv)
    run(QUICK if args.quick else FULL, out, args.model, args.data)
    print_results(out, NAME)


if __name__ == "__main__":
    main()
