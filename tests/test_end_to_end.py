"""Through the user's path: the real `fivetran debug` CLI syncs the double, and the warehouse equals the dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devkit.expected import column_types, expected_rows, warehouse_rows
from devkit.fivetran_cli import connector_project, fivetran_debug
from devkit.wandb_double import WandbDouble
from devkit.wandb_double.dataset import World
from wandb_connector.registry import TABLES


@pytest.fixture
def synced(tmp_path: Path, double: WandbDouble, configuration: dict) -> Path:
    project = connector_project(tmp_path / "project")
    result = fivetran_debug(configuration, tmp_path / "home", project=project)
    assert result.succeeded, result.output[-4000:]
    return project / "files"


def test_fivetran_debug_lands_every_row_and_column_of_every_table(
    synced: Path, double: WandbDouble, world: World, configuration: dict
):
    database = synced / "warehouse.db"
    expected = expected_rows(world, double.base_url, configuration)
    assert [table.name for table in TABLES] == list(expected)
    for table in TABLES:
        assert warehouse_rows(database, table.name, table.primary_key) == expected[table.name], table.name
        assert expected[table.name], f"the dataset has no {table.name}: the check would prove nothing"


# What `fivetran debug` makes of each declared type in DuckDB (research: fivetran-sdk.md §1).
DUCKDB_TYPES = {
    "STRING": "VARCHAR",
    "UTC_DATETIME": "TIMESTAMP WITH TIME ZONE",
    "JSON": "JSON",
    "DOUBLE": "DOUBLE",
    "LONG": "BIGINT",
    "BOOLEAN": "BOOLEAN",
}


def test_every_declared_column_reaches_the_warehouse_with_its_declared_type(synced: Path):
    for table in TABLES:
        landed = column_types(synced / "warehouse.db", table.name)
        declared = {column: DUCKDB_TYPES[kind] for column, kind in table.columns.items()}
        assert {column: landed.get(column) for column in declared} == declared, table.name


def test_state_holds_per_table_counts_and_the_newest_created_at(
    synced: Path, double: WandbDouble, world: World, configuration: dict
):
    state = json.loads((synced / "state.json").read_text())
    runs = [r for p in world.live_projects() for r in world.live_runs(p.name)]
    assert state["tables"]["run_fields"]["max_created_at"] == max(r.created_at for r in runs).isoformat()
    for name, rows in expected_rows(world, double.base_url, configuration).items():
        assert state["tables"][name]["count"] == len(rows), name


def test_requests_are_pages_not_one_per_run(synced: Path, double: WandbDouble, world: World):
    runs = sum(len(world.live_runs(p.name)) for p in world.live_projects())
    assert double.count("Run") == 0
    assert double.count("Runs") < runs / 5
    assert double.count("ProjectArtifacts") == sum(len(world.live_collections(p.name)) for p in world.live_projects())
