# Two commands matter: `make run` and `make test`. Everything they need is installed here.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench agents clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
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

# Real coding agents through the gateway against a scripted upstream (needs npm; not in `make test`).
AGENTS := .agents
agents: $(STAMP)
	npm install --silent --no-audit --no-fund --prefix $(AGENTS) @anthropic-ai/claude-code
	$(BIN)/python tools/agents/claude_code.py --claude $(AGENTS)/node_modules/.bin/claude

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
