# `make search` and `make test` create a local virtual environment in .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: search test benchmark clean

$(BIN)/kvsf-tune: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

search: $(BIN)/kvsf-tune
	$(BIN)/kvsf-tune search matcher

test: $(BIN)/kvsf-tune
	$(BIN)/pytest

benchmark: $(BIN)/kvsf-tune
	$(BIN)/kvsf-tune benchmark

clean:
	rm -rf $(VENV) .pytest_cache
