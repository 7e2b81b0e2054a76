# mditface: one venv, one install, the commands a researcher types.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test bench pretrain-base train ablation-attention ablation-tokenization ablation-unimodal clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/bench_synthfaces.py

CONFIG ?= experiments/synthfaces.yaml
ATTENTION ?= improved_decoupled

pretrain-base: install
	$(VENV)/bin/mdit pretrain-base -c $(CONFIG)

train: install
	$(VENV)/bin/mdit train -c $(CONFIG) model.attention=$(ATTENTION) $(ARGS)

ablation-attention ablation-tokenization ablation-unimodal:
	@echo "make $@: not available yet - needs evaluation (judges, metrics) and the sweep runner (see README, 'Status')." >&2
	@exit 2

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
