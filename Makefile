# mditface: one venv, one install, the commands a researcher types.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint bench pretrain-base train ablation-attention ablation-efficiency ablation-conditions ablation-tokenization ablation-unimodal \
	ablation-dropout ablation-guidance curves sweep-wandb sweep-agent clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

LINTED := mdit tests benchmarks

test: install lint
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)

# CPU benchmarks (docs/PERFORMANCE.md); the GPU one: $(PY) benchmarks/bench_sampling.py --model dev
bench: install
	$(PY) benchmarks/bench_synthfaces.py
	$(PY) benchmarks/bench_sampling.py --model embedded
	$(PY) benchmarks/bench_training.py -c $(CONFIG)

CONFIG ?= experiments/synthfaces.yaml
ATTENTION ?= improved_decoupled

pretrain-base: install
	$(VENV)/bin/mdit pretrain-base -c $(CONFIG)

train: install
	$(VENV)/bin/mdit train -c $(CONFIG) model.attention=$(ATTENTION) $(ARGS)

# Sweeps (sweeps/README.md). Each ablation: the backbone and judges once (if missing), the local sweep (runs
# skipped when complete, resumed when interrupted, retried when failed), then its table. A failed run still
# gets the table of the others, and the target fails. PROFILE=smoke: the same in minutes, numbers meaningless;
# PROFILE=long: 4x the training, where the mask-token variants read the mask; PROFILE=gpu: bigger settings,
# 3 seeds. Each profile has its own runs/ and results/ folders.
PROFILE ?= default
SWEEP ?= ablation_attention
comma := ,
SEEDS ?= $(if $(filter gpu,$(PROFILE)),0$(comma)1$(comma)2)
RESULTS := $(if $(filter default,$(PROFILE)),results,results/$(PROFILE))
SWEEP_OPTIONS = -c $(CONFIG) --profile $(PROFILE) $(if $(SEEDS),--seeds $(SEEDS))
MDIT := $(VENV)/bin/mdit

define ablation
	$(MDIT) sweep sweeps/$(1).yaml --backend local $(SWEEP_OPTIONS) $(ARGS) || status=$$?; \
	$(MDIT) table sweeps/$(1).yaml -c $(CONFIG) --profile $(PROFILE) --out $(RESULTS) $(ARGS) && exit $${status:-0}
endef

ablation-attention: install
	$(call ablation,ablation_attention)

ablation-efficiency: install
	$(call ablation,ablation_efficiency)

ablation-conditions: install
	$(call ablation,conditions)

ablation-tokenization: install
	$(call ablation,ablation_tokenization)

ablation-unimodal: install
	$(call ablation,unimodal)

ablation-dropout: install
	$(call ablation,dropout)

ablation-guidance: install
	$(call ablation,guidance)

# Learning curves: every kept checkpoint of a sweep's runs scored (what is scored already is kept), then its
# table, whose <sweep>_curves.png draws them: make curves [SWEEP=ablation_attention] [PROFILE=long]
RUNS := $(if $(filter default,$(PROFILE)),runs,runs/$(PROFILE))
curves: install
	@for run in $(RUNS)/$(SWEEP)/*/; do \
	  if ls $$run/checkpoints/step=*.ckpt > /dev/null 2>&1; then \
	    $(MDIT) eval $$run --checkpoints all $(ARGS) || exit 1; \
	  fi; \
	done
	$(MDIT) table sweeps/$(SWEEP).yaml -c $(CONFIG) --profile $(PROFILE) --out $(RESULTS)

# A W&B sweep (needs `wandb login`): make sweep-wandb SWEEP=ablation_attention [PROFILE=gpu]; it creates the
# sweep, prints its id and runs one agent here. More agents, on any machine with this repository:
# make sweep-agent SWEEP_ID=ENTITY/PROJECT/ID
sweep-wandb: install
	$(MDIT) sweep sweeps/$(SWEEP).yaml --backend wandb $(SWEEP_OPTIONS) $(ARGS)

sweep-agent: install
	@test -n "$(SWEEP_ID)" || { echo "make sweep-agent: pass SWEEP_ID=ENTITY/PROJECT/ID" >&2; exit 2; }
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/wandb agent $(SWEEP_ID)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
