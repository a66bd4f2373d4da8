"""Extractive QA, one class per head; all read ``QAExample``s, train on sliding windows and score EM/F1 under
both the SQuAD v1.1 and MLQA normalisations, ``exact_match``/``f1`` being the one the data's publishers use
(``metrics.qa_script``: MLQA's for MLQA, SQuAD's for XQuAD and TyDi QA GoldP as XTREME reports them).

| head | model | windows |
|---|---|---|
| ``start_end`` | ``StartEndQA``: start/end logits | ``[CLS] Q [SEP] C [SEP]`` (``QAFeaturizer``) |
| ``extractor`` | ``ExtractorQA`` (mPMR): span scores S_ij, null score S_00 per window | same, WAE labels |
| ``que`` | ``QueQA`` (CLISM eq. 10): start/end from the [QUE] state | ``[CLS] Q [QUE] [SEP] C [SEP]`` |
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from trainer.data.mrc_features import pad_id
from trainer.data.qa_features import QAFeature, QAFeatureConfig, QAFeaturizer, collate_qa, feature_batches
from trainer.data.readers import DataSource, read_qa
from trainer.data.squad import QAExample
from trainer.loop.progress import Progress, current_label
from trainer.models.qa_heads import ExtractorQA, QueQA, StartEndQA
from trainer.models.span_extractor import SpanExtractorConfig
from trainer.tasks.base import Task, evaluation_mode, model_inputs
from trainer.tasks.metrics import qa_script, qa_scores
from trainer.tasks.qa_decoding import QAPrediction, decode_qa


class QAWindowCollate:
    """Pads already featurised QA windows (training on windows, BERT's run_squad convention: every batch holds
    exactly ``batch_size`` windows)."""

    def __init__(self, pad_token_id: int, max_length: int, pad_to_multiple_of: int | None = 8):
        self.pad_token_id, self.max_length, self.pad_to_multiple_of = pad_token_id, max_length, pad_to_multiple_of

    def __call__(self, features: list) -> dict:
        return collate_qa(features, self.pad_token_id, self.pad_to_multiple_of, self.max_length)


class QATask(Task):
    """What the QA heads share: examples, windows, decoding and scoring."""

    name = "qa"
    # The publishers' script first, then both scripts named (metrics.qa_scores).
    metrics = ("exact_match", "f1", "exact_match_squad", "f1_squad", "exact_match_mlqa", "f1_mlqa")
    primary_metric = "f1"

    def read(self, source: DataSource) -> list[QAExample]:
        return read_qa(source)

    def example_from_record(self, record: dict, lang: str, example_id: str) -> QAExample:
        for key in ("question", "context"):
            if not isinstance(record.get(key), str) or not record[key].strip():
                raise KeyError(f"a QA record needs a non-empty {key!r}")
        return QAExample(example_id, lang, record["question"], record["context"], [])

    def example_id(self, example: QAExample) -> str:
        return example.id

    def example_lang(self, example: QAExample) -> str:
        return example.lang

    def texts(self, example: QAExample) -> list[str]:
        return [example.question, example.context]

    def features(self) -> QAFeatureConfig:
        s = self.settings
        return QAFeatureConfig(max_length=s.max_length, doc_stride=s.doc_stride, max_query_length=s.max_query_length,
                               head=self.head, double_separator=s.double_separator, que_token=s.que_token)

    def training_items(self, tokenizer, examples: Sequence[QAExample]):
        windows = QAFeaturizer(tokenizer, self.features())([e.as_row() for e in examples])
        return windows, QAWindowCollate(pad_id(tokenizer), self.settings.max_length)

    def score_language(self, model, tokenizer, examples, batch_size):
        scores, _ = self.score_and_predict_language(model, tokenizer, examples, batch_size)
        return scores

    def predict(self, model, tokenizer, examples, batch_size):
        predictions = predict_qa(model, tokenizer, examples, self.features(), batch_size, self.settings.n_best,
                                 self.settings.max_answer_length)
        return prediction_rows(examples, predictions)

    def score_and_predict_language(self, model, tokenizer, examples, batch_size):
        # One pass: the scores are those of the very predictions written out.
        device = next(model.parameters()).device
        predictions, per_language = evaluate_qa(model, tokenizer, list(examples), self.features(), batch_size,
                                                self.settings.n_best, self.settings.max_answer_length, device=device)
        (scores,) = per_language.values()
        return scores, prediction_rows(examples, predictions)


def prediction_rows(examples: Sequence[QAExample], predictions: dict[str, QAPrediction]) -> list[dict]:
    """``trainer.predict``'s row of each example: the best answer's text, character offsets and score."""
    rows = []
    for example in examples:
        best = predictions.get(example.id)
        rows.append({"id": example.id, "lang": example.lang, "answer": best.text if best else "",
                     "start": best.start if best else 0, "end": best.end if best else 0,
                     "score": float(best.score) if best else None})
    return rows


class OneWindowCollate:
    """QA examples as one window each (FILTER's streams and soft labels need one item per example): the first
    window that holds the first answer, else the first window. The windows travel along as ``features`` for
    decoding."""

    def __init__(self, featurizer: QAFeaturizer, pad_token_id: int, max_length: int):
        self.featurizer, self.pad_token_id, self.max_length = featurizer, pad_token_id, max_length

    def __call__(self, examples: list) -> dict:
        windows: dict[str, list] = {}
        for window in self.featurizer([e.as_row() for e in examples]):
            windows.setdefault(window.example_id, []).append(window)
        chosen = [next((w for w in windows[e.id] if w.holds_answer), windows[e.id][0]) for e in examples]
        batch = collate_qa(chosen, self.pad_token_id, 8, self.max_length)
        batch["features"] = chosen
        return batch


class QAStartEnd(QATask):
    head = "start_end"
    soft_labels = "qa"
    self_teaching_needs_filter = True
    label_keys = ("start_positions", "end_positions")

    def build_head(self, encoder):
        return StartEndQA(encoder)

    def example_collate(self, tokenizer):
        return OneWindowCollate(QAFeaturizer(tokenizer, self.features()), pad_id(tokenizer), self.settings.max_length)

    def labels_from_outputs(self, outputs, batch, examples):
        features = batch["features"]
        trimmed = [{key: outputs[key][n, :len(feature.input_ids)].float().cpu().numpy()
                    for key in ("start_logits", "end_logits")} for n, feature in enumerate(features)]
        predictions = decode_qa({e.id: e for e in examples}, features, trimmed, self.head, self.settings.n_best,
                                self.settings.max_answer_length)
        return [predictions[e.id].text if e.id in predictions else "" for e in examples]

    def score_labels(self, examples, predicted):
        lang = self.example_lang(examples[0]) if examples else self.settings.source_lang
        return qa_scores({e.id: text for e, text in zip(examples, predicted)},
                         {e.id: [a["text"] for a in e.answers] for e in examples}, lang,
                         script=scoring_script(examples))


class QAExtractor(QATask):
    head = "extractor"

    def build_head(self, encoder):
        return ExtractorQA(encoder, SpanExtractorConfig(max_span_length=self.settings.max_span_length))


class QAQue(QATask):
    head = "que"

    def prepare_tokenizer(self, tokenizer) -> None:
        from trainer.data.clism_features import add_que_token
        add_que_token(tokenizer, que_token=self.settings.que_token)

    def build_head(self, encoder):
        return QueQA(encoder)


@torch.no_grad()
def predict_windows(model: torch.nn.Module, features: Sequence[QAFeature], head: str, batch_size: int = 32,
                    pad_token_id: int = 0, device: torch.device | str | None = None) -> list[dict[str, np.ndarray]]:
    """Run a QA head over featurised windows (evaluation mode) and return each window's output trimmed to
    its length, ready for ``decode_qa``."""
    device = device or next(model.parameters()).device
    outputs = []
    with evaluation_mode(model), Progress(len(features), current_label(), "window", leave=False) as progress:
        for chunk, batch in feature_batches(features, batch_size, pad_token_id):
            # No labels at prediction time: a head given none computes no loss.
            result = model(**model_inputs(batch, device, drop=("start_positions", "end_positions", "answer_spans")))
            for n, feature in enumerate(chunk):
                size = len(feature.input_ids)
                if head == "extractor":
                    outputs.append({"scores": result["scores"][n, :size, :size].float().cpu().numpy()})
                else:
                    outputs.append({key: result[key][n, :size].float().cpu().numpy()
                                    for key in ("start_logits", "end_logits")})
            progress.update(len(chunk))
    return outputs


def predict_qa(model: torch.nn.Module, tokenizer, examples: Sequence[QAExample], config, batch_size: int = 32,
               n_best: int = 20, max_answer_length: int = 30, allow_null: bool = False,
               device: torch.device | str | None = None) -> dict[str, QAPrediction]:
    """Featurise ``examples`` (a ``QAFeatureConfig``), run the model over the windows and decode: the
    predictions by example id."""
    features = QAFeaturizer(tokenizer, config)([e.as_row() for e in examples])
    outputs = predict_windows(model, features, config.head, batch_size, pad_id(tokenizer), device)
    return decode_qa({e.id: e for e in examples}, features, outputs, config.head, n_best, max_answer_length,
                     allow_null)


def evaluate_qa(model: torch.nn.Module, tokenizer, examples: Sequence[QAExample], config,
                batch_size: int = 32, n_best: int = 20, max_answer_length: int = 30, allow_null: bool = False,
                device: torch.device | str | None = None) -> tuple[dict[str, QAPrediction], dict[str, dict]]:
    """``predict_qa``, then scored: predictions by id and EM/F1 per language under both scripts (the data's
    publishers' as ``exact_match``/``f1``, see ``scoring_script``), ready for ``metrics.language_report``."""
    predictions = predict_qa(model, tokenizer, examples, config, batch_size, n_best, max_answer_length, allow_null,
                             device)
    per_language: dict[str, dict] = {}
    for lang in sorted({e.lang for e in examples}):
        group = [e for e in examples if e.lang == lang]
        golds = {e.id: [a["text"] for a in e.answers] for e in group}
        per_language[lang] = qa_scores({k: predictions[k].text for k in golds if k in predictions}, golds, lang,
                                       script=scoring_script(group))
    return predictions, per_language


def scoring_script(examples: Sequence[QAExample]) -> str:
    """The script one language's examples are scored with, from the file they were read from
    (``metrics.qa_script``); examples of one language from both MLQA and other data cannot share a number."""
    scripts = {qa_script(e.source) for e in examples}
    if len(scripts) > 1:
        raise ValueError(f"language {examples[0].lang!r} mixes MLQA with other QA data, whose publishers score "
                         "differently: score them in separate runs")
    return scripts.pop() if scripts else "squad"
