"""FILTER (paper 004): local/fusion/domain layers over one shared encoder, the self-teaching KL and its Parquet
store; end to end on Europarl en/de NER pairs (tagging with a teacher and a student) and XQuAD en/de question
pairs matched by id (QA)."""
import copy
import json
import math

import pytest
import torch
from transformers import BertConfig, BertModel, GPT2Config, GPT2Model, XLMRobertaConfig, XLMRobertaModel
from transformers.masking_utils import create_bidirectional_mask

from schemas import validate_dataset
from schemas.conll import read_conll
from trainer.adaptation.soft_labels import (TeacherPredictions, rows_from_outputs, teacher_predictions_path,
                                            write_teacher_predictions)
from trainer.config import TrainConfig
from trainer.loop.train import train
from trainer.models.distillation import DEFAULT_KL_WEIGHTS, kl_over_last_dim, self_teaching_loss
from trainer.models.filter_model import FilterArchitectureError, FilterConfig, FilterModel, filter_encode
from trainer_fixtures import unigram_tokenizer, wordpiece_tokenizer, write_mrc_dataset, xquad_rows

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


@pytest.fixture(scope="module")
def europarl(data_dir):
    """The first Europarl sentence pairs with at least four tokens on both sides (sentence k of the English file
    is the translation of sentence k of the German file)."""
    english = list(read_conll(data_dir / "ner" / "en-europarl.test.conll02", tag_scheme="BIO"))
    german = list(read_conll(data_dir / "ner" / "de-europarl.test.conll02", tag_scheme="BIO"))
    assert len(english) == len(german)
    pairs = [(en, de) for en, de in zip(english, german) if len(en.tokens) >= 4 and len(de.tokens) >= 4][:24]
    texts = [" ".join(s.tokens) for pair in pairs for s in pair]
    return {"pairs": pairs, "wordpiece": wordpiece_tokenizer(texts, 1500), "unigram": unigram_tokenizer(texts, 1500)}


def tiny_encoder(kind: str, tokenizer, layers: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    common = dict(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                  intermediate_size=64, pad_token_id=tokenizer.pad_token_id)
    if kind == "bert":
        return BertModel(BertConfig(max_position_embeddings=256, **common), add_pooling_layer=False)
    return XLMRobertaModel(XLMRobertaConfig(max_position_embeddings=260, **common), add_pooling_layer=False)


def tagged_stream(tokenizer, sentences, max_length=48):
    """Padded sub-word inputs; the first sub-word of each word carries the word's label, the rest -100."""
    encoded = tokenizer([s.tokens for s in sentences], is_split_into_words=True, truncation=True,
                        max_length=max_length, padding=True, return_tensors="pt")
    labels = torch.full_like(encoded["input_ids"], -100)
    for n, sentence in enumerate(sentences):
        previous = None
        for position, word in enumerate(encoded.word_ids(n)):
            if word is not None and word != previous:
                labels[n, position] = LABELS.index(sentence.tags[word])
            previous = word
    return encoded["input_ids"], encoded["attention_mask"], labels


def pair_batch(tokenizer, pairs, with_target_labels=False):
    """Target stream: the German side; source stream: its English translation (with labels)."""
    ids, mask, labels = tagged_stream(tokenizer, [de for _, de in pairs])
    source_ids, source_mask, source_labels = tagged_stream(tokenizer, [en for en, _ in pairs])
    batch = {"input_ids": ids, "attention_mask": mask, "source_input_ids": source_ids,
             "source_attention_mask": source_mask, "source_labels": source_labels,
             "ids": [f"europarl-{n}" for n in range(len(pairs))]}
    if with_target_labels:
        batch["labels"] = labels
    return batch


# --------------------------------------------------------------------------------------------- the encoder

@pytest.mark.parametrize("kind", ["bert", "xlm-roberta"])
def test_all_local_layers_is_exactly_the_single_stream_model(europarl, kind):
    tokenizer = europarl["wordpiece" if kind == "bert" else "unigram"]
    encoder = tiny_encoder(kind, tokenizer).eval()
    batch = pair_batch(tokenizer, europarl["pairs"][:6])
    with torch.no_grad():
        target, source = filter_encode(encoder, 3, 0, batch["input_ids"], batch["attention_mask"],
                                       batch["source_input_ids"], batch["source_attention_mask"])
        single_target = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        single_source = encoder(input_ids=batch["source_input_ids"],
                                attention_mask=batch["source_attention_mask"]).last_hidden_state
        other = pair_batch(tokenizer, europarl["pairs"][6:12])
        target_with_other_source, _ = filter_encode(encoder, 3, 0, batch["input_ids"], batch["attention_mask"],
                                                    other["source_input_ids"], other["source_attention_mask"])
        fused, _ = filter_encode(encoder, 1, 1, batch["input_ids"], batch["attention_mask"],
                                 batch["source_input_ids"], batch["source_attention_mask"])
        fused_with_other_source, _ = filter_encode(encoder, 1, 1, batch["input_ids"], batch["attention_mask"],
                                                   other["source_input_ids"], other["source_attention_mask"])
    torch.testing.assert_close(target, single_target, atol=1e-6, rtol=0)
    torch.testing.assert_close(source, single_source, atol=1e-6, rtol=0)
    torch.testing.assert_close(target_with_other_source, target, atol=0, rtol=0)
    # With fusion layers the target stream sees the source stream.
    valid = batch["attention_mask"].bool()
    assert (fused - single_target)[valid].abs().max() > 1e-3
    assert (fused_with_other_source - fused)[valid].abs().max() > 1e-3


def test_no_local_layers_and_all_fusion_layers_is_plain_concatenation(europarl):
    tokenizer = europarl["wordpiece"]
    encoder = tiny_encoder("bert", tokenizer).eval()
    batch = pair_batch(tokenizer, europarl["pairs"][:5])
    with torch.no_grad():
        target, source = filter_encode(encoder, 0, 3, batch["input_ids"], batch["attention_mask"],
                                       batch["source_input_ids"], batch["source_attention_mask"])
        # The encoder's own layer stack over the concatenated embeddings (positions from 0 in each stream).
        embedded = torch.cat([encoder.embeddings(input_ids=batch["input_ids"]),
                              encoder.embeddings(input_ids=batch["source_input_ids"])], dim=1)
        mask = torch.cat([batch["attention_mask"], batch["source_attention_mask"]], dim=1)
        expected = encoder.encoder(embedded, create_bidirectional_mask(encoder.config, embedded, mask)).last_hidden_state
    length = batch["input_ids"].shape[1]
    torch.testing.assert_close(target, expected[:, :length], atol=1e-6, rtol=0)
    torch.testing.assert_close(source, expected[:, length:], atol=1e-6, rtol=0)


def test_gradients_flow_to_every_shared_layer_and_across_streams(europarl):
    tokenizer = europarl["wordpiece"]
    batch = pair_batch(tokenizer, europarl["pairs"][:6], with_target_labels=True)
    del batch["source_labels"]  # the loss comes from the target stream only
    target_tokens = set(batch["input_ids"].flatten().tolist())
    source_only = sorted(set(batch["source_input_ids"].flatten().tolist()) - target_tokens)
    assert source_only
    for local_layers, fusion_layers, crosses in [(1, 1, True), (3, 0, False)]:
        model = FilterModel(tiny_encoder("bert", tokenizer), FilterConfig("tagging", local_layers, fusion_layers,
                                                                         num_labels=len(LABELS)))
        model(**batch)["loss"].backward()
        for index, layer in enumerate(model.encoder.encoder.layer):
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters()), index
        source_only_grad = model.encoder.embeddings.word_embeddings.weight.grad[source_only].abs().sum()
        assert (source_only_grad > 0) == crosses
    assert sum(p.numel() for p in model.parameters()) == (sum(p.numel() for p in model.encoder.parameters())
                                                          + 32 * len(LABELS) + len(LABELS))


def test_unsupported_architecture_and_layer_counts_are_refused(europarl):
    gpt2 = GPT2Model(GPT2Config(vocab_size=50, n_embd=32, n_layer=2, n_head=2))
    with pytest.raises(FilterArchitectureError, match="BERT-family encoder.*GPT2Model"):
        FilterModel(gpt2, FilterConfig("classification", 1, 1))
    with pytest.raises(ValueError, match="m \\+ k <= 3"):
        FilterModel(tiny_encoder("bert", europarl["wordpiece"]), FilterConfig("tagging", 2, 2))
    with pytest.raises(ValueError, match="unknown FILTER task"):
        FilterConfig("parsing", 1, 1)
    with pytest.raises(ValueError, match="source_token_type 2 but the encoder has 2 token types"):
        FilterModel(tiny_encoder("bert", europarl["wordpiece"]), FilterConfig("tagging", 1, 1, source_token_type=2))


def test_source_token_type_option_marks_the_source_stream(europarl):
    tokenizer = europarl["wordpiece"]
    batch = pair_batch(tokenizer, europarl["pairs"][:4])
    batch["source_labels"] = torch.tensor([0, 1, 2, 1])  # sentence-level labels for a classification head
    outputs = []
    for source_token_type in (None, 1):
        model = FilterModel(tiny_encoder("bert", tokenizer), FilterConfig(
            "classification", 1, 1, num_labels=3, source_token_type=source_token_type)).eval()
        with torch.no_grad():
            outputs.append(model(**batch))
    assert "loss" in outputs[0] and not torch.allclose(outputs[0]["logits"], outputs[1]["logits"])


# ------------------------------------------------------------------------------------------- self-teaching

def test_kl_is_zero_when_student_and_teacher_agree_and_matches_a_hand_value():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    assert self_teaching_loss("classification", {"logits": logits[:, 0]}, {"logits": logits[:, 0].clone()}) == 0
    assert self_teaching_loss("tagging", {"logits": logits}, {"logits": logits.clone()}, mask).abs() < 1e-7
    qa = {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}
    assert self_teaching_loss("qa", qa, {k: v.clone() for k, v in qa.items()}, mask).abs() < 1e-7
    # Differences only where the mask is 0 do not count.
    changed = logits.clone()
    changed[0, 4, :2] += 5.0
    assert self_teaching_loss("tagging", {"logits": changed}, {"logits": logits}, mask).abs() < 1e-7
    assert self_teaching_loss("qa", {"start_logits": changed[..., 0], "end_logits": changed[..., 1]}, qa,
                              mask).abs() < 1e-6
    assert self_teaching_loss("tagging", {"logits": changed}, {"logits": logits}, torch.ones(3, 5)) > 0.01
    # Hand value: teacher (0, 0) -> p = (1/2, 1/2); student (ln 3, 0) -> q = (3/4, 1/4).
    teacher, student = torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]])
    assert kl_over_last_dim(student, teacher).item() == pytest.approx(0.5 * math.log(4 / 3), rel=1e-6)
    # T = 2: q = softmax(ln3 / 2, 0) = (√3, 1) / (√3 + 1); the term is scaled by T².
    q = (math.sqrt(3) / (math.sqrt(3) + 1), 1 / (math.sqrt(3) + 1))
    hand = 4 * (0.5 * math.log(0.5 / q[0]) + 0.5 * math.log(0.5 / q[1]))
    assert kl_over_last_dim(student, teacher, temperature=2.0).item() == pytest.approx(hand, rel=1e-6)
    assert DEFAULT_KL_WEIGHTS == {"tagging": 1.0, "classification": 0.5, "qa": 0.1}


def test_teacher_predictions_round_trip_beside_a_dataset(tmp_path, data_dir):
    dataset = write_mrc_dataset(tmp_path / "xquad-de", [xquad_rows(data_dir, "de", limit=4)])
    rows = {"classification": [{"id": "a", "logits": [0.5, -1.0, 2.0]}, {"id": "b", "logits": [0.0, 1.0, 0.0]}],
            "tagging": [{"id": "a", "logits": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]}, {"id": "b", "logits": [[0.0, 1.0]]}],
            "qa": [{"id": "a", "start_logits": [1.0, 2.0], "end_logits": [3.0, 4.0]},
                   {"id": "b", "start_logits": [0.5], "end_logits": [0.25]}]}
    for task, task_rows in rows.items():
        path = write_teacher_predictions(teacher_predictions_path(dataset, task), task, task_rows,
                                         label_names=["x", "y"], info={"teacher": "step-2"})
        assert path.parent.name == "_soft_labels" and path.parent.parent == dataset
        loaded = TeacherPredictions.load(path)
        assert (loaded.task, len(loaded), loaded.info, loaded.label_names) == (task, 2, {"teacher": "step-2"},
                                                                               ["x", "y"])
        for row in task_rows:
            got = loaded.get(row["id"])
            for name, value in row.items():
                if name != "id":
                    assert got[name].tolist() == value
        with pytest.raises(KeyError, match="no teacher prediction for example id 'c'"):
            loaded.get("c")
    assert validate_dataset(dataset) == []  # the predictions do not disturb the dataset
    tagging = TeacherPredictions.load(teacher_predictions_path(dataset, "tagging"))
    padded, mask = tagging.batch(["b", "a"], seq_len=4, lengths=[1, 3])
    assert padded["logits"].shape == (2, 4, 2) and mask.tolist() == [[1, 0, 0, 0], [1, 1, 1, 0]]
    assert padded["logits"][1, 2].tolist() == [5.0, 6.0] and padded["logits"][0, 1].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="example 'a' has 3 teacher positions, the student batch 2"):
        tagging.batch(["a"], seq_len=4, lengths=[2])
    with pytest.raises(ValueError, match="appears more than once"):
        write_teacher_predictions(tmp_path / "dup.parquet", "qa", rows["qa"] + rows["qa"][:1])
    metadata = json.loads(__import__("pyarrow.parquet").parquet.read_schema(
        teacher_predictions_path(dataset, "classification")).metadata[b"polyspan.self_teaching"])
    assert metadata["num_labels"] == 3


def test_filter_teacher_and_student_on_europarl_pairs(europarl, tmp_path):
    """Algorithm 1 for NER: a teacher trains on the English labels of en/de pairs, its soft predictions on the German
    stream are stored and reloaded by id, and a student trains with the source loss plus the KL term."""
    tokenizer, pairs = europarl["wordpiece"], europarl["pairs"]
    batches = [pair_batch(tokenizer, pairs[start:start + 8]) for start in range(0, len(pairs), 8)]
    for start, batch in zip(range(0, len(pairs), 8), batches):
        batch["ids"] = [f"europarl-{start + n}" for n in range(len(batch["ids"]))]
    config = FilterConfig("tagging", local_layers=1, fusion_layers=1, num_labels=len(LABELS))
    teacher = FilterModel(tiny_encoder("bert", tokenizer, seed=1), config)
    train_config = TrainConfig(lr=3e-3, total_steps=3, log_every=1, precision="fp32")
    result = train(teacher, batches, train_config, tmp_path / "teacher")
    assert [r["split"] for r in result.records] == ["train"] * 3
    assert all("loss_source" in r and "loss_kl" not in r for r in result.records)

    teacher.eval()
    rows = []
    with torch.no_grad():
        for batch in batches:
            rows += rows_from_outputs("tagging", batch["ids"], teacher(**batch), batch["attention_mask"])
    path = write_teacher_predictions(teacher_predictions_path(tmp_path / "europarl-de", "teacher"), "tagging", rows,
                                     label_names=LABELS)
    predictions = TeacherPredictions.load(path)
    student_batches = []
    for batch in batches:
        soft, mask = predictions.batch(batch["ids"], seq_len=batch["input_ids"].shape[1],
                                       lengths=batch["attention_mask"].sum(dim=1).tolist())
        student_batches.append({**batch, "teacher_logits": soft["logits"], "teacher_mask": mask})

    # A student that predicts what the teacher predicted has a zero KL term.
    clone = copy.deepcopy(teacher).eval()
    with torch.no_grad():
        out = clone(**student_batches[0])
    assert out["loss_kl"].abs() < 1e-5
    torch.testing.assert_close(out["loss"], out["loss_source"] + out["loss_kl"])

    student = FilterModel(tiny_encoder("bert", tokenizer, seed=2), config)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    result = train(student, student_batches, train_config, tmp_path / "student")
    kl_terms = [r["loss_kl"] for r in result.records]
    assert all(math.isfinite(v) and v > 0 for v in kl_terms)
    assert any(not torch.equal(before[k], v) for k, v in student.state_dict().items())


def qa_stream(tokenizer, rows, max_length=160):
    """``[CLS] question [SEP] context [SEP]`` with the first answer's token start/end (-100 when truncated)."""
    encoded = tokenizer([r["query"] for r in rows], [r["context"] for r in rows], truncation="only_second",
                        max_length=max_length, padding=True, return_offsets_mapping=True, return_tensors="pt")
    starts, ends = [], []
    for n, row in enumerate(rows):
        answer = row["answers"][0]
        sequence_ids, offsets = encoded.sequence_ids(n), encoded["offset_mapping"][n].tolist()
        start = end = -100
        for position, (sequence, (char_start, char_end)) in enumerate(zip(sequence_ids, offsets)):
            if sequence != 1:
                continue
            if char_start <= answer["start"] < char_end:
                start = position
            if char_start < answer["end"] <= char_end:
                end = position
        if start == -100 or end == -100:
            start = end = -100
        starts.append(start)
        ends.append(end)
    inputs = {key: encoded[key] for key in ("input_ids", "attention_mask", "token_type_ids")}
    return inputs, torch.tensor(starts), torch.tensor(ends)


def test_filter_qa_step_on_xquad_pairs_matched_by_id(data_dir, tmp_path):
    english = {row["id"].split("-", 1)[1]: row for row in xquad_rows(data_dir, "en", limit=40)}
    german = [row for row in xquad_rows(data_dir, "de", limit=40) if row["id"].split("-", 1)[1] in english][:8]
    assert len(german) == 8
    matched = [english[row["id"].split("-", 1)[1]] for row in german]
    tokenizer = wordpiece_tokenizer(sorted({r["context"] for r in german + matched})
                                    + [r["query"] for r in german + matched], 2000)
    target, start, end = qa_stream(tokenizer, german)
    source, source_start, source_end = qa_stream(tokenizer, matched)
    assert (start >= 0).sum() >= 4 and (source_start >= 0).sum() >= 4
    batch = {**target, "start_positions": start, "end_positions": end,
             **{f"source_{k}": v for k, v in source.items()},
             "source_start_positions": source_start, "source_end_positions": source_end}
    model = FilterModel(tiny_encoder("bert", tokenizer, seed=3), FilterConfig("qa", 1, 1))
    result = train(model, [batch], TrainConfig(lr=3e-3, total_steps=2, log_every=1, precision="fp32"),
                   tmp_path / "qa")
    first, second = result.records
    assert math.isfinite(first["loss"]) and second["loss"] < first["loss"]
    model.eval()
    with torch.no_grad():
        out = model(**{k: v for k, v in batch.items() if "positions" not in k})
    assert "loss" not in out and out["start_logits"].shape == target["input_ids"].shape
