# Two commands matter: `make run` and `make test`. Everything they need is installed here.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: what the gateway runs on (enough for `make run`), then the test and lint tools.
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed

# uv installs in seconds what pip takes a minute or more for on a busy machine. It is
# taken from PATH, or put in .venv/.uv by the system's pip; where neither works, the venv
# gets pip and pip does the work. The venv starts without pip: ensurepip alone costs
# several seconds.
UV := $(or $(shell command -v uv 2>/dev/null),$(VENV)/.uv/bin/uv)
install = { $(UV) pip install -q --python $(BIN)/python -c constraints.txt $(1) \
	|| { $(BIN)/python -m ensurepip >/dev/null && $(BIN)/python -m pip install -q -c constraints.txt $(1); }; }

.PHONY: run test lint typecheck unit bench agents openwebui clean

$(BIN)/python:
	$(PY) -m venv --without-pip $(VENV)

$(RUNTIME): pyproject.toml constraints.txt | $(BIN)/python
	test -x $(UV) || PIP_ROOT_USER_ACTION=ignore $(PY) -m pip install -q --target $(VENV)/.uv uv \
		|| echo "no uv: pip installs"
	$(call install,-e .)
	touch $@

$(STAMP): $(RUNTIME)
	$(call install,-e '.[test]')
	touch $@

run: $(RUNTIME)
	$(BIN)/pool-proxy serve

lint: $(STAMP)
	$(BIN)/ruff check proxy tests bench tools
	$(BIN)/ruff format --check proxy tests bench tools

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
	npm install --silent --no-audit --no-fund --prefix $(AGENTS) @anthropic-ai/claude-code @openai/codex
	$(BIN)/python tools/agents/claude_code.py --claude $(AGENTS)/node_modules/.bin/claude
	$(BIN)/python tools/agents/codex_exec.py --codex $(AGENTS)/node_modules/.bin/codex
	$(BIN)/python tools/agents/codex_exec.py --codex $(AGENTS)/node_modules/.bin/codex --patch

# A real Open WebUI, driven in Debian's headless Chromium by the tests' Playwright, through
# the gateway against the fake Monica (not in `make test`). Open WebUI gets its own venv: it
# pulls torch, and plain pip takes the CPU wheel this machine has on disk where uv would
# fetch a multi-GB CUDA build.
OWUI := .openwebui
OPENWEBUI_VERSION := 0.12.4
$(OWUI)/.installed-$(OPENWEBUI_VERSION):
	$(PY) -m venv $(OWUI)/venv
	PIP_ROOT_USER_ACTION=ignore $(OWUI)/venv/bin/pip install -q torch==2.13.0
	PIP_ROOT_USER_ACTION=ignore $(OWUI)/venv/bin/pip install -q open-webui==$(OPENWEBUI_VERSION)
	touch $@

openwebui: $(STAMP) $(OWUI)/.installed-$(OPENWEBUI_VERSION)
	@test -x "$${CHROMIUM:-/usr/bin/chromium}" || { echo "needs Chromium: bash tests/prepare.sh"; exit 1; }
	$(BIN)/python tools/openwebui/tool_call.py
	$(BIN)/python tools/openwebui/sticky.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
