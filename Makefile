# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch 2.13.0 is a CPU build on the project's machines; a plain `pip install torch` would pull a
# multi-GB CUDA build, so install the pinned one first whenever torch is not importable.
TORCH_PIN := torch==2.13.0

.PHONY: run test bench install install-dev clean-venv default-model

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet $(TORCH_PIN)
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/seqgan-music compose --n 8 --format mid,abc,wav --out tunes

# Rebuild the shipped default model (seqgan_music/default_model/) from nothing: the folk corpus, a
# whole-tune SeqGAN run with rewards per bar and its MLE-only twin (the same size and seed), trained
# side by side on one thread each, both evaluated, then packed at copy temperature 0.5 (where its tunes
# repeat their own bars as often as the training tunes). Times: see README, The default model.
MODEL_HOME := build/default-model
SM := $(BIN)/seqgan-music
default-model: install
	$(SM) corpus build folk --home $(MODEL_HOME)
	$(SM) train folk --preset folk-tunes --seed 0 --run folk-tunes-default --set run.threads=1 --home $(MODEL_HOME) & \
	seqgan=$$!; \
	$(SM) train folk --preset folk-tunes --seed 0 --method mle --run folk-tunes-default-mle --set run.threads=1 \
	  --home $(MODEL_HOME) & \
	mle=$$!; \
	wait $$seqgan && wait $$mle
	$(SM) evaluate folk-tunes-default-mle folk-tunes-default --samples 1000 --json $(MODEL_HOME)/evaluation.json --home $(MODEL_HOME)
	$(SM) pack folk-tunes-default --out seqgan_music/default_model --home $(MODEL_HOME) --copy-temperature 0.5 \
	  --reproduce "seqgan-music corpus build folk" \
	  --reproduce "seqgan-music train folk --preset folk-tunes --seed 0 --run folk-tunes-default --set run.threads=1" \
	  --reproduce "seqgan-music evaluate folk-tunes-default --samples 1000" \
	  --reproduce "seqgan-music pack folk-tunes-default --out seqgan_music/default_model --copy-temperature 0.5" \
	  --reproduce "(or all of it, with the MLE-only twin: make default-model)"

# One worker per core, each test file on one worker (its module fixtures, some of which train runs, are
# built once); the tests keep torch on one thread per worker (tests/conftest.py).
test: install-dev
	$(BIN)/python -m pytest -q -n auto --dist loadfile

bench: install-dev
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/rollout_step.py
	$(BIN)/python benchmarks/bleu_speed.py
	$(BIN)/python benchmarks/compose_speed.py
	$(BIN)/python benchmarks/ingest_scale.py

clean-venv:
	rm -rf $(VENV)
