"""The WAE loss mask option (objective.options.loss_mask): the project's mask (context spans and the [CLS] cell)
against the mPMR authors' (also every (0, j) of a context token j, as a negative), on real wiki_mrc rows built
here from the embedded English sample dump, through the objective's own collator and model."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig

from pipelines.wiki_mrc.__main__ import run as wiki_mrc
from schemas import open_dataset
from trainer.config import ConfigError
from trainer.models.span_extractor import valid_span_mask, wae_loss
from trainer.objectives.wae import WaeObjective
from trainer_fixtures import training_texts, wordpiece_tokenizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SAMPLE = Path(__file__).resolve().parent.parent / "pipelines" / "samples" / "enwiki-sample.xml"
MAX_SPAN = 5


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("wae-mask") / "mrc"
    wiki_mrc(["--input", str(SAMPLE), "--lang", "en", "--output", str(out), "--min-mentions", "1",
              "--context-words", "40", "--query-words", "20", "--runner", "FnApiRunner"])
    found = sorted(open_dataset(out, kind="mrc").iter_rows(), key=lambda r: r["id"])
    assert sum(bool(r["answers"]) for r in found) >= 4
    # Answerable and unanswerable rows both, so the [CLS] cell carries labels 1 and 0.
    answerable = [r for r in found if r["answers"]][:6]
    unanswerable = [r for r in found if not r["answers"]][:2]
    return answerable + unanswerable


def _model_and_batch(rows, loss_mask):
    objective = WaeObjective()
    raw = {"max_length": 128, "max_query_length": 32, "max_span_length": MAX_SPAN}
    if loss_mask is not None:
        raw["loss_mask"] = loss_mask
    options = objective.options(raw)
    tokenizer = wordpiece_tokenizer(training_texts(rows), vocab_size=800)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256)
    model = objective.build_model(config, tokenizer, options).eval()  # eval: no dropout, same scores each call
    batch = objective.collator(tokenizer, options)(rows)
    return options, model, batch


def test_default_mask_is_the_projects(rows):
    options, model, batch = _model_and_batch(rows, None)
    assert options.loss_mask == "spans" and model.config.cls_row_negatives is False
    with torch.no_grad():
        output = model(**batch)
        plain = valid_span_mask(batch["context_start"], batch["context_end"], output.scores.shape[1], MAX_SPAN)
        assert torch.equal(output.valid_mask, plain)
        assert output.loss.item() == wae_loss(output.scores, plain, batch["answer_spans"]).item()


def test_authors_mask_adds_exactly_the_cls_row_of_the_context(rows):
    _, spans_model, batch = _model_and_batch(rows, "spans")
    _, authors_model, same_batch = _model_and_batch(rows, "authors")
    assert authors_model.config.cls_row_negatives is True
    assert all(torch.equal(batch[k], same_batch[k]) for k in ("input_ids", "context_start", "context_end"))
    authors_model.load_state_dict(spans_model.state_dict())
    with torch.no_grad():
        spans, authors = spans_model(**batch), authors_model(**batch)
    assert torch.equal(spans.scores, authors.scores)
    assert torch.isfinite(spans.loss) and torch.isfinite(authors.loss)
    assert spans.loss.item() != authors.loss.item()

    # Independently: a context of n tokens has sum over widths w < min(n, MAX_SPAN) of (n - w) spans, plus
    # the [CLS] cell; the authors' mask adds its n cells (0, j), whose labels are 0 (BCE with label 0 is
    # softplus of the logit).
    scores = spans.scores.float()
    n_spans = extra_cells = 0
    extra_loss = 0.0
    for b, (start, end) in enumerate(zip(batch["context_start"].tolist(), batch["context_end"].tolist())):
        n = end - start
        assert n > 0 and start > 0
        n_spans += sum(n - w for w in range(min(n, MAX_SPAN))) + 1
        extra_cells += n
        extra_loss += F.softplus(scores[b, 0, start:end]).sum().item()
    assert int(spans.valid_mask.sum()) == n_spans
    assert int(authors.valid_mask.sum()) == n_spans + extra_cells
    difference = authors.valid_mask & ~spans.valid_mask
    assert not (spans.valid_mask & ~authors.valid_mask).any()
    assert (difference[:, 1:, :] == 0).all()  # only row 0 gains cells
    expected = (spans.loss.item() * n_spans + extra_loss) / (n_spans + extra_cells)
    assert authors.loss.item() == pytest.approx(expected, rel=1e-5)


def test_an_unknown_mask_is_refused():
    with pytest.raises(ConfigError, match="loss_mask"):
        WaeObjective().options({"loss_mask": "pmr"})
