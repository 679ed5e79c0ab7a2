"""Through `fivetran run` into a real Iceberg lakehouse (SeaweedFS on 127.0.0.1), read back by PyIceberg: every
declared table arrives with its rows, keys and column types, and after syncs that replace, soft-delete and revive
rows the lakehouse holds what `fivetran debug`'s DuckDB warehouse holds, row for row."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.expected import SYSTEM_COLUMNS, expected_rows, warehouse_rows
from tests.fivetran_cli import connector_project, fivetran_debug
from tests.lakehouse import VENV, Lakehouse, available
from tests.wandb_double import WandbDouble
from tests.wandb_double.dataset import World
from wandb_connector.tables import TABLES, Table

# `make test` sets this: there the lakehouse venv is built first, so a missing one is a failure, not a skip.
REQUIRED = os.environ.get("LAKEHOUSE_REQUIRED") == "1"
pytestmark = pytest.mark.skipif(
    not available() and not REQUIRED, reason=f"no lakehouse venv at {VENV}: `make .venv-lakehouse` builds it"
)

# What each declared type becomes in Iceberg (research: fivetran-sdk.md §4: JSON is stored as a string).
ICEBERG_TYPES = {
    "STRING": "string",
    "JSON": "string",
    "LONG": "long",
    "INT": "int",
    "SHORT": "int",
    "DOUBLE": "double",
    "FLOAT": "float",
    "BOOLEAN": "boolean",
    "UTC_DATETIME": "timestamptz",
}


def lake_rows(read: dict, table: Table, live_only: bool = True) -> dict[tuple, dict]:
    """A table PyIceberg read, as `warehouse_rows` gives a DuckDB table: {key: row}, JSON decoded by the declared
    type, timestamps as aware UTC datetimes, system columns dropped. A key twice is a failed upsert."""
    rows = {}
    for raw in read["tables"][table.name]["rows"]:
        if live_only and raw["_fivetran_deleted"]:
            continue
        row = {name: _decode(table.columns.get(name), value) for name, value in raw.items()}
        key = tuple(row[k] for k in table.primary_key)
        assert key not in rows, f"{table.name}: key {key} twice in the lakehouse"
        rows[key] = {k: v for k, v in row.items() if k not in SYSTEM_COLUMNS}
    return rows


def _decode(kind: str | None, value: Any) -> Any:
    if value is None:
        return None
    if kind == "JSON":
        return json.loads(value)
    if kind == "UTC_DATETIME":
        return datetime.fromisoformat(value).astimezone(UTC)
    return value


@pytest.fixture
def lakehouse(tmp_path: Path) -> Lakehouse:
    with Lakehouse(tmp_path / "lakehouse") as running:
        yield running


def test_fivetran_run_lands_every_table_in_iceberg_and_follows_every_change_as_the_warehouse_does(
    tmp_path: Path, lakehouse: Lakehouse, double: WandbDouble, world: World, configuration: dict
):
    configuration = {**configuration, "reconcile_interval_hours": "0"}  # every sync reconciles: deletes what is gone
    lake_project = connector_project(tmp_path / "lake-project")
    debug_project = connector_project(tmp_path / "debug-project")

    def sync_both(deletes: bool = False) -> dict:
        ran = lakehouse.run(configuration, tmp_path / "home-run", lake_project)
        assert ran.succeeded, ran.output[-4000:]
        operations = dict(re.findall(r"^\s*(Truncates|Deletes)\s*\|\s*(\d+)", ran.output, re.MULTILINE))
        assert int(operations["Truncates"]) == 0 and bool(int(operations["Deletes"])) == deletes, operations
        debugged = fivetran_debug(configuration, tmp_path / "home-debug", project=debug_project)
        assert debugged.succeeded, debugged.output[-4000:]
        read = lakehouse.read()
        expected = expected_rows(world, double.base_url, configuration)
        database = debug_project / "files" / "warehouse.db"
        assert sorted(read["tables"]) == sorted(t.name for t in TABLES)
        for table in TABLES:
            assert lake_rows(read, table) == expected[table.name], table.name
            everything = lake_rows(read, table, live_only=False)
            assert everything == warehouse_rows(database, table.name, table.primary_key, live_only=False), table.name
        return read

    first = sync_both()  # a first sync has nothing to delete
    for table in TABLES:
        landed = first["tables"][table.name]
        assert landed["rows"], f"no {table.name} rows: the check would prove nothing"
        assert landed["identifier_fields"] == sorted(table.primary_key), table.name
        for column, kind in table.columns.items():
            field = landed["columns"][column]
            assert field["type"] == ICEBERG_TYPES[kind], (table.name, column, field)
            assert field["required"] == (column in table.primary_key), (table.name, column, field)
        assert landed["columns"]["_fivetran_deleted"]["type"] == "boolean"
        assert landed["columns"]["_fivetran_synced"]["type"] == "timestamptz"

    project = world.live_projects()[0].name
    runs = world.live_runs(project)
    edited, deleted, restored = next(r for r in runs if r.state == "finished"), runs[5], runs[6]
    world.edit_run(edited, tags=["retagged"], notes="edited later")
    world.delete_run(deleted)
    world.delete_run(restored)
    version = world.live_artifacts(world.live_collections(project)[0])[0]
    world.delete_artifact(version)
    second = sync_both(deletes=True)
    runs_table = next(t for t in TABLES if t.name == "run_fields")
    run_key = (f"{world.entity}/{project}", edited.name)
    assert lake_rows(second, runs_table)[run_key]["notes"] == "edited later"
    deleted_rows = set(lake_rows(second, runs_table, live_only=False)) - set(lake_rows(second, runs_table))
    assert {(f"{world.entity}/{project}", r.name) for r in (deleted, restored)} <= deleted_rows

    world.restore_run(restored)
    third = sync_both()
    assert (f"{world.entity}/{project}", restored.name) in lake_rows(third, runs_table)
