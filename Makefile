# The two commands a newcomer runs (README, "Quick start"):
#   make demo   install into .venv, then run the main job end to end on the embedded sample
#   make test   install into .venv, build the engines' parts (make engines), then run the test suite
# Everything installs with constraints.txt so the torch 2.13.0 installed first is kept; on Linux that is PyPI's
# CUDA build (README, "Installing": for a CPU-only .venv install torch from PyTorch's CPU index first).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DEMO_OUT ?= out/demo

.PHONY: install engines demo test clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip wheel setuptools
	$(PIP) install --quiet -c constraints.txt torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e '.[all]'
	touch $@

demo: install
	rm -rf $(DEMO_OUT)
	$(PY) -m pipelines.import_conll --input pipelines/samples/en-de-sample.en.conll --lang en \
		--output $(DEMO_OUT)/tagged-en --num-shards 2 --runner DirectRunner
	$(PY) -m schemas validate $(DEMO_OUT)/tagged-en
	$(PY) -m pipelines.report $(DEMO_OUT)/tagged-en
	$(PY) -m pipelines.wiki_mrc --input pipelines/samples/enwiki-sample.xml --lang en --min-mentions 5 \
		--output $(DEMO_OUT)/mrc-en --num-shards 2 --runner DirectRunner
	$(PY) -m schemas validate $(DEMO_OUT)/mrc-en
	$(PY) -m pipelines.report $(DEMO_OUT)/mrc-en
	$(PY) -m pipelines.project_labels --source pipelines/samples/en-de-sample.en.conll --src-lang en \
		--translations pipelines/samples/en-de-sample.de.txt --tgt-lang de --output $(DEMO_OUT)/projected \
		--conll-out '$(DEMO_OUT)/projected/{lang}.conll' --runner DirectRunner
	$(PY) -m schemas validate $(DEMO_OUT)/projected/de
	$(PY) -m pipelines.report $(DEMO_OUT)/projected/de
	$(PY) -m pipelines.clism --source-spans pipelines/samples/en-de-sample.en.conll --src-lang en \
		--tgt pipelines/samples/en-de-sample.de.txt --tgt-lang de --output $(DEMO_OUT)/clism-en-de \
		--num-shards 1 --runner DirectRunner
	$(PY) -m schemas validate $(DEMO_OUT)/clism-en-de
	$(PY) -m pipelines.report $(DEMO_OUT)/clism-en-de
	$(PY) -m trainer.pretrain --config configs/demo_tiny_wae.yaml output_dir=$(DEMO_OUT)/pretrain-wae \
		data.train=$(DEMO_OUT)/mrc-en data.eval=$(DEMO_OUT)/mrc-en
	$(PY) -m trainer.finetune --config configs/demo_tiny_finetune_projected.yaml output_dir=$(DEMO_OUT)/finetune-ner-de \
		model.name_or_path=$(DEMO_OUT)/pretrain-wae/checkpoints/step-00000040 \
		data.train.en=$(DEMO_OUT)/tagged-en data.translated.de=$(DEMO_OUT)/projected/de \
		data.eval.en=$(DEMO_OUT)/tagged-en data.eval.de=$(DEMO_OUT)/projected/de
	$(PY) -m trainer.predict --model $(DEMO_OUT)/finetune-ner-de --input pipelines/samples/en-de-sample.de.txt \
		--lang de --output $(DEMO_OUT)/finetune-ner-de/predictions.jsonl

# What the engine tests need from outside Python (docs/engines.md): Beam's Prism, built from the Go module proxy
# into ~/.cache/polyspan once; the Flink and Spark job-server jars, which Maven Central does not serve for the
# pinned Beam release, so their fetch may fail without failing the build (their tests then skip, naming them).
engines: install
	$(PY) -m pipelines.engines.prism build
	-$(PY) -m pipelines.engines.jars fetch

test: install engines
	$(PY) -m pytest

clean:
	rm -rf $(VENV) out .pytest_cache
