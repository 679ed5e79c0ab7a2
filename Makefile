# Every target sets itself up: a fresh clone needs only python3 (3.11+) and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
READY := $(VENV)/.installed
# `fivetran run` into Iceberg needs DuckDB 1.5.5 (the newest with extension wheels) under the SDK's 1.5.6 pin: its own venv.
LAKEHOUSE_VENV ?= .venv-lakehouse
LAKEHOUSE_READY := $(LAKEHOUSE_VENV)/.installed
DUCKDB_ICEBERG := duckdb==1.5.5 duckdb-extension-iceberg==1.5.5 duckdb-extension-httpfs==1.5.5 duckdb-extension-avro==1.5.5
# What Fivetran's runtime holds: requirements.txt, the SDK and requests, nothing else; the packaged connector syncs there.
PACKAGE_VENV ?= .venv-package
PACKAGE_READY := $(PACKAGE_VENV)/.installed
# Where `make package` (scripts/package.py) assembles the connector alone; `make debug` and `make deploy` run it.
BUILD := build/connector
CONFIG ?= configuration.json

# The dbt package (dbt/) and the report: dbt-core needs pathspec<1.1, the SDK pins 1.1.1, so dbt has a venv of its own.
DBT_VENV ?= .venv-dbt
DBT_READY := $(DBT_VENV)/.installed
# `make dbt` and `make report` read the demo warehouse, or WAREHOUSE=path; DBT_VARS='{...}' sets the package's vars,
# AS_OF the end of "the last 7 days": now, data (the warehouse's last heartbeat: the demo's own now) or a UTC time.
WAREHOUSE ?=
DBT_VARS ?= {}
AS_OF ?= $(if $(WAREHOUSE),now,data)
DEMO_WAREHOUSE := files/warehouse.db

.PHONY: help test demo dbt report estimate lakehouse package debug connection-test deploy bench bench-history bench-values bench-next-sync bench-hosted bench-estimate bench-lakehouse format clean
.DEFAULT_GOAL := help

help:  ## this list: every target and what it does
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  \1\t\2/' | expand -t 20

$(READY): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(READY)

# The second step replaces the SDK's duckdb 1.5.6 with 1.5.5: pip reports that conflict (expected, and harmless:
# `fivetran run` works on 1.5.5), then the extensions go where each run's ~/.duckdb/extensions will point.
$(LAKEHOUSE_READY): requirements.txt requirements-lakehouse.txt
	$(PYTHON) -m venv $(LAKEHOUSE_VENV)
	$(LAKEHOUSE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-lakehouse.txt
	$(LAKEHOUSE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(DUCKDB_ICEBERG)
	$(LAKEHOUSE_VENV)/bin/python devkit/iceberg_reader.py install-extensions $(LAKEHOUSE_VENV)/duckdb-extensions
	touch $(LAKEHOUSE_READY)

# Rebuilt from nothing whenever a requirements file changes, so a dependency dropped from requirements.txt is gone.
$(PACKAGE_READY): requirements.txt requirements-package.txt
	rm -rf $(PACKAGE_VENV)
	$(PYTHON) -m venv $(PACKAGE_VENV)
	$(PACKAGE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-package.txt
	touch $(PACKAGE_READY)

$(DBT_READY): requirements-dbt.txt
	$(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dbt.txt
	touch $(DBT_READY)

test: $(READY) $(LAKEHOUSE_READY) $(PACKAGE_READY) $(DBT_READY)  ## ruff and the whole test suite: the lakehouse's `fivetran run`, the package's own venv, dbt build, the report
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	LAKEHOUSE_REQUIRED=1 LAKEHOUSE_VENV=$(LAKEHOUSE_VENV) PACKAGE_REQUIRED=1 PACKAGE_VENV=$(PACKAGE_VENV) \
		DBT_REQUIRED=1 DBT_VENV=$(DBT_VENV) $(PY) -m pytest -n auto

demo: $(READY) $(DBT_READY)  ## sync the W&B double (or real W&B, with a key in configuration.json) with `fivetran debug`, then the dbt package's answers and files/report.html
	$(PY) -m scripts.demo --configuration "$(CONFIG)"

estimate: $(READY)  ## rows a first sync writes and monthly active rows per table, before syncing (CONFIG=, default configuration.json)
	$(PY) -m scripts.estimate --configuration "$(CONFIG)"

$(DEMO_WAREHOUSE): | $(READY)
	$(PY) -m scripts.demo

dbt: $(DBT_READY) $(if $(WAREHOUSE),,$(DEMO_WAREHOUSE))  ## dbt build of the W&B package (dbt/) on the demo warehouse, or WAREHOUSE=path, DBT_VARS='{...}'
	$(DBT_VENV)/bin/python -m scripts.marts --warehouse $(or $(WAREHOUSE),$(DEMO_WAREHOUSE)) --as-of '$(AS_OF)' --vars '$(DBT_VARS)'

report: dbt  ## files/report.html from the marts: loss curves, GPU hours per user and week, runs per state, sweeps, lineage
	$(DBT_VENV)/bin/python -m scripts.report --warehouse $(or $(WAREHOUSE),$(DEMO_WAREHOUSE)) --out files/report.html

lakehouse: $(READY) $(LAKEHOUSE_READY)  ## `fivetran run` into a local Iceberg lakehouse (SeaweedFS), read back by PyIceberg
	$(PY) -m scripts.lakehouse $(if $(KEEP),--keep)

package: $(READY)  ## the connector alone in build/connector/, zipped by the SDK's own `fivetran package` (offline): what deploy uploads
	$(PY) -m scripts.package

# Exactly what a user runs, the SDK's requirements check (pipreqs) included. Where PyPI's JSON API is unreachable that
# check retries for ~12 s, logs SEVERE and carries on: SKIP_PIPREQS=1 puts a no-op `pipreqs` first on PATH instead.
debug: $(READY)  ## `fivetran debug` of build/connector with CONFIG (default configuration.json); SKIP_PIPREQS=1 offline
	$(PY) -m scripts.preflight debug --configuration "$(CONFIG)"
	$(PY) -m scripts.package
	$(if $(SKIP_PIPREQS),mkdir -p build/no-pipreqs && printf '#!/bin/sh\nexit 0\n' > build/no-pipreqs/pipreqs && chmod +x build/no-pipreqs/pipreqs)
	PATH="$(if $(SKIP_PIPREQS),$(abspath build/no-pipreqs):)$(abspath $(VENV))/bin:$$PATH" \
		$(VENV)/bin/fivetran debug $(BUILD) --configuration "$(abspath $(CONFIG))"

# `fivetran configuration --test` reads the project's own configuration.json: a link to CONFIG (never packaged).
connection-test: $(READY)  ## the setup form's connection test, the SDK's own `fivetran configuration --test`, on CONFIG
	$(PY) -m scripts.preflight debug --configuration "$(CONFIG)"
	$(PY) -m scripts.package > /dev/null
	ln -sfn "$(abspath $(CONFIG))" $(BUILD)/configuration.json
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/fivetran configuration $(BUILD) --test

# The CLI reads FIVETRAN_API_KEY from the environment itself; as --api-key it would be on a command line `ps` shows.
deploy: $(READY)  ## upload build/connector: FIVETRAN_API_KEY (environment), DESTINATION=, CONNECTION=, CONFIG= (default configuration.json)
	$(PY) -m scripts.preflight deploy --configuration "$(CONFIG)" --destination "$(DESTINATION)" --connection "$(CONNECTION)"
	$(PY) -m scripts.package
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/fivetran deploy $(BUILD) --destination "$(DESTINATION)" \
		--connection "$(CONNECTION)" --configuration "$(abspath $(CONFIG))" --python-version 3.11

bench: $(READY)  ## requests, time and memory of full and no-change syncs, and of lineage, against the double
	$(PY) -m benchmarks.bench_sync --naive sample

bench-history: $(READY)  ## run history: a first sync of 50 runs x 4,000 steps beside scan_history and the runner alone
	$(PY) -m benchmarks.bench_history

bench-values: $(READY)  ## config, summary and hardware: runInfo's cost, the long tables' rows, memory on a 5 MB config
	$(PY) -m benchmarks.bench_values

bench-next-sync: $(READY)  ## a no-change sync, a reconcile, and a sync after 10 edits and 10 deletes: requests, rows, state size
	$(PY) -m benchmarks.bench_next_sync

bench-hosted: $(READY)  ## under Fivetran's hosted limits (cgroup: 0.5 CPU, 1 GiB; root): SIZES=1000,10000,100000, every table on
	$(PY) -m benchmarks.bench_hosted --sizes $(or $(SIZES),1000,10000) $(if $(LONG_RUN),--long-run)

bench-estimate: $(READY)  ## make estimate's rows beside a first sync's, per table, on the demo and medium datasets
	$(PY) -m benchmarks.bench_estimate

bench-lakehouse: $(READY) $(LAKEHOUSE_READY)  ## `fivetran run` into Iceberg beside `fivetran debug`: medium and history datasets
	$(PY) -m benchmarks.bench_lakehouse

format: $(READY)  ## ruff's fixes and formatting, in place
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:  ## remove the venvs, build/, files/ and dbt's outputs (a user's configuration.json and destination.json stay)
	rm -rf $(VENV) $(LAKEHOUSE_VENV) $(PACKAGE_VENV) $(DBT_VENV) build files crash-reports .pytest_cache .ruff_cache
	rm -rf dbt/target dbt/logs dbt/dbt_packages dbt/.user.yml dbt/integration_tests/target dbt/integration_tests/logs \
		dbt/integration_tests/dbt_packages dbt/integration_tests/package-lock.yml
