"""What the MRC forms of NER and ABSA share (paper 001 Table 6): mPMR's span extractor as the head, asked one
query per sentence and label (an entity type, a polarity). ``QueryExtractorTask`` builds the feature config
from the task settings, and ``query_scores`` runs the extractor over every query of a list of
sentences, batched across sentences, handing each sentence its queries' ``[L, L]`` score matrices to decode."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from trainer.data.mrc_features import MRCFeature, MRCFeatureConfig, MRCFeaturizer, collate_mrc, pad_id
from trainer.loop.progress import chunks
from trainer.tasks.base import Task, TaskSettings, model_inputs


def mrc_feature_config(settings: TaskSettings) -> MRCFeatureConfig:
    """The MRC windows of a task's settings (every task that asks the extractor one query per label)."""
    return MRCFeatureConfig(max_length=settings.max_length, max_query_length=settings.max_query_length,
                            double_separator=settings.double_separator)


class QueryExtractorTask(Task):
    """A task read out of the span extractor through one query per sentence and label. Each subclass still
    builds its ``ExtractorQA`` head itself, as every extractor task does: importing the models room here would
    lengthen the import chain past the limit tests/test_import_boundaries.py sets."""

    def mrc_features(self) -> MRCFeatureConfig:
        return mrc_feature_config(self.settings)

    def query_scores(self, model, tokenizer, queries: Sequence[tuple[int, dict]], sentences: int, label_key: str,
                     batch_size: int) -> list[list[tuple[str, np.ndarray, MRCFeature]]]:
        """For each of ``sentences`` sentences, ``(row[label_key], [L, L] scores, feature)`` of every query row
        ``(sentence index, MRC row)`` in ``queries``; the queries run in batches of ``batch_size`` across
        sentences, and each score matrix is cut to its feature's own length (padding dropped)."""
        config = self.mrc_features()
        device = next(model.parameters()).device
        featurizer = MRCFeaturizer(tokenizer, config)
        per_sentence: list[list] = [[] for _ in range(sentences)]
        for chunk in chunks(queries, batch_size, "query"):
            features = featurizer([row for _, row in chunk])
            batch = collate_mrc(features, pad_id(tokenizer), 8, config.max_length)
            scores = model(**model_inputs(batch, device, drop=("answer_spans",)))["scores"].float().cpu()
            for n, ((index, row), feature) in enumerate(zip(chunk, features)):
                size = len(feature.input_ids)
                per_sentence[index].append((row[label_key], scores[n, :size, :size].numpy(), feature))
        return per_sentence
