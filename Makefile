# Two commands: `make run` (embedded instance with demo data, API on 127.0.0.1:8000) and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
export CALLVAULT_HOME ?= ./var

.PHONY: run test lint bench bench-masked clean

run: $(VENV)/.installed
	$(BIN)/callvault init
	$(BIN)/callvault demo seed --customers 1000
	$(BIN)/callvault serve

test: $(VENV)/.installed
	$(BIN)/pytest -n auto

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy callvault

bench: $(VENV)/.installed
	$(BIN)/python bench/import_customers.py --n 1000000

bench-masked: $(VENV)/.installed  # issue 10: 200 agents, masked reads vs a plain endpoint
	$(BIN)/python bench/masked_read.py --seconds 20 --agents 200

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,demo]'  # demo: Faker, for callvault demo seed
	touch $@

clean:
	rm -rf $(VENV) var
