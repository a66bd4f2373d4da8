"""Paper 001 (mPMR), cross-lingual: does WAE continued pretraining on multilingual anchor MRC rows help extractive
QA trained on English only, scored zero-shot in other languages? With the loss-mask ablation as an extra arm.

    python bench/xl_mpmr.py [--quick] [--model DIR] [--out DIR] [--data DIR]
    python -m bench --only xl_mpmr [--quick]

1. rows: ``python -m pipelines.wiki_mrc`` (stochastic answer positions, ``--min-mentions 1``, C = 100 words) on
   every dump of ``$POLYSPAN_DATA/wiki``, one run per language (the language is the file name's ``<lang>wiki-``
   prefix; bg is word-split with the ru tokenizer, which the pipeline requires for it);
2. arms: (a) the model as is (default multilingual-e5-small, ``bench/e5_checkpoint.py``, built under
   out/e5-small on first use); (b) + WAE (``trainer.pretrain``, ``configs/bench_pretrain_effect_wae.yaml``)
   on all the rows with the project's loss mask (``objective.options.loss_mask=spans``: context spans and
   (0, 0)); (c) the same with the authors' mask (``loss_mask=authors``: also every (0, j) of a context token);
3. extractive QA (``configs/bench_pretrain_effect_finetune.yaml``: mPMR's extractor head, lr 1e-4) trained on
   TyDi QA GoldP English train only, in two settings: "full" (batches drawn from all 3,696 questions) and
   "few-shot" (a keyed sample of 64 questions), seeds 0, 1, 2 each;
4. every fine-tuned checkpoint (kept, without optimizer state, under ``<out>/finetune-<arm>/<setting>/seed-S``)
   is scored with ``trainer.evaluate`` on every ``qa/tydiqa-goldp/*_tydiqa_dev.json`` and every
   ``qa/xquad/xquad.*.json`` found (English included, as the in-language reference): EM/F1 mean ± std over the
   seeds, per language. Rerun on more with ``python -m trainer.evaluate --model <that folder> --data ...``.

Full budget (set by time alone, before any score of it was seen; nothing is tuned on a scored set): WAE 40 steps
x batch 16, max length 256, lr 5e-5 (the config's); fine-tuning 40 steps x batch 8, max length 256, per run; the
first 60 questions of each dev file; seeds 0, 1, 2; 3 arms x 2 settings x 3 seeds = 18 runs, 18 x 10 files
scored. The run computes its projected time from what it measured (``projection`` in the JSON). A --quick run
on the shared 2-core machine (load 5-15, the process got 0.44 of a core on average: 975 CPU s in 2,200 s wall)
projected 444 min for the earlier budget (60 WAE steps, 100 questions per file); scaled by the share of the cores
it got (x 0.44 / 2) and to this budget that is ~75 min on 2 idle cores - an estimate, not a measurement, and
pretrain_effect.py found such scaling understates an idle run by up to a third (so up to ~100 min): the first
full run on a quiet machine settles it. ``--quick``: 4 WAE steps, 4 fine-tuning steps, seeds 0 and 1, 8
questions per file, the same lengths (so its per-step times project the full run).
Output: ``<out>/xl_mpmr.json`` and ``.md`` (default out/bench/xl_mpmr, quick: out/bench/xl_mpmr_quick).
"""
from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench import pretrain_effect as pe  # noqa: E402
from bench._xl import (arm_table, data_root, default_model, finetune_run, out_dir, parse_command,  # noqa: E402
                       per_step_seconds, print_results, projected_row, seed_summary, timed_scores, tydi_dev_files,
                       write_results, xquad_files)
from bench.finetune_qa import Clock  # noqa: E402

NAME = "xl_mpmr"
FINETUNE_CONFIG = ROOT / "configs" / "bench_pretrain_effect_finetune.yaml"
# A language the word tokenizer has no rules for is split with a related one's (the pipeline's --tokenizer-lang).
TOKENIZER_STAND_INS = {"bg": "ru"}
ARMS = {"base": ("(a) model as is", None), "wae": ("(b) + WAE, project's mask", "spans"),
        "wae-authors": ("(c) + WAE, authors' mask", "authors")}
SETTINGS = ("full", "few-shot")
# The estimate of the docstring (a loaded --quick run scaled to idle cores); the run's own projection is in its JSON.
PROJECTED_MIN = 75.0


class Budget(NamedTuple):
    pretrain_steps: int = 40
    pretrain_batch: int = 16
    finetune_steps: int = 40
    batch_size: int = 8
    max_length: int = 256
    few_shot: int = 64
    seeds: tuple[int, ...] = (0, 1, 2)
    max_dev: int | None = 60  # questions per dev file (its first N)
    context_words: int = 100
    threads: int = 2


FULL = Budget()
QUICK = Budget(pretrain_steps=4, finetune_steps=4, seeds=(0, 1), max_dev=8)


def wiki_dumps(data: str | None, dumps: list[Path] | None = None) -> dict[str, list[Path]]:
    """Dumps by language: every ``<lang>wiki-*`` file of the data folder's wiki/ (or ``dumps``)."""
    found: dict[str, list[Path]] = {}
    for path in dumps if dumps is not None else sorted((data_root(data) / "wiki").glob("*wiki-*")):
        match = re.match(r"([a-z]+)wiki-", path.name)
        found.setdefault(match.group(1) if match else "en", []).append(path)
    if not found:
        raise SystemExit(f"no dumps under {data_root(data) / 'wiki'}: set POLYSPAN_DATA to the shared data folder")
    return found


def header(budget: Budget, model: Path) -> str:
    runs = len(ARMS) * len(SETTINGS) * len(budget.seeds)
    projected = f"~{PROJECTED_MIN:.0f} min (estimate)" if budget == FULL else "see the end"
    return (f"{NAME}: model {model}; WAE {budget.pretrain_steps} steps x {budget.pretrain_batch}, fine-tuning "
            f"{budget.finetune_steps} steps x {budget.batch_size} ({runs} runs: {len(ARMS)} arms x {SETTINGS} x "
            f"seeds {list(budget.seeds)}), max length {budget.max_length}, few-shot {budget.few_shot}, "
            f"{budget.max_dev or 'all'} questions per dev file, {budget.threads} threads; projected full run on "
            f"2 cores: {projected}")


def run(budget: Budget, out: Path, model: str | None = None, data: str | None = None,
        dumps: list[Path] | None = None) -> dict:
    torch.set_num_threads(budget.threads)
    log = logging.getLogger(f"bench.{NAME}")
    out = Path(out).resolve()
    base = default_model(model)
    print(header(budget, base), flush=True)
    golds = {"tydiqa": list(tydi_dev_files(data).values()), "xquad": list(xquad_files(data).values())}
    train_file = data_root(data) / "qa" / "tydiqa-goldp" / "english_tydiqa_train.json"
    if not train_file.is_file():
        raise SystemExit(f"{train_file} not found: set POLYSPAN_DATA to the shared data folder")
    total = Clock().__enter__()

    pe_budget = pe.Budget(context_words=budget.context_words, pretrain_steps=budget.pretrain_steps)
    rows = {}
    for lang, files in wiki_dumps(data, dumps).items():
        extra = ["--tokenizer-lang", TOKENIZER_STAND_INS[lang]] if lang in TOKENIZER_STAND_INS else []
        log.info("rows: wiki_mrc --lang %s on %s", lang, ", ".join(p.name for p in files))
        rows[lang] = pe.build_rows("stochastic", files, out / f"rows-{lang}", pe_budget, lang, extra)

    backbones, pretraining = {}, {}
    for arm, (_, mask) in ARMS.items():
        if mask is None:
            backbones[arm] = str(base)
            continue
        arm_budget = pe_budget._replace(pretrain_overrides=(
            f"objective.options.loss_mask={mask}", f"data.batch_size={budget.pretrain_batch}",
            f"data.max_length={budget.max_length}"))
        log.info("WAE pretraining, %s mask", mask)
        # A dump whose rows come out empty (bg: 3 pages, one article) is reported, not trained on: the shard
        # reader refuses an empty dataset.
        pretraining[arm] = pe.pretrain_arm([Path(r["directory"]) for r in rows.values() if r["rows"]], base,
                                           out / f"pretrain-{arm}", arm_budget)
        backbones[arm] = pretraining[arm]["checkpoint"]

    runs = []
    for arm in ARMS:
        for setting in SETTINGS:
            for seed in budget.seeds:
                where = out / f"finetune-{arm}" / setting / f"seed-{seed}"
                overrides = [f"model.name_or_path={backbones[arm]}", f"data.train={{en: {train_file}}}", "data.eval={}",
                             f"data.batch_size={budget.batch_size}", f"data.max_length={budget.max_length}",
                             f"train.total_steps={budget.finetune_steps}", f"train.seed={seed}",
                             f"train.warmup_steps={max(1, budget.finetune_steps // 10)}",
                             f"train.log_every={max(1, min(10, budget.finetune_steps // 2))}",
                             "evaluation.final=false", "evaluation.predictions=false"]
                if setting == "few-shot":
                    overrides += [f"few_shot.size={budget.few_shot}", f"few_shot.seed={seed}"]
                log.info("fine-tuning %s, %s, seed %d", arm, setting, seed)
                figures = finetune_run(FINETUNE_CONFIG, overrides, where)
                scores, eval_wall, questions = timed_scores(Path(figures["checkpoint"]), golds, where, budget.max_dev)
                runs.append({"arm": arm, "setting": setting, "seed": seed, "scores": scores, "eval_wall": eval_wall,
                             "questions": questions, **figures})
    total.__exit__()
    summaries = {(arm, setting): seed_summary(r for r in runs if r["arm"] == arm and r["setting"] == setting)
                 for arm in ARMS for setting in SETTINGS}
    figures = {"budget": budget._asdict(), "model": str(base), "rows": rows, "pretraining": pretraining, "runs": runs,
               "summary": {f"{a}/{s}": v for (a, s), v in summaries.items()},
               "gold_files": {g: [str(x.path) for x in files] for g, files in golds.items()},
               "total_wall": total.wall, "total_cpu": total.cpu}
    figures["projection"] = project(figures, FULL)
    write_results(out, NAME, figures, markdown(figures, summaries))
    return figures


def project(figures: dict, full: Budget) -> dict:
    """Minutes the full budget would take, from this run's wall time per WAE step, per fine-tuning step and per
    scored question, plus the fixed cost per run (loading, saving) and the rows' time."""
    runs = figures["runs"]
    pre = list(figures["pretraining"].values())
    pre_step = per_step_seconds(pre)
    pre_fixed = sum(p["wall"] - p["train_wall"] for p in pre) / max(1, len(pre))
    ft_step = per_step_seconds(runs)
    ft_fixed = sum(r["wall"] - r["train_wall"] for r in runs) / max(1, len(runs))
    per_q = sum(r["eval_wall"] for r in runs) / max(1, sum(r["questions"] for r in runs))
    eval_fixed = 0.0  # folded into per_q: a quick run's few questions overstate it, on the safe side
    scale_q = (full.max_dev or 1) / max(1, figures["budget"]["max_dev"] or 1)
    questions_full = sum(r["questions"] for r in runs) / max(1, len(runs)) * scale_q
    n_runs = len(ARMS) * len(SETTINGS) * len(full.seeds)
    seconds = {"rows": sum(r["wall"] or 0.0 for r in figures["rows"].values()),
               "pretraining": len(pre) * (pre_fixed + full.pretrain_steps * pre_step),
               "finetuning": n_runs * (ft_fixed + full.finetune_steps * ft_step),
               "scoring": n_runs * (eval_fixed + questions_full * per_q)}
    return {"per_step_s": {"wae": pre_step, "finetune": ft_step}, "per_question_s": per_q,
            "phases_min": {k: v / 60 for k, v in seconds.items()}, "total_min": sum(seconds.values()) / 60}


def markdown(figures: dict, summaries: dict) -> str:
    b = figures["budget"]
    lines = [f"# {NAME}: model {figures['model']}", "",
             f"WAE {b['pretrain_steps']} steps x {b['pretrain_batch']}; fine-tuning {b['finetune_steps']} steps x "
             f"{b['batch_size']}, max length {b['max_length']}; few-shot {b['few_shot']}; seeds {b['seeds']}; "
             f"{b['max_dev'] or 'all'} questions per dev file. Rows: " + ", ".join(
                 f"{lang} {r['rows']} ({r['answerable']} answerable)" for lang, r in figures["rows"].items()), ""]
    for name, p in figures["pretraining"].items():
        lines.append(f"- WAE {name}: loss {p['first_loss']:.3f} → {p['last_loss']:.3f} over {p['steps']} steps")
    for setting in SETTINGS:
        lines += ["", f"## EM / F1, trained on English ({setting}), mean ± std over seeds", ""]
        lines += arm_table({ARMS[a][0]: summaries[(a, setting)] for a in ARMS}, ("exact_match", "f1"))
    p = figures["projection"]
    lines += ["", f"Whole run: {figures['total_wall']:.0f} s wall, {figures['total_cpu']:.0f} s CPU. Per step: WAE "
              f"{p['per_step_s']['wae']:.2f} s, fine-tuning {p['per_step_s']['finetune']:.2f} s; "
              f"{p['per_question_s'] * 1000:.0f} ms per scored question. Projected full run: **{p['total_min']:.0f} "
              "min** (" + ", ".join(f"{k} {v:.1f}" for k, v in p["phases_min"].items()) + ")."]
    return "\n".join(lines) + "\n"


def bench_rows(quick: bool = False) -> list[tuple[str, str, str, str]]:
    figures = run(QUICK if quick else FULL, out_dir(NAME, quick))
    rows = []
    for key, summary in figures["summary"].items():
        for column, stats in summary.items():
            rows.append((NAME, f"{key} {column} EM / F1", f"{stats['exact_match']['mean']:.1f} / "
                         f"{stats['f1']['mean']:.1f}",
                         f"F1 ± {stats['f1']['std']:.1f} over {stats['f1']['runs']} seeds"))
    rows.append(projected_row(NAME, figures))
    return rows


def main(argv: list[str] | None = None) -> None:
    args, out = parse_command(NAME, __doc__, "tiny steps, 2 seeds, 8 questions per file", argv, _dump_argument)
    run(QUICK if args.quick else FULL, out, args.model, args.data, args.dump)
    print_results(out, NAME)


def _dump_argument(parser) -> None:
    parser.add_argument("--dump", action="append", type=Path, help="a dump to build rows from instead of the data "
                                                                    "folder's (repeat; language from its name)")


if __name__ == "__main__":
    main()
