"""mPMR's span extractor and Wiki Anchor Extraction loss: hand-computed values on small tensors, the score
formula S = FFN(H)·Hᵀ, and a tiny encoder whose loss falls on real XQuAD examples read from shards."""
import math

import pytest
import torch
from torch.utils.data import DataLoader
from transformers import BertConfig, XLMRobertaConfig

from trainer.data.mrc_features import MRCCollator, MRCFeatureConfig
from trainer.data.shards import ShardDataset, ShardStreamConfig
from trainer.models.span_extractor import (SpanExtractor, SpanExtractorConfig, span_label_matrix, valid_span_mask,
                                           wae_loss)
from trainer_fixtures import training_texts, unigram_tokenizer, wordpiece_tokenizer, write_mrc_dataset, xquad_rows

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _bce(logit, label):
    # -[y log σ(x) + (1 - y) log(1 - σ(x))], written out.
    p = 1 / (1 + math.exp(-logit))
    return -(label * math.log(p) + (1 - label) * math.log(1 - p))


def test_wae_loss_matches_a_hand_computation_on_1x4x4():
    # Sequence [CLS] q c1 c2: the context is positions 2..3, the answer is the span (2, 3).
    scores = torch.tensor([[[0.5, -1.0, 2.0, 0.3],
                            [1.5, 0.2, -0.7, 0.9],
                            [-2.0, 1.1, -0.4, 1.3],
                            [0.8, -0.6, 2.2, -1.7]]])
    start, end = torch.tensor([2]), torch.tensor([4])
    answers = torch.tensor([[0, 2, 3]])

    mask = valid_span_mask(start, end, seq_len=4)
    assert mask[0].nonzero().tolist() == [[0, 0], [2, 2], [2, 3], [3, 3]]
    labels = span_label_matrix(answers, 1, 4, "cpu")
    assert labels[0].nonzero().tolist() == [[0, 0], [2, 3]]

    # Valid cells: S00 (relevant, label 1), S22 (0), S23 (answer, 1), S33 (0); mean over the 4 cells.
    expected = (_bce(0.5, 1) + _bce(-0.4, 0) + _bce(1.3, 1) + _bce(-1.7, 0)) / 4
    assert wae_loss(scores, mask, answers).item() == pytest.approx(expected, rel=1e-6)

    # With spans of one token at most, the answer cell leaves the loss; the example stays relevant.
    short = valid_span_mask(start, end, seq_len=4, max_span_length=1)
    expected_short = (_bce(0.5, 1) + _bce(-0.4, 0) + _bce(-1.7, 0)) / 3
    assert wae_loss(scores, short, answers).item() == pytest.approx(expected_short, rel=1e-6)

    # Unanswerable: every valid cell, [CLS] included, has label 0.
    none = torch.zeros((0, 3), dtype=torch.long)
    expected_none = (_bce(0.5, 0) + _bce(-0.4, 0) + _bce(1.3, 0) + _bce(-1.7, 0)) / 4
    assert wae_loss(scores, mask, none).item() == pytest.approx(expected_none, rel=1e-6)


def test_wae_loss_normalises_over_the_valid_cells_of_the_whole_batch():
    torch.manual_seed(0)
    scores = torch.randn(2, 6, 6)
    start, end = torch.tensor([2, 3]), torch.tensor([5, 4])  # 6 + 1 and 1 + 1 valid cells
    answers = torch.tensor([[0, 3, 4], [0, 2, 2], [1, 3, 3]])
    mask = valid_span_mask(start, end, seq_len=6)
    assert mask.sum().item() == 9
    cells = [(0, 0, 0, 1), (0, 2, 2, 1), (0, 2, 3, 0), (0, 2, 4, 0), (0, 3, 3, 0), (0, 3, 4, 1), (0, 4, 4, 0),
             (1, 0, 0, 1), (1, 3, 3, 1)]
    expected = sum(_bce(scores[b, i, j].item(), y) for b, i, j, y in cells) / len(cells)
    assert wae_loss(scores, mask, answers).item() == pytest.approx(expected, rel=1e-5)
    # Gradients reach only valid cells.
    scores.requires_grad_(True)
    wae_loss(scores, mask, answers).backward()
    assert ((scores.grad != 0) == mask).all()


@pytest.fixture(scope="module")
def xquad(data_dir):
    return xquad_rows(data_dir, "en", limit=96, unanswerable_every=4)


def test_scores_are_ffn_of_h_times_h_transposed(xquad):
    tokenizer = wordpiece_tokenizer(training_texts(xquad), vocab_size=500)
    encoder_config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=64, max_position_embeddings=256)
    model = SpanExtractor.from_encoder_config(encoder_config, SpanExtractorConfig(intermediate_size=48)).eval()
    assert getattr(model.encoder, "pooler", None) is None
    batch = MRCCollator(tokenizer, MRCFeatureConfig(max_length=128, max_query_length=24))(xquad[:3])
    with torch.no_grad():
        output = model(**batch)
        hidden = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                               token_type_ids=batch["token_type_ids"]).last_hidden_state
        projection = model.projection
        ffn = projection.dense_out(torch.nn.functional.gelu(projection.dense_in(hidden)))
        manual = torch.einsum("bid,bjd->bij", ffn, hidden)
    assert torch.allclose(output.scores, manual, atol=1e-5)
    assert output.scores.shape == (3, batch["input_ids"].shape[1], batch["input_ids"].shape[1])
    assert output.loss is not None and output.loss.item() > 0


@pytest.mark.parametrize("backbone", ["bert", "xlm-roberta"])
def test_loss_falls_training_a_tiny_extractor_on_xquad_shards(xquad, tmp_path, backbone):
    torch.manual_seed(0)
    texts = training_texts(xquad)
    if backbone == "bert":
        tokenizer = wordpiece_tokenizer(texts, vocab_size=500)
        encoder_config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=64, max_position_embeddings=256)
        features = MRCFeatureConfig(max_length=128, max_query_length=32)
    else:
        tokenizer = unigram_tokenizer(texts, vocab_size=500)
        encoder_config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                          num_attention_heads=2, intermediate_size=64,
                                          max_position_embeddings=260, type_vocab_size=1,
                                          pad_token_id=tokenizer.pad_token_id)
        features = MRCFeatureConfig(max_length=128, max_query_length=32, double_separator=True)
    directory = write_mrc_dataset(tmp_path / "mrc", [xquad[:32], xquad[32:64]], row_group_size=16)
    dataset = ShardDataset(directory, kind="mrc", config=ShardStreamConfig(seed=0, shuffle_buffer=64))
    loader = DataLoader(dataset, batch_size=16, collate_fn=MRCCollator(tokenizer, features))
    model = SpanExtractor.from_encoder_config(encoder_config, SpanExtractorConfig(max_span_length=30))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    epoch_losses = []
    for epoch in range(3):
        dataset.set_epoch(epoch)
        losses = []
        for batch in loader:
            loss = model(**batch).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert len(losses) == 4
        epoch_losses.append(sum(losses) / len(losses))
    assert all(math.isfinite(x) for x in epoch_losses)
    assert epoch_losses[-1] < 0.5 * epoch_losses[0], epoch_losses


def test_tiny_extractor_learns_more_than_the_base_rate(xquad):
    """Falling loss alone can mean "every cell is negative"; overfitting one batch must beat the best constant
    prediction, which only a model that scores answer cells apart from the rest can do."""
    torch.manual_seed(0)
    tokenizer = wordpiece_tokenizer(training_texts(xquad), vocab_size=500)
    encoder_config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=64, max_position_embeddings=256)
    batch = MRCCollator(tokenizer, MRCFeatureConfig(max_length=128, max_query_length=24))(xquad[:8])
    model = SpanExtractor.from_encoder_config(encoder_config, SpanExtractorConfig(max_span_length=30))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        output = model(**batch)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
    valid = output.valid_mask
    labels = span_label_matrix(batch["answer_spans"], 8, valid.shape[1], "cpu")
    rate = (labels.bool() & valid).sum().item() / valid.sum().item()
    assert 0 < rate < 0.01
    base_rate_loss = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))
    assert output.loss.item() < 0.75 * base_rate_loss, (output.loss.item(), base_rate_loss)
