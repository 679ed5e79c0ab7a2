"""Through `fivetran run` into a real Iceberg lakehouse (SeaweedFS on 127.0.0.1), read back by PyIceberg: every
declared table arrives with its rows, keys and column types, and after syncs that replace, soft-delete and revive
rows the lakehouse holds what `fivetran debug`'s DuckDB warehouse holds, row for row."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from devkit.expected import SYSTEM_COLUMNS, expected_rows, warehouse_rows
from devkit.fivetran_cli import connector_project, fivetran_debug
from devkit.lakehouse import VENV, Lakehouse, available
from devkit.wandb_double import DEFAULT_API_KEY, WandbDouble, build_world
from tests.conftest import TEST_REQUESTS_PER_MINUTE
from wandb_connector.registry import TABLES
from wandb_connector.walker import Table

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


@dataclass
class Step:
    """One sync through both paths: what `fivetran run` reported, what PyIceberg read back, the ground truth at
    that moment, and every row of `fivetran debug`'s warehouse, deleted ones included."""

    operations: dict[str, int]
    read: dict
    expected: dict[str, dict[tuple, dict]]
    warehouse: dict[str, dict[tuple, dict]]


@dataclass
class Story:
    """The same three syncs into the lakehouse and into the debug warehouse: a first sync; then, after a run is
    edited, two runs and a version deleted, a reconcile; then, after one run is restored, another."""

    steps: dict[str, Step] = field(default_factory=dict)
    project_id: str = ""
    edited: str = ""
    deleted: tuple[str, ...] = ()
    restored: str = ""


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    tmp = tmp_path_factory.mktemp("lakehouse")
    world = build_world(seed=11, projects=3, runs_per_project=30, artifact_versions=24, history_steps=6)
    story = Story()
    with WandbDouble(world, page_cap=25) as double, Lakehouse(tmp / "lakehouse") as lakehouse:
        configuration = {
            "api_key": DEFAULT_API_KEY,
            "entity": world.entity,
            "base_url": double.base_url,
            "requests_per_minute": str(TEST_REQUESTS_PER_MINUTE),
            "run_history": "true",
            "reconcile_interval_hours": "0",  # every sync reconciles: deletes what is gone
        }
        projects = {name: connector_project(tmp / name) for name in ("lake-project", "debug-project")}

        def sync_both(name: str) -> None:
            ran = lakehouse.run(configuration, tmp / "home-run", projects["lake-project"])
            assert ran.succeeded, ran.output[-4000:]
            operations = re.findall(r"^\s*(Upserts|Updates|Deletes|Truncates)\s*\|\s*(\d+)", ran.output, re.MULTILINE)
            debugged = fivetran_debug(configuration, tmp / "home-debug", project=projects["debug-project"])
            assert debugged.succeeded, debugged.output[-4000:]
            database = projects["debug-project"] / "files" / "warehouse.db"
            everything = {t.name: warehouse_rows(database, t.name, t.primary_key, live_only=False) for t in TABLES}
            expected = expected_rows(world, double.base_url, configuration)
            story.steps[name] = Step({k: int(v) for k, v in operations}, lakehouse.read(), expected, everything)

        sync_both("first")
        project = world.live_projects()[0].name
        story.project_id = f"{world.entity}/{project}"
        runs = world.live_runs(project)
        edited, deleted, restored = next(r for r in runs if r.state == "finished"), runs[5], runs[6]
        world.edit_run(edited, tags=["retagged"], notes="edited later")
        world.delete_run(deleted)
        world.delete_run(restored)
        world.delete_artifact(world.live_artifacts(world.live_collections(project)[0])[0])
        story.edited, story.deleted, story.restored = edited.name, (deleted.name, restored.name), restored.name
        sync_both("changed")
        world.restore_run(restored)
        sync_both("restored")
    return story


def test_every_declared_table_lands_with_its_key_as_identifier_fields_and_required_columns(story: Story):
    first = story.steps["first"].read["tables"]
    assert sorted(first) == sorted(t.name for t in TABLES)
    for table in TABLES:
        landed = first[table.name]
        assert landed["rows"], f"no {table.name} rows: the check would prove nothing"
        assert landed["identifier_fields"] == sorted(table.primary_key), table.name
        required = {column for column, spec in landed["columns"].items() if spec["required"]}
        assert required == set(table.primary_key), table.name


def test_every_declared_type_lands_as_its_iceberg_type(story: Story):
    for table in TABLES:
        columns = story.steps["first"].read["tables"][table.name]["columns"]
        assert {c: columns[c]["type"] for c in table.columns} == {c: ICEBERG_TYPES[k] for c, k in table.columns.items()}
        assert (columns["_fivetran_deleted"]["type"], columns["_fivetran_synced"]["type"]) == ("boolean", "timestamptz")


@pytest.mark.parametrize("step", ["first", "changed", "restored"])
def test_after_each_sync_the_lakehouse_holds_the_ground_truth_and_every_row_the_warehouse_holds(story: Story, step):
    synced = story.steps[step]
    for table in TABLES:
        assert lake_rows(synced.read, table) == synced.expected[table.name], table.name
        assert lake_rows(synced.read, table, live_only=False) == synced.warehouse[table.name], table.name


def test_an_edited_run_is_replaced_not_duplicated(story: Story):
    runs = next(t for t in TABLES if t.name == "run_fields")
    assert lake_rows(story.steps["changed"].read, runs)[(story.project_id, story.edited)]["notes"] == "edited later"


def test_runs_and_a_version_w_and_b_deleted_are_soft_deleted_without_a_truncate(story: Story):
    changed = story.steps["changed"]
    assert changed.operations["Truncates"] == 0 and changed.operations["Deletes"] > 0, changed.operations
    assert story.steps["first"].operations["Deletes"] == 0
    runs = next(t for t in TABLES if t.name == "run_fields")
    deleted = set(lake_rows(changed.read, runs, live_only=False)) - set(lake_rows(changed.read, runs))
    assert {(story.project_id, name) for name in story.deleted} <= deleted


def test_a_restored_run_comes_back_live(story: Story):
    runs = next(t for t in TABLES if t.name == "run_fields")
    assert (story.project_id, story.restored) in lake_rows(story.steps["restored"].read, runs)
