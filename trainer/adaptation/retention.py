"""Retention (paper 003 Table 1): what fine-tuning keeps of the backbone's cross-lingual ability, measured as
MLM perplexity per language (``trainer.objectives.mlm``) and XSR P@1/5/10 (``trainer.objectives.xsr``) on
held-out probe slices, before the first step and after the last, whatever the constraint (so the
constraint-free baselines are measured on the same probe data as GEM and MTF). ``trainer.evaluate`` measures
one model the same way (``measure_retention``).
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from schemas.errors import InputDataError
from trainer.adaptation.memories import MemoryConfig
from trainer.adaptation.probe_config import ProbeConfig
from trainer.config import ConfigError
from trainer.data.readers import read_parallel, read_sentences_file
from trainer.models.backbone import masked_lm_of

logger = logging.getLogger(__name__)


RETENTION_FILE = "retention.json"
BEFORE_FILE = "retention_before.json"


@dataclass
class ProbeData:
    """Held-out probe data: MLM ``(sentence id, text)`` per language, XSR ``(source, target)`` pairs per name,
    and where each probe came from (files, lines skipped, items kept, items dropped for sharing a memory's text)."""

    mlm: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    xsr: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)


def _same_file(path: str, others: set[str]) -> bool:
    return os.path.realpath(path) in others


def load_probe_data(probes: ProbeConfig, memories: MemoryConfig) -> ProbeData | None:
    """The probe slices of ``probes`` (or of the memory files when it names none); None when nothing is to be
    measured. Memory and probe items come from different slices of a file (see ``ProbeConfig``), and a probe
    item sharing a text with any memory is dropped and counted."""
    mlm_files = probes.mlm or memories.mlm
    xsr_files = probes.xsr or memories.xsr
    if not probes.enabled or not (mlm_files or xsr_files):
        return None
    memory_files = {os.path.realpath(p) for p in memories.mlm.values()}
    memory_files |= {os.path.realpath(p) for files in memories.xsr.values() for p in files}
    # What the memories hold (the same readers and limits as build_memories), whatever the constraint: the
    # constraint-free baselines are measured on the same probe data as GEM and MTF.
    remembered: set[str] = set()
    for path in memories.mlm.values():
        remembered.update(read_sentences_file(path, memories.size))
    for source_file, target_file in memories.xsr.values():
        for source, target in read_parallel(source_file, target_file, limit=memories.size):
            remembered.update((source, target))

    def skip_for(paths: list[str]) -> int:
        if probes.skip is not None:
            return probes.skip
        return memories.size if any(_same_file(p, memory_files) for p in paths) else 0

    data = ProbeData()
    for lang, path in mlm_files.items():
        skip = skip_for([path])
        sentences = read_sentences_file(path)[skip:skip + probes.size]
        # Ids by position among the file's sentences: the masking is keyed by them
        # (trainer.objectives.mlm.mask_sentence).
        kept = [(f"probe-{lang}-{skip + n}", text) for n, text in enumerate(sentences) if text not in remembered]
        if not kept:
            raise InputDataError(f"probes.mlm.{lang}: {path} has no sentence after the first {skip} that no memory "
                                 "holds")
        data.mlm[lang] = kept
        data.sources.append({"kind": "mlm", "name": lang, "files": [str(path)], "skip": skip, "items": len(kept),
                             "dropped_in_memory": len(sentences) - len(kept)})
    for name, (source_file, target_file) in xsr_files.items():
        skip = skip_for([source_file, target_file])
        pairs = read_parallel(source_file, target_file, limit=skip + probes.size)[skip:]
        kept = [(s, t) for s, t in pairs if s not in remembered and t not in remembered]
        if len(kept) < 2:
            raise InputDataError(f"probes.xsr.{name}: {len(kept)} pair(s) of {source_file} / {target_file} after the "
                                 f"first {skip} that no memory holds; retrieval needs at least 2")
        data.xsr[name] = kept
        data.sources.append({"kind": "xsr", "name": name, "files": [str(source_file), str(target_file)],
                             "skip": skip, "items": len(kept), "dropped_in_memory": len(pairs) - len(kept)})
    return data


def probe_masked_lm(source, model: nn.Module, masked_lm=None):
    """The MLM head that scores the probes, on the training module's encoder: the memories' masked LM when there
    is one, otherwise the backbone's own (``source``: a checkpoint's head, or a fresh one for a from-scratch
    architecture), built under a forked random state so the fine-tuned model's initial parameters do not depend
    on the probes."""
    from trainer.objectives.mlm import MaskedLanguageModel

    vocabulary = model.encoder.get_input_embeddings().num_embeddings
    if masked_lm is None:
        with torch.random.fork_rng(devices=[]):
            masked_lm = masked_lm_of(source, vocabulary)
    if masked_lm.get_input_embeddings().num_embeddings != vocabulary:
        masked_lm.resize_token_embeddings(vocabulary)
    return MaskedLanguageModel.from_masked_lm(masked_lm, model.encoder)


class RetentionProbes:
    """The probe data of a run and the MLM head that scores them; ``measure`` gives the model's figures now."""

    def __init__(self, options: ProbeConfig, seed: int, data: ProbeData, mlm_model: nn.Module, tokenizer):
        self.options, self.data, self.mlm_model, self.tokenizer = options, data, mlm_model, tokenizer
        self.seed = seed if options.seed is None else options.seed

    def measure(self, model: nn.Module, device) -> dict:
        """``{"mlm": {lang: perplexity figures}, "xsr": {name: {"p@1", "p@5", "p@10"}}}`` of the model now;
        P@k in percent, like the task metrics."""
        from trainer.objectives.mlm import perplexity_by_language
        from trainer.objectives.xsr import xsr_precision

        options = self.options
        model.to(device)
        measured: dict = {"mlm": {}, "xsr": {}}
        if self.data.mlm:
            self.mlm_model.to(device)
            for lang, result in perplexity_by_language(self.mlm_model, self.tokenizer, self.data.mlm, seed=self.seed,
                                                       batch_size=options.batch_size,
                                                       max_length=options.max_length).items():
                measured["mlm"][lang] = {"perplexity": result.perplexity, "mean_nll": result.mean_nll,
                                         "masked_tokens": result.masked_tokens, "sentences": result.sentences,
                                         "sentences_without_mask": result.sentences_without_mask}
        for name, pairs in self.data.xsr.items():
            precision = xsr_precision(model.encoder, self.tokenizer, [s for s, _ in pairs], [t for _, t in pairs],
                                      batch_size=options.batch_size, max_length=options.max_length)
            measured["xsr"][name] = {key: 100.0 * value for key, value in precision.items()}
        return measured

    def before(self, model: nn.Module, device, output_dir: str | Path, resume: Path | None) -> dict | None:
        """The figures before fine-tuning (before any warm-up or step), kept in ``retention_before.json``; a
        resumed run reads them back (its model is no longer the initial one)."""
        path = Path(output_dir) / BEFORE_FILE
        if resume is not None:
            if path.is_file():
                return json.loads(path.read_text(encoding="utf-8"))
            logger.warning("resumed from %s without %s: no 'before' figures for the retention probes", resume, path)
            return None
        before = {"step": 0, "figures": self.measure(model, device)}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(before, indent=1) + "\n", encoding="utf-8")
        return before

    def table(self, before: dict | None, after: dict, step: int) -> dict:
        """The report's ``retention`` entry: per probe, its figures before and after fine-tuning."""
        before = before or {}
        figures = before.get("figures") or {}
        table: dict = {"mlm": {}, "xsr": {}, "probes": self.data.sources, "step_before": before.get("step", 0),
                       "step_after": step}
        for kind in ("mlm", "xsr"):
            for name, values in after[kind].items():
                table[kind][name] = {"before": figures.get(kind, {}).get(name), "after": values}
        return table


def retention_probes(options: ProbeConfig, memories: MemoryConfig, seed: int, source, model: nn.Module, tokenizer,
                     masked_lm=None) -> RetentionProbes | None:
    """The run's probes (None when nothing is to be measured)."""
    data = load_probe_data(options, memories)
    if data is None:
        return None
    mlm_model = probe_masked_lm(source, model, masked_lm) if data.mlm else None
    return RetentionProbes(options, seed, data, mlm_model, tokenizer)


def measure_model(options: ProbeConfig, seed: int, source, model: nn.Module, tokenizer, device) -> dict:
    """One model's figures on the probes of ``options`` (``trainer.evaluate``): the report's ``retention`` entry
    with a ``now`` column per probe. ``source``: the masked LM whose head scores the MLM probes."""
    probes = retention_probes(options, MemoryConfig(), seed, source, model, tokenizer)
    if probes is None:
        raise ConfigError("no MLM or XSR probe files given")
    figures = probes.measure(model, device)
    table: dict = {"mlm": {}, "xsr": {}, "probes": probes.data.sources}
    for kind in ("mlm", "xsr"):
        for name, values in figures[kind].items():
            table[kind][name] = {"now": values}
    return table
