# The two commands of the README: `make demo` and `make test`. Both install first.
PY ?= python3

.PHONY: install demo test lint

install:
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"

demo: install
	$(PY) -m jepalab demo

test: install
	$(PY) -m pytest

lint:
	$(PY) -m ruff check src tests benchmarks
