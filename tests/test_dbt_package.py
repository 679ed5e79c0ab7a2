"""The dbt package (dbt/), built with `dbt build` on warehouses the connector synced from seeded datasets: every
model and every test of the package, and data tests (dbt/integration_tests/tests/) comparing each mart with the
answers computed from the dataset in Python (tests/marts_oracle.py), with `wandb__as_of` pinned."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from devkit.wandb_double.dataset import LINEAGE, World
from scripts import marts
from tests.marts_oracle import MARTS, Settings, expected_marts, live_runs, monday, write_expected
from tests.package_warehouses import (
    connected,
    copy_of,
    demo_world,
    edge_world,
    needs_dbt,
    shared_directory,
    shift,
    sync,
)
from wandb_connector.registry import TABLES

pytestmark = needs_dbt
MODELS = 32  # 10 staging, 10 of their tmp views, 9 marts, 3 ephemeral intermediates (which run_results omits)


def integration_build(warehouse: Path, world: World, settings: Settings, work: Path) -> marts.Build:
    """Write the dataset's answers beside the synced tables, then build the integration tests' project there."""
    expected = expected_marts(world, settings)
    write_expected(warehouse, expected)
    built = marts.build(warehouse, settings.dbt_vars(), project=marts.INTEGRATION_TESTS, work=work)
    assert built.succeeded, explain(built, warehouse)
    return built


def assert_everything_passed(built: marts.Build, expected: dict[str, list[dict]]) -> None:
    assert built.count("success", "model") == MODELS - 3, built.summary()
    checked = {r["unique_id"].split(".")[-1] for r in built.results if r["status"] == "pass"}
    assert {f"expected_wandb__{mart}" for mart in MARTS} <= checked, sorted(checked)
    # `warn` is a test of severity warn that found rows (the runs of a deleted sweep keep its id): not a failure.
    assert not [r for r in built.results if r["status"] not in ("success", "pass", "warn")], built.summary()


def explain(built: marts.Build, warehouse: Path) -> str:
    """dbt's own account of what failed, and the first rows of each failing data test (stored by dbt)."""
    lines = [line for line in built.output.splitlines() if re.search(r"FAIL|ERROR|WARN|Error|error", line)]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for result in built.results:
            if result["status"] == "fail" and result.get("relation_name"):
                rows = con.execute(f"select * from {result['relation_name']} limit 8").fetchall()
                lines += [f"{result['unique_id']}:", *map(str, rows)]
    return "\n".join(lines[-80:])


# The demo dataset, as `make demo` syncs it, with its own now (the last heartbeat) as `as_of`.


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return shared_directory(tmp_path_factory, "dbt-demo", lambda d: copy_of(sync(demo_world(), d), d / "synced"))


def test_given_the_demo_warehouse_when_built_then_every_model_test_and_answer_of_the_dataset_passes(demo, tmp_path):
    world = demo_world()
    settings = Settings(as_of=max(r.heartbeat_at for r in live_runs(world)))
    warehouse = copy_of(demo / "synced" / "warehouse.db", tmp_path)
    assert marts.data_as_of(warehouse, marts.find_schema(warehouse)) == settings.dbt_vars()["wandb__as_of"]
    expected = expected_marts(world, settings)
    assert all(expected.values()), [name for name, rows in expected.items() if not rows]
    assert_everything_passed(integration_build(warehouse, world, settings, tmp_path / "dbt"), expected)


# A dataset bent to the cases the definitions hinge on, synced twice so deleted rows are in the warehouse.


def bend(world: World, as_of: datetime) -> None:
    """Runs after `as_of`, ending after it, spanning week starts and the window's start, long open runs, runs with
    no job type; a lineage cycle; sweeps with nested, constant, dotted and spaced parameters, no goal, no metric."""
    runs = [r for r in live_runs(world) if r.summary]
    finished = [r for r in runs if r.state == "finished"]
    running = [r for r in runs if r.state == "running"]
    for run in finished[:6]:  # long before the window: ended before it starts
        shift(run, -timedelta(days=12))
    long_run = finished[6]  # across a Monday 00:00 and into the week after
    shift(long_run, monday(long_run.created_at) - timedelta(hours=3) - long_run.created_at)
    long_run.heartbeat_at = long_run.created_at + timedelta(hours=30)
    for run in running[:2]:  # open for weeks: the span runs to as_of, across the window's start
        shift(run, as_of - timedelta(days=20) - run.created_at)
    late = finished[7]  # ended after as_of: in no window, its span clipped
    shift(late, as_of - timedelta(hours=2) - late.created_at)
    late.heartbeat_at = as_of + timedelta(hours=5)
    for run in finished[8:10]:
        run.job_type = None
    _cycle(world)
    _sweeps(world)


def _cycle(world: World) -> None:
    """The ingest run that logged a raw version uses a clean version made from it: raw → clean → raw."""
    raw, clean = LINEAGE[0][0], LINEAGE[1][0]
    for version in world.artifacts:
        if version.collection.name != clean or not version.created_by:
            continue
        sources = [a for a in world.artifacts if version.created_by in a.used_by and a.collection.name == raw]
        if sources and sources[0].created_by:
            world.use_artifact(world.run(*sources[0].created_by), version)
            return
    raise AssertionError("the dataset has no raw → clean chain to close")


def _sweeps(world: World) -> None:
    first, second, third = world.sweeps[:3]
    first.config["parameters"] = {
        "params": {"parameters": {"learning_rate": {"values": [1e-5, 3e-4]}, "max_length": {"value": 256}}},
        "warmup steps": {"values": [0, 100, 500]},
        "optimizer.lr": {"min": 1e-5, "max": 1e-3},
        "batch_size": {"values": [16, 32]},
        "seed": {"value": 1},
    }
    second.config["metric"] = {"name": "eval/accuracy"}  # no goal: W&B minimizes
    third.config.pop("metric")
    scored = next(r for r in world.sweep_runs(first) if r.summary)
    scored.config["optimizer.lr"] = 3e-4  # a top-level key with a dot, as the sweep names it


def second_sync(world: World) -> None:
    """Deletions the warehouse keeps as `_fivetran_deleted` rows: a run of a sweep, a model version, a sweep."""
    swept = next(r for r in live_runs(world) if r.sweep_name and r.summary)
    world.delete_run(swept)
    world.delete_artifact(next(a for a in world.artifacts if a.collection.type == "model" and a.used_by))
    world.delete_sweep(world.sweeps[-1])


def edge_as_of(world: World) -> datetime:
    return max(r.created_at for r in live_runs(world)) - timedelta(hours=3)


@pytest.fixture(scope="module")
def edges(tmp_path_factory) -> Path:
    def make(directory: Path) -> None:
        world = edge_world()
        bend(world, edge_as_of(world))
        copy_of(sync(world, directory, between=second_sync), directory / "synced")

    return shared_directory(tmp_path_factory, "dbt-edges", make)


def edge_world_after_syncs() -> World:
    world = edge_world()
    as_of = edge_as_of(world)
    bend(world, as_of)
    second_sync(world)
    return world


def edge_settings(**changes) -> Settings:
    """A dotted history key (`val.acc`) and one that logs text (`phase`) among the curves."""
    curves = ("train/loss", "eval/f1", "val.acc", "phase")
    return Settings(as_of=edge_as_of(edge_world()), curve_metrics=curves, **changes)


def test_given_edge_cases_and_deleted_rows_when_built_then_every_mart_equals_the_datasets_answer(edges, tmp_path):
    world = edge_world_after_syncs()
    settings = edge_settings()
    warehouse = copy_of(edges / "synced" / "warehouse.db", tmp_path)
    with connected(warehouse) as con:
        deleted = {
            t: con.execute(f"select count(*) from tester.{t} where _fivetran_deleted").fetchone()[0]
            for t in ("run_fields", "artifacts", "sweeps")
        }
    assert all(deleted.values()), f"the warehouse holds no deleted rows to drop: {deleted}"
    expected = expected_marts(world, settings)
    assert all(expected.values()), [name for name, rows in expected.items() if not rows]
    proves_something(world, settings, expected)
    assert_everything_passed(integration_build(warehouse, world, settings, tmp_path / "dbt"), expected)


def proves_something(world: World, settings: Settings, expected: dict[str, list[dict]]) -> None:
    """The bent cases are in the answers, so a mart that ignored them would fail."""
    runs = {r["run_id"]: r for r in expected["runs"]}
    after = [r for r in live_runs(world) if r.created_at > settings.as_of]
    assert after and all(runs[r.name]["gpu_hours"] == 0 for r in after)
    weeks = {row["week_start"] for row in expected["gpu_hours_weekly"]}
    assert len(weeks) >= 3, weeks
    assert any(row["job_type"] is None for row in expected["failure_rate"])
    cycle = {(r["artifact_id"], r["ancestor_artifact_id"]) for r in expected["artifact_ancestry"]}
    assert any((b, a) in cycle for a, b in cycle), "no cycle in the lineage"
    searched = [json.loads(r["hyperparameters"]) for r in expected["sweep_leaderboard"]]
    keys = {k for h in searched for k in h}
    assert {"params.learning_rate", "warmup steps", "optimizer.lr", "learning_rate"} <= keys, keys
    assert any(h.get("optimizer.lr") is not None for h in searched) and any(h.get("learning_rate") for h in searched)
    metrics = expected["project_metrics"]
    assert any(m["runs_completed_7d"] < m["runs_total"] - m["runs_active"] for m in metrics)
    assert any(r["value"] is None and r["metric"] == "phase" for r in expected["metric_curves"])


def test_given_no_history_table_and_an_empty_system_metrics_table_then_the_package_still_builds_and_answers(
    edges, tmp_path
):
    """A connection with history and system metrics off: one table never created, the other created by `schema()`
    but never upserted (so without the `_fivetran_*` columns)."""
    warehouse = copy_of(edges / "synced" / "warehouse.db", tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("drop table tester.run_history")
        declared = next(t for t in TABLES if t.name == "run_system_metrics").columns
        con.execute("drop table tester.run_system_metrics")
        columns = ", ".join(f'"{c}" varchar' for c in declared)
        con.execute(f"create table tester.run_system_metrics ({columns})")
    world = edge_world_after_syncs()
    settings = edge_settings(history=False, system_metrics=False)
    expected = expected_marts(world, settings)
    assert not expected["metric_curves"] and all(m["gpu_utilization_avg"] is None for m in expected["project_metrics"])
    built = integration_build(warehouse, world, settings, tmp_path / "dbt")
    assert_everything_passed(built, expected)
    assert "no table" in built.output and "stg_wandb__run_history is built empty" in built.output


def test_the_staging_column_lists_are_the_connectors_declared_columns():
    """dbt/macros/staging/get_<table>_columns.sql against the connector's declarations (wandb_connector/tables/): a
    column added to the connector reaches the package, or this fails."""
    for table in TABLES:
        text = (marts.PACKAGE / "macros" / "staging" / f"get_{table.name}_columns.sql").read_text()
        names = re.findall(r'"name": "([^"]+)"', text)
        assert names == [*table.columns, "_fivetran_synced", "_fivetran_deleted"], table.name


def test_the_json_macros_compile_to_sql_that_snowflake_and_bigquery_parse(tmp_path):
    """Neither warehouse runs here: the package's Snowflake and BigQuery macros, and the marts that use them, are
    compiled by dbt (its dispatch pointed at each) and the SQL parsed by sqlglot in that dialect (tests/dialects.py)."""
    command = [str(marts.DBT_VENV / "bin" / "python"), str(Path(__file__).with_name("dialects.py")), str(tmp_path)]
    ran = subprocess.run([*command, "snowflake", "bigquery"], capture_output=True, text=True, cwd=marts.ROOT)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    compiled = json.loads(ran.stdout.strip().splitlines()[-1])
    for dialect, fragments in {
        "snowflake": ["get(metrics, 'val.acc')", "lateral flatten(input => config)", "object_agg(", "union all"],
        "bigquery": ["json_value(metrics, '$.\"val.acc\"')", "unnest(json_keys(config, 1))", "config[p]", "isoweek"],
    }.items():
        assert compiled[dialect]["error"] is None, compiled[dialect]
        assert len(compiled[dialect]["models"]) == 8 and not any(compiled[dialect]["models"].values()), compiled
        sql = compiled[dialect]["sql"]
        assert all(fragment in sql for fragment in fragments), sql
        assert "json_extract(" not in sql and "to_json(list(" not in sql, "a DuckDB function in the " + dialect + " SQL"
