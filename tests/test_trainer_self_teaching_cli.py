"""FILTER's self-teaching from the command line (paper 004): a teacher run writes its soft predictions on the
translated training text (``self_teaching.write``), a student run adds the KL term through its batches
(``self_teaching.teacher``). Tiny from-scratch models on real data: Europarl NER (tagging), Tatoeba pairs
(classification), each with a FILTER and a single-stream model on one side."""
import json

import pyarrow.parquet as pq
import pytest
from transformers import AutoTokenizer

from finetune_fixtures import read_records, read_report, run_finetune, tatoeba_pair_files, tiny_config
from schemas.conll import read_conll
from trainer.adaptation.soft_labels import TeacherPredictions
from trainer.data.tagging_features import TaggingCollator

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def entry(path, limit: int) -> dict:
    return {"path": str(path), "limit": limit}


def europarl_config(out, data_dir, translated: int = 16, **sections) -> dict:
    ner = data_dir / "ner"
    english, german = ner / "en-europarl.test.conll02", ner / "de-europarl.test.conll02"
    return tiny_config(out, {"name": "ner", "head": "tagging", "scheme": "BIO"},
                       {"train": {"en": entry(english, 16)}, "translated": {"de": entry(german, translated)},
                        "eval": {"de": entry(german, 8)}, "eval_translations": {"de": entry(english, 8)}},
                       adaptation={"name": "translate-train"}, **sections)


def train_records(out) -> list[dict]:
    return [r for r in read_records(out) if r["split"] == "train"]


def test_filter_teacher_writes_soft_labels_and_a_tagger_learns_from_them(data_dir, tmp_path, capsys):
    teacher_out = tmp_path / "teacher"
    config = europarl_config(teacher_out, data_dir, model={"filter": {"local_layers": 1, "fusion_layers": 1}},
                             self_teaching={"write": "teacher"})
    assert run_finetune(tmp_path, config, name="teacher.yaml") == 0
    path = teacher_out / "_soft_labels" / "teacher.parquet"
    teacher = TeacherPredictions.load(path)
    german = data_dir / "ner" / "de-europarl.test.conll02"
    sentences = [{"id": f"{german.name}:{s.index}", "tokens": s.tokens, "tags": s.tags}
                 for s in read_conll(german, tag_scheme=None)][:16]
    assert pq.read_table(path).column("id").to_pylist() == [s["id"] for s in sentences]
    labels = json.loads((teacher_out / "task.json").read_text())["labels"]
    assert teacher.task == "tagging" and teacher.label_names == labels
    # One row of label logits per token of the German sentence as the tagging collator tokenises it.
    collate = TaggingCollator(AutoTokenizer.from_pretrained(teacher_out / "tokenizer"), labels, "BIO", 128)
    for sentence in sentences[:4]:
        logits = teacher.get(sentence["id"])["logits"]
        assert logits.shape == (int(collate([sentence])["attention_mask"].sum()), len(labels))

    # A single-stream student on the same translated text with the teacher's tokenizer: task loss weighted
    # 1 - 1.0 = 0 (paper 004's tagging default), the KL weighted 1.
    student_out = tmp_path / "student"
    student = europarl_config(student_out, data_dir, tokenizer={"train_vocab_size": None,
                                                                "path": str(teacher_out / "tokenizer")},
                              self_teaching={"teacher": str(path)})
    assert run_finetune(tmp_path, student, name="student.yaml") == 0
    records = train_records(student_out)
    assert len(records) == 3
    for record in records:
        assert record["loss_kl"] > 1e-3 and record["loss_task"] > 0
        assert record["loss"] == pytest.approx(record["loss_kl"], rel=1e-5)
    assert read_report(student_out)["self_teaching"]["kl_weight"] == 1.0

    # Translated examples the teacher never saw: refused before training, naming one.
    missing = europarl_config(tmp_path / "missing", data_dir, translated=20,
                              tokenizer={"train_vocab_size": None, "path": str(teacher_out / "tokenizer")},
                              self_teaching={"teacher": str(path)})
    capsys.readouterr()
    assert run_finetune(tmp_path, missing, name="missing.yaml") == 1
    assert "no prediction for 4 translated training example(s)" in capsys.readouterr().err


def test_student_taught_by_its_own_initial_model_has_zero_kl(data_dir, tmp_path):
    """Teacher = the student's initial model (the same seed, no dropout, one step of lr 1e-12 - lr 0 is refused -
    which moves no weight by more than about 1e-12): at the first step the KL term,
    and with the tagging default (no label loss) the whole loss, is zero."""
    no_dropout = {"from_scratch": {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2,
                                   "num_attention_heads": 2, "intermediate_size": 64,
                                   "max_position_embeddings": 192, "hidden_dropout_prob": 0.0,
                                   "attention_probs_dropout_prob": 0.0}}
    teacher_out = tmp_path / "teacher"
    teacher = europarl_config(teacher_out, data_dir, model=no_dropout, train={"lr": 1e-12, "total_steps": 1},
                              self_teaching={"write": "initial"})
    assert run_finetune(tmp_path, teacher, name="teacher.yaml") == 0
    student_out = tmp_path / "student"
    student = europarl_config(student_out, data_dir, model=no_dropout,
                              tokenizer={"train_vocab_size": None, "path": str(teacher_out / "tokenizer")},
                              self_teaching={"teacher": str(teacher_out / "_soft_labels" / "initial.parquet")})
    assert run_finetune(tmp_path, student, name="student.yaml") == 0
    first = train_records(student_out)[0]
    assert first["step"] == 1
    assert first["loss_kl"] == pytest.approx(0.0, abs=1e-6) and first["loss"] == pytest.approx(0.0, abs=1e-6)
    assert first["loss_task"] > 0.1  # the labels are there; they are only weighted 0


def test_pair_classifier_teacher_and_filter_student(data_dir, tmp_path):
    """Tatoeba sentence pairs: a single-stream classifier trained on the German pairs writes its logits; a FILTER
    student (German pairs read with the English pairs of the same id) learns with L^s + 0.5 L^t + 0.5 KL."""
    files = tatoeba_pair_files(data_dir, tmp_path)
    data = {"train": {"en": str(files["en_train"])}, "translated": {"de": str(files["de_train"])},
            "eval": {"de": str(files["de_dev"])}, "eval_translations": {"de": str(files["en_dev"])},
            "max_length": 64}
    teacher_out = tmp_path / "teacher"
    teacher = tiny_config(teacher_out, {"name": "pair", "head": "classifier"}, data,
                          adaptation={"name": "translate-train"},
                          self_teaching={"write": "teacher", "write_dir": str(tmp_path / "translated-de")})
    assert run_finetune(tmp_path, teacher, name="teacher.yaml") == 0
    path = tmp_path / "translated-de" / "_soft_labels" / "teacher.parquet"
    predictions = TeacherPredictions.load(path)
    assert predictions.task == "classification" and predictions.label_names == ["0", "1"]
    assert sorted(pq.read_table(path).column("id").to_pylist()) == sorted(f"de-{n}" for n in range(24))

    student_out = tmp_path / "student"
    student = tiny_config(student_out, {"name": "pair", "head": "classifier"}, data,
                          model={"filter": {"local_layers": 1, "fusion_layers": 1, "pair_by": "id"}},
                          self_teaching={"teacher": str(path)})
    assert run_finetune(tmp_path, student, name="student.yaml") == 0
    for record in train_records(student_out):
        assert record["loss_kl"] > 0
        assert record["loss"] == pytest.approx(record["loss_source"] + 0.5 * record["loss_target"]
                                               + 0.5 * record["loss_kl"], rel=1e-5)
    assert read_report(student_out)["counts"] == {"de": 8}


def test_filter_qa_and_its_self_teaching_on_xquad(data_dir, tmp_path, capsys):
    """FILTER for start/end QA from the command line: German XQuAD questions (the translated training text, with
    their own answers) read with the English ones of the same id; the German test questions with their English
    translations, by the run and by trainer.evaluate alike. Its soft start/end labels go to Parquet (one window
    per question), and a FILTER student learns from them (paper 004: KL weight 0.1 for QA)."""
    from trainer.evaluate import main as evaluate_main

    xquad = data_dir / "qa" / "xquad"
    english, german = xquad / "xquad.en.json", xquad / "xquad.de.json"

    def qa_config(out, **sections):
        return tiny_config(out, {"name": "qa", "head": "start_end"},
                           {"train": {"en": entry(english, 16)}, "translated": {"de": entry(german, 16)},
                            "eval": {"de": {"path": str(german), "limit": 8, "skip": 16}},
                            "eval_translations": {"de": {"path": str(english), "limit": 8, "skip": 16}}},
                           adaptation={"name": "translate-train"},
                           model={"filter": {"local_layers": 1, "fusion_layers": 1, "pair_by": "id"}}, **sections)

    teacher_out = tmp_path / "teacher"
    assert run_finetune(tmp_path, qa_config(teacher_out, self_teaching={"write": "teacher"}), name="t.yaml") == 0
    records = train_records(teacher_out)
    assert all(r["loss"] == pytest.approx(r["loss_source"] + r["loss_target"], rel=1e-5) for r in records)
    report = read_report(teacher_out)
    assert list(report["languages"]) == ["de"] and report["counts"] == {"de": 8}
    assert 0 <= report["languages"]["de"]["exact_match"] <= report["languages"]["de"]["f1"] <= 100
    capsys.readouterr()
    json_out = tmp_path / "eval.json"
    data = ["--data", f"de={german}", "--translations", f"de={english}"]
    # trainer.evaluate reads the same 8 questions (after the 16 training ones) only through the run's files, so
    # it is given the whole files here and its German count is XQuAD's.
    assert evaluate_main(["--model", str(teacher_out), *data, "--limit", "24", "--json-out", str(json_out)]) == 0
    assert json.loads(json_out.read_text())["counts"] == {"de": 24}

    path = teacher_out / "_soft_labels" / "teacher.parquet"
    teacher = TeacherPredictions.load(path)
    ids = [q["id"] for article in json.loads(german.read_text(encoding="utf-8"))["data"]
           for paragraph in article["paragraphs"] for q in paragraph["qas"]][:16]
    assert teacher.task == "qa" and pq.read_table(path).column("id").to_pylist() == ids
    assert set(pq.read_table(path).column_names) >= {"id", "start_logits", "end_logits"}
    row = teacher.get(ids[0])
    assert len(row["start_logits"]) == len(row["end_logits"]) > 10

    student_out = tmp_path / "student"
    student = qa_config(student_out, tokenizer={"train_vocab_size": None, "path": str(teacher_out / "tokenizer")},
                        self_teaching={"teacher": str(path)})
    assert run_finetune(tmp_path, student, name="s.yaml") == 0
    records = train_records(student_out)
    assert all(r["loss_kl"] >= 0 for r in records)
    # eq. 6 with QA's defaults: source labels 1, target labels 1 - 0.1, KL 0.1.
    for r in records:
        assert r["loss"] == pytest.approx(r["loss_source"] + 0.9 * r["loss_target"] + 0.1 * r["loss_kl"], rel=1e-4)
    assert read_report(student_out)["self_teaching"]["kl_weight"] == 0.1


def test_qa_self_teaching_needs_filter(data_dir, tmp_path, capsys):
    xquad = data_dir / "qa" / "xquad"
    config = tiny_config(tmp_path / "run", {"name": "qa", "head": "start_end"},
                         {"train": {"en": entry(xquad / "xquad.en.json", 8)},
                          "translated": {"de": entry(xquad / "xquad.de.json", 8)}},
                         adaptation={"name": "translate-train"}, self_teaching={"write": "teacher"})
    assert run_finetune(tmp_path, config) == 1
    assert "reads one window per example, as a FILTER model does" in capsys.readouterr().err
