# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
MPY_DIR := tools/micropython
HYPOTHESIS_PROFILE ?= ci
# pytest-xdist: one worker per core; a test file stays on one worker (module fixtures, and
# files that share a resource run their tests in order)
PYTEST_WORKERS ?= auto
PYTEST := $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: setup system-tools run test test-python test-micropython bench deep-test diagram evidence clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

$(MPY_DIR)/node_modules/.installed: $(MPY_DIR)/package.json $(MPY_DIR)/package-lock.json
	cd $(MPY_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian packages the tests run for real: tshark dissects our pcapng captures, Chromium
# (driven through chromedriver) draws the run report; Graphviz's dot draws the threat
# model's data-flow diagram for `make evidence`. Idempotent: nothing happens when the
# tools are on PATH. The debconf answer keeps tshark from asking whether non-root users may
# capture packets.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBIAN_TOOLS := tshark:tshark chromium:chromium chromedriver:chromium-driver dot:graphviz

system-tools:
	@missing=""; for pair in $(DEBIAN_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo 'wireshark-common wireshark-common/install-setuid boolean false' \
	    | $(SUDO) debconf-set-selections && \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y --no-install-recommends $$missing; fi

setup: $(VENV)/.installed $(MPY_DIR)/node_modules/.installed system-tools

run: setup
	$(VENV)/bin/pumpsim run --out out

test: setup test-python test-micropython

test-python: $(VENV)/.installed system-tools
	HYPOTHESIS_PROFILE=$(HYPOTHESIS_PROFILE) $(PYTEST)

test-micropython: setup
	$(PY) $(MPY_DIR)/run.py tests

deep-test: setup
	HYPOTHESIS_PROFILE=deep $(PYTEST)

bench: setup
	$(PY) tools/bench/run.py

diagram: $(VENV)/.installed
	$(PY) -m sim.transitions_diagram > docs/therapy-state-machine.md
	$(PY) -m pump.hazards > docs/hazards.md
	$(PY) -m secure_channel.protocol.doc > docs/protocol.md

# Regulatory evidence from the code and the latest results: runs the tests linked to a
# control and a short attack campaign, then writes out/evidence/ (see docs/evidence.md).
evidence: setup
	$(PY) -m tools.evidence --out out/evidence

clean:
	rm -rf $(VENV) $(MPY_DIR)/node_modules
