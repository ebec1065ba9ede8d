# Two commands matter: `make run` and `make test`. Everything they need is installed here.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: what the gateway runs on (enough for `make run`), then the test and lint tools.
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed

# uv installs in seconds what pip takes a minute or more for on a busy machine. It is
# used when it is on PATH or can be put in the venv; pip does the work where it cannot.
UV := $(shell command -v uv 2>/dev/null)
install = { $(or $(UV),$(BIN)/python -m uv) pip install -q --python $(BIN)/python $(1) \
	|| $(BIN)/python -m pip install -q $(1); }

.PHONY: run test lint typecheck unit bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(if $(UV),,$(BIN)/python -m pip install -q uv || echo "uv not to be had: pip installs")

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(call install,-e .)
	touch $@

$(STAMP): $(RUNTIME)
	$(call install,-e '.[test]')
	touch $@

run: $(RUNTIME)
	$(BIN)/pool-proxy serve

lint: $(STAMP)
	$(BIN)/ruff check proxy tests bench
	$(BIN)/ruff format --check proxy tests bench

typecheck: $(STAMP)
	$(BIN)/mypy proxy

unit: $(STAMP)
	bash tests/prepare.sh
	$(BIN)/pytest

test: lint typecheck unit

bench: $(STAMP)
	bash bench/run.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
