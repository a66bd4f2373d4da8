"""Errors a user causes deep in the trainer are ``UserError``s (one line from a command), not plain ``ValueError``s
with a traceback: input lengths with no room for a context, a tokenizer without [QUE], CLISM options, too many
frozen layers, an unknown dataset kind."""
from pathlib import Path

import pytest
from transformers import BertConfig, BertModel

from schemas import get_kind
from schemas.errors import InputDataError, UserError
from schemas.registry import UnknownNameError
from trainer.adaptation.frozen import freeze_lower_layers
from trainer.config import ConfigError
from trainer.data.qa_features import QAFeatureConfig, QAFeaturizer
from trainer.objectives.clism_model import ClismObjectiveConfig
from trainer.pretrain import main as pretrain_main
from trainer_fixtures import training_texts, wordpiece_tokenizer, write_mrc_dataset, xquad_rows

DEMO = Path(__file__).resolve().parent.parent / "configs" / "demo_tiny_wae.yaml"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_max_length_with_no_room_for_a_context_ends_a_run_with_one_line(data_dir, tmp_path, capsys):
    shards = write_mrc_dataset(tmp_path / "mrc", [xquad_rows(data_dir, "en", limit=8)])
    assert pretrain_main(["--config", str(DEMO), f"output_dir={tmp_path / 'run'}", f"data.train=[{shards}]",
                          "data.eval=[]", "tokenizer.train_vocab_size=300", "data.max_length=60",
                          "data.max_query_length=64"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: data.max_length 60 leaves no room for a context"), err
    assert "data.max_query_length 64" in err[0]


def test_a_que_head_without_the_que_token_is_an_input_error(data_dir):
    tokenizer = wordpiece_tokenizer(training_texts(xquad_rows(data_dir, "en", limit=8)), vocab_size=500)
    with pytest.raises(InputDataError, match=r"the tokenizer has no '\[QUE\]' token"):
        QAFeaturizer(tokenizer, QAFeatureConfig(head="que"))


def test_clism_options_frozen_layers_and_dataset_kinds_are_user_errors():
    with pytest.raises(ConfigError, match="objective.options.candidates must be one of target, sequence, not 'all'"):
        ClismObjectiveConfig(candidates="all")
    with pytest.raises(ConfigError, match="objective.options.cacr_negatives must be global or rank"):
        ClismObjectiveConfig(cacr_negatives="batch")
    encoder = BertModel(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=16))
    with pytest.raises(ConfigError, match="constraint.frozen_layers: cannot freeze 3 layers of a 2-layer encoder"):
        freeze_lower_layers(encoder, 3)
    with pytest.raises(UnknownNameError, match="unknown dataset kind 'images'; choose one of clism, mrc, tagged"):
        get_kind("images")
    assert issubclass(UnknownNameError, UserError)
