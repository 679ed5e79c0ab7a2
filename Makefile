# Every target sets itself up: a fresh clone needs only python3 (3.11+) and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
READY := $(VENV)/.installed

.PHONY: test demo bench bench-history bench-values lint format clean

$(READY): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(READY)

test: $(READY)  ## ruff and the whole test suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -n auto

demo: $(READY)  ## sync the W&B double (or real W&B, with a key in configuration.json) with `fivetran debug`
	$(PY) -m scripts.demo

bench: $(READY)  ## requests, time and memory of full and no-change syncs, and of lineage, against the double
	$(PY) -m benchmarks.bench_sync --naive sample

bench-history: $(READY)  ## run history: a first sync of 50 runs x 4,000 steps beside scan_history and the runner alone
	$(PY) -m benchmarks.bench_history

bench-values: $(READY)  ## config, summary and hardware: runInfo's cost, the long tables' rows, memory on a 5 MB config
	$(PY) -m benchmarks.bench_values

format: $(READY)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) files crash-reports .pytest_cache .ruff_cache
