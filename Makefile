# Two set-up commands (README "Quick start"): `make demo` and `make test`.
# Both create .venv on first use; nothing outside this folder is touched, except that
# `make test` asks apt for xmlsec1 when it is missing and we are root (CI is).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/docnode demo

test: $(STAMP)
	@command -v xmlsec1 >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
	  (apt-get update -qq && apt-get install -y -qq xmlsec1) >/dev/null 2>&1 || true
	$(BIN)/ruff check envelopes keystore docnode tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -rs -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check envelopes keystore docnode tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/envelopes.py

clean:
	rm -rf $(VENV) build *.egg-info
