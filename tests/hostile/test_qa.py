"""Catalogue: SQuAD-format QA files given to ``trainer.finetune`` (damaged copies of XQuAD English). Every case
stops the run before any training with one line naming the file and the entry (``data[a].paragraphs[p]...``),
and the run leaves no output behind."""
import json
from pathlib import Path

import pytest

from finetune_fixtures import run_finetune, tiny_config
from hostile.outcomes import assert_failed_cleanly

XQUAD = "qa/xquad/xquad.en.json"


@pytest.fixture(scope="module")
def xquad(data_dir):
    document = json.loads((data_dir / XQUAD).read_text(encoding="utf-8"))
    document["data"] = document["data"][:2]
    return document


def _finetune(tmp_path, document) -> tuple[int, Path, Path]:
    path = tmp_path / "xquad.en.json"  # the file name gives the language
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "qa", "head": "start_end"},
                         {"train": {"en": {"path": str(path)}}, "eval": {"en": {"path": str(path)}}})
    return run_finetune(tmp_path, config), path, out


def _assert_nothing_written(out) -> None:
    assert not out.exists() or not any(out.iterdir()), sorted(out.iterdir())


def test_answer_text_not_at_its_answer_start(xquad, tmp_path, capsys):
    document = json.loads(json.dumps(xquad))
    answer = document["data"][1]["paragraphs"][0]["qas"][2]["answers"][0]
    answer["answer_start"] += 3
    status, path, out = _finetune(tmp_path, document)
    assert_failed_cleanly(status, capsys.readouterr().err, str(path), "data[1].paragraphs[0].qas[2].answers[0]",
                          f"is not at answer_start {answer['answer_start']}")
    _assert_nothing_written(out)


def test_missing_keys(xquad, tmp_path, capsys):
    document = json.loads(json.dumps(xquad))
    del document["data"][0]["paragraphs"][1]["qas"][0]["question"]
    status, path, out = _finetune(tmp_path, document)
    assert_failed_cleanly(status, capsys.readouterr().err, str(path), "data[0].paragraphs[1].qas[0]",
                          "missing 'question'")
    _assert_nothing_written(out)


def test_empty_dataset(xquad, tmp_path, capsys):
    status, path, out = _finetune(tmp_path, {"version": xquad.get("version", "1.1"), "data": []})
    assert_failed_cleanly(status, capsys.readouterr().err, str(path), "data.train.en: no examples")
    _assert_nothing_written(out)
