# The two commands of the README: `make demo` (main job) and `make test` (test suite).
# Both create .venv from this repository's files when it is missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,llm]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/affectrl demo

test: $(STAMP)
	$(BIN)/python -m pytest -x --timeout 600 tests

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf runs .cache .pytest_cache
