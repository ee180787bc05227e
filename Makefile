# Make targets are the contract: the same commands in README and CI.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= config/arbot.toml
# Under the repo by default, so `make run` works without root; systemd uses /var/lib/arbot.
DATA_DIR ?= data

.DEFAULT_GOAL := check
.PHONY: install run demo test lint format bench reliability check clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/arbot run --config $(CONFIG) --data-dir $(DATA_DIR)

demo: $(STAMP)
	$(BIN)/arbot demo

test: $(STAMP)
	$(BIN)/pytest -q

reliability: $(STAMP)
	$(BIN)/pytest -q -m slow tests/reliability -p no:cacheprovider -s

lint: $(STAMP)
	$(BIN)/ruff check daemon tests bench
	$(BIN)/ruff format --check daemon tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format daemon tests bench
	$(BIN)/ruff check --fix daemon tests bench

bench: $(STAMP)
	$(BIN)/python -m bench

check: lint test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
