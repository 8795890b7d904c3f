# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
MPY_DIR := tools/micropython
HYPOTHESIS_PROFILE ?= ci

.PHONY: setup run test test-python test-micropython bench deep-test diagram clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

$(MPY_DIR)/node_modules/.installed: $(MPY_DIR)/package.json $(MPY_DIR)/package-lock.json
	cd $(MPY_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed $(MPY_DIR)/node_modules/.installed

run: setup
	$(VENV)/bin/pumpsim demo

test: setup test-python test-micropython

test-python: $(VENV)/.installed
	HYPOTHESIS_PROFILE=$(HYPOTHESIS_PROFILE) $(PY) -m pytest

test-micropython: setup
	$(PY) $(MPY_DIR)/run.py tests

deep-test: setup
	HYPOTHESIS_PROFILE=deep $(PY) -m pytest

bench: setup
	$(PY) tools/bench/run.py

diagram: $(VENV)/.installed
	$(PY) -m pump.transitions_diagram > docs/therapy-state-machine.md
	$(PY) -m pump.hazards > docs/hazards.md
	$(PY) -m secure_channel.protocol_schema > docs/protocol.md

clean:
	rm -rf $(VENV) $(MPY_DIR)/node_modules
