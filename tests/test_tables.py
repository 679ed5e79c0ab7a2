"""Row building from the exact wire shapes the double serves, and the registry that declares every column."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from graphql import parse, validate

import connector
from devkit.expected import artifact_rows, project_rows, run_rows
from devkit.wandb_double import WandbDouble
from devkit.wandb_double.dataset import World
from devkit.wandb_double.server import load_schema
from wandb_connector.convert import MalformedValue, NonFinite
from wandb_connector.optional import strip
from wandb_connector.registry import TABLES, documents
from wandb_connector.tables import artifacts, projects, run_fields, run_history, run_system_metrics, sweeps
from wandb_connector.value_buckets import value_row
from wandb_connector.walker import Where

PROJECTS, RUN_FIELDS, ARTIFACTS = projects.TABLE, run_fields.TABLE, artifacts.TABLE
RUN_HISTORY, RUN_SYSTEM_METRICS, SWEEPS = run_history.TABLE, run_system_metrics.TABLE, sweeps.TABLE

APP_URL = "https://wandb.example.com"
SYNCED_AT = datetime(2026, 2, 1, tzinfo=UTC)


def nodes(double: WandbDouble, document: str, variables: dict, path: tuple[str, ...]) -> list[dict]:
    """Every node of a connection, read in-process through the double's GraphQL executor, as the client sends it."""
    found, cursor, sent = [], None, strip(document, frozenset()).text
    while True:
        status, payload = double.answer({"query": sent, "variables": {**variables, "cursor": cursor, "perPage": 1000}})
        assert status == 200 and "errors" not in payload, payload
        connection = payload["data"]
        for key in path:
            connection = connection[key]
        found += [edge["node"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return found
        cursor = connection["edges"][-1].get("cursor") or connection["pageInfo"]["endCursor"]


@pytest.fixture
def offline(world: World) -> WandbDouble:
    return WandbDouble(world, page_cap=7)


def where(world: World, project: str = "") -> Where:
    return Where(world.entity, APP_URL, SYNCED_AT, project)


@pytest.mark.parametrize("name", sorted(documents()))
def test_every_document_the_connector_sends_is_valid_against_w_and_bs_schema(name):
    assert validate(load_schema(), parse(strip(documents()[name], frozenset()).text)) == []


@pytest.mark.parametrize("runs", [1, 7])
def test_the_history_documents_for_any_number_of_runs_are_valid_against_w_and_bs_schema(runs):
    assert validate(load_schema(), parse(run_history.history_pages(runs))) == []
    assert validate(load_schema(), parse(run_system_metrics.system_events(runs))) == []


def test_project_rows_match_the_dataset(offline, world):
    listed = nodes(offline, projects.PROJECTS_QUERY, {"entity": world.entity}, ("models",))
    built = [PROJECTS.row(n, where(world)) for n in listed]
    expected = project_rows(world, APP_URL)
    assert {(r["project_id"],): without_synced_at(r) for r in built} == expected


def test_run_rows_match_the_dataset_including_nan_summaries_and_null_users(offline, world):
    built = {}
    for project in world.live_projects():
        variables = {"entity": world.entity, "project": project.name, "order": "+created_at", "filters": None}
        for node in nodes(offline, run_fields.RUNS, variables, ("project", "runs")):
            row = RUN_FIELDS.row(node, where(world, project.name))
            built[(row["project_id"], row["run_id"])] = without_synced_at(row)
    assert built == run_rows(world, APP_URL)


def test_artifact_rows_match_the_dataset_with_creating_runs(offline, world):
    built = {}
    for project in world.live_projects():
        variables = {"entity": world.entity, "project": project.name}
        for collection in nodes(offline, artifacts.COLLECTIONS, variables, ("project", "artifactCollections")):
            versions = {**variables, "type": collection["type"]["name"], "collection": collection["name"]}
            path = ("project", "artifactType", "artifactCollection", "artifacts")
            for node in nodes(offline, artifacts.VERSIONS, versions, path):
                row = ARTIFACTS.row(node, where(world, project.name))
                built[(row["artifact_id"],)] = without_synced_at(row)
    assert built == artifact_rows(world)
    assert any(row["run_id"] for row in built.values())


SWEEP_NODE = {
    "id": "U3dlZXA6MQ==",
    "name": "ab12cd34",
    "displayName": "lr search",
    "method": "bayes",
    "state": "FINISHED",
    "description": None,
    "bestLoss": 0.91,
    "config": "method: bayes\nmetric:\n  name: eval/f1\n  goal: maximize\nparameters:\n  lr: {min: 0.0001, max: 0.1}\n",
    "createdAt": "2026-01-05T09:00:00",
    "updatedAt": "2026-01-05T10:00:00",
    "heartbeatAt": None,
    "runCount": 3,
    "runCountExpected": 10,
    "bestRun": {"name": "r1", "summaryMetrics": '{"eval/f1": 0.91}'},
}
USER_NODE = {
    "id": "VXNlcjox",
    "username": "alice",
    "name": "Alice",
    "accountType": "USER",
    "admin": True,
    "pending": False,
}


HISTORY_NODE = {
    "run": "r1",
    "row": {"_step": 3, "_runtime": 10.5, "_timestamp": 1767600000.25, "train/loss": "NaN", "eval": {"f1": 0.9}},
}
SYSTEM_NODE = {
    "run": "r1",
    "sample": 0,
    "interval": 15.0,
    "event": {
        "_timestamp": 1767600000.0,
        "_runtime": 15.0,
        "_wandb": True,
        "system.gpu.0.gpu": 80,
        "system.gpu.1.gpu": 60,
        "system.gpu.0.memoryAllocated": 50,
        "system.gpu.1.memoryAllocated": 30,
        "system.gpu.0.memoryAllocatedBytes": 2**33,
        "system.gpu.1.memoryAllocatedBytes": 2**32,
        "system.gpu.0.powerWatts": 300.5,
        "system.gpu.1.powerWatts": 200,
        "system.gpu.0.temp": 70,
        "system.gpu.1.temp": 75,
        "system.cpu": 12.5,
        "system.memory": 40,
        "system.proc.memory.rssMB": 2048,
        "system.disk./.usagePercent": 41.5,
        "system.network.sent": 1000,
        "system.network.recv": 3000,
    },
}


def test_a_history_row_keeps_every_metric_in_its_json_and_promotes_step_time_and_runtime():
    row = RUN_HISTORY.row(HISTORY_NODE, Where("acme", APP_URL, SYNCED_AT, "p"))
    assert (row["project_id"], row["run_id"], row["step"], row["runtime_seconds"]) == ("acme/p", "r1", 3, 10.5)
    assert row["timestamp"] == datetime(2026, 1, 5, 8, 0, 0, 250000, tzinfo=UTC)
    assert row["metrics"] == {"train/loss": "NaN", "eval": {"f1": 0.9}}


def test_a_system_metrics_row_aggregates_the_gpus_so_gpu_hours_are_a_sum():
    row = RUN_SYSTEM_METRICS.row(SYSTEM_NODE, Where("acme", APP_URL, SYNCED_AT, "p"))
    assert (row["gpu_count"], row["gpu_utilization_percent"], row["gpu_memory_allocated_percent"]) == (2, 70.0, 40.0)
    assert (row["gpu_memory_allocated_bytes"], row["gpu_power_watts"]) == (3 * 2**32, 500.5)
    assert row["gpu_temperature_c"] == 75.0
    assert (row["cpu_percent"], row["disk_percent"], row["interval_seconds"]) == (12.5, 41.5, 15.0)
    assert "_wandb" not in row["metrics"] and row["metrics"]["system.gpu.1.gpu"] == 60


@pytest.mark.parametrize("step", [None, "3", 2.5, True])
def test_given_a_history_line_without_a_whole_step_then_the_row_fails_naming_the_run(step):
    with pytest.raises(MalformedValue, match="a history step of run acme/p/r1 _step should be a whole number"):
        RUN_HISTORY.row({"run": "r1", "row": {"_step": step}}, Where("acme", APP_URL, SYNCED_AT, "p"))


def test_a_sweep_row_parses_its_yaml_config_and_takes_its_best_runs_metric():
    row = SWEEPS.row(SWEEP_NODE, Where("acme", APP_URL, SYNCED_AT, "p"))
    assert row["config"] == {
        "method": "bayes",
        "metric": {"name": "eval/f1", "goal": "maximize"},
        "parameters": {"lr": {"min": 0.0001, "max": 0.1}},
    }
    assert (row["metric_name"], row["metric_goal"], row["best_run_id"], row["best_metric_value"]) == (
        "eval/f1",
        "maximize",
        "r1",
        0.91,
    )


def test_given_a_sweep_config_that_is_not_yaml_then_the_row_fails_naming_the_sweep():
    with pytest.raises(MalformedValue, match="sweep acme/p/ab12cd34 config is not valid YAML"):
        SWEEPS.row({**SWEEP_NODE, "config": "method: [bayes"}, Where("acme", APP_URL, SYNCED_AT, "p"))


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_every_row_column_is_declared_and_every_declared_column_is_emitted(table):
    samples = {
        "projects": PROJECT_NODE,
        "run_fields": RUN_NODE,
        "artifacts": ARTIFACT_NODE,
        "sweeps": SWEEP_NODE,
        "users": USER_NODE,
        "run_history": HISTORY_NODE,
        "run_system_metrics": SYSTEM_NODE,
        "artifact_lineage": ARTIFACT_NODE | {"direction": "input", "run_project_id": "acme/q", "run_id": "r2"},
        "run_config": VALUE_NODE,
        "run_summary": VALUE_NODE,
    }
    row = table.row(samples[table.name], Where("acme", APP_URL, SYNCED_AT, "p"))
    assert set(row) == set(table.columns)
    assert set(table.primary_key) <= set(table.columns)


VALUE_NODE = {"run": "r1", "key": "params.lr", "path": ["params", "lr"], "value": 0.1}


@pytest.mark.parametrize(
    ("value", "typed"),
    [
        (0.1, ("number", 0.1, None, None)),
        (3, ("number", 3.0, None, None)),
        (True, ("boolean", None, None, True)),
        ("NaN", ("string", None, "NaN", None)),
        (NonFinite("NaN"), ("number", None, "NaN", None)),
        (NonFinite("-Infinity"), ("number", None, "-Infinity", None)),
        (None, ("null", None, None, None)),
        ([1, "a"], ("list", None, None, None)),
        ({"_type": "histogram"}, ("object", None, None, None)),
    ],
)
def test_a_value_row_types_the_leaf_for_sql_and_keeps_its_json(value, typed):
    row = value_row(VALUE_NODE | {"value": value}, Where("acme", APP_URL, SYNCED_AT, "p"))
    assert (row["value_type"], row["number_value"], row["string_value"], row["boolean_value"]) == typed
    assert row["value_json"] == value and (row["project_id"], row["run_id"], row["key"]) == (
        "acme/p",
        "r1",
        "params.lr",
    )


def test_hardware_comes_from_run_info_else_the_gpus_the_system_metrics_name():
    where = Where("acme", APP_URL, SYNCED_AT, "p")
    info = {"gpuCount": 2, "gpu": "NVIDIA H100", "cpuCount": 32, "git": {"remote": "r", "commit": "c"}}
    row = RUN_FIELDS.build(RUN_NODE | {"runInfo": info, "commit": None}, where)
    assert (row["gpu_count"], row["gpu_type"], row["cpu_count"], row["git_commit"]) == (2, "NVIDIA H100", 32, "c")
    assert row["gpu_hours"] == 5 * 2 / 3600 and row["ended_at"] == row["heartbeat_at"]
    system = json.dumps({"system.gpu.0.gpu": 1, "system.gpu.1.temp": 2, "system.gpu.1.gpu": 3, "system.cpu": 4})
    row = RUN_FIELDS.build(RUN_NODE | {"runInfo": None, "systemMetrics": system}, where)
    assert (row["gpu_count"], row["gpu_type"], row["cpu_count"]) == (2, None, None)
    row = RUN_FIELDS.build(RUN_NODE | {"runInfo": None, "state": "running", "summaryMetrics": "{}"}, where)
    assert (row["gpu_count"], row["gpu_hours"], row["runtime_seconds"], row["ended_at"]) == (None, None, None, None)
    internal = '{"_wandb": {"runtime": 7}}'
    row = RUN_FIELDS.build(RUN_NODE | {"summaryMetrics": internal, "runInfo": {"gpuCount": 0}}, where)
    assert (row["runtime_seconds"], row["gpu_hours"], row["summary"]) == (7.0, 0.0, {})


def test_declarations_are_what_schema_returns():
    declared = connector.schema({})
    assert [d["table"] for d in declared] == [table.name for table in TABLES]
    for declaration, table in zip(declared, TABLES, strict=True):
        assert declaration == {
            "table": table.name,
            "primary_key": list(table.primary_key),
            "columns": dict(table.columns),
        }, table.name


def test_given_a_mangled_summary_then_the_row_fails_naming_the_run():
    with pytest.raises(MalformedValue, match="run acme/p/r1 summaryMetrics is not valid JSON"):
        RUN_FIELDS.row({**RUN_NODE, "summaryMetrics": "{oops"}, Where("acme", APP_URL, SYNCED_AT, "p"))


def test_given_a_run_with_nothing_optional_then_the_row_has_nulls_not_errors():
    bare = {"name": "r1", "state": "running", "createdAt": "2026-01-01T00:00:00"}
    row = RUN_FIELDS.row(bare, Where("acme", APP_URL, SYNCED_AT, "p"))
    assert row["tags"] == [] and row["config"] == {} and row["summary"] == {} and row["user"] is None


def without_synced_at(row: dict) -> dict:
    assert row.pop("synced_at") == SYNCED_AT
    return row


PROJECT_NODE = {
    "id": "UHJvamVjdDox",
    "name": "p",
    "entityName": "acme",
    "createdAt": "2026-01-01T00:00:00",
    "updatedAt": "2026-01-01T00:00:00",
    "description": "d",
    "isBenchmark": False,
    "user": {"username": "alice"},
}
RUN_NODE = {
    "id": "UnVuOjE=",
    "name": "r1",
    "displayName": "exp-1",
    "state": "finished",
    "tags": ["a"],
    "group": None,
    "jobType": "train",
    "sweepName": None,
    "notes": "n",
    "commit": None,
    "readOnly": False,
    "createdAt": "2026-01-01T00:00:00",
    "updatedAt": "2026-01-01T01:00:00",
    "heartbeatAt": "2026-01-01T01:00:00",
    "host": "gpu-1",
    "historyLineCount": 3,
    "user": {"name": "Alice", "username": "alice"},
    "historyKeys": {"lastStep": 2, "keys": {}},
    "config": json.dumps({"lr": {"value": 0.1, "desc": None}}),
    "summaryMetrics": '{"_runtime": 5, "loss": NaN}',
    "systemMetrics": "{}",
}
ARTIFACT_NODE = {
    "id": "QXJ0aWZhY3Q6MQ==",
    "artifactSequence": {"name": "ds"},
    "versionIndex": 2,
    "artifactType": {"name": "dataset"},
    "description": None,
    "metadata": "{}",
    "tags": [],
    "state": "COMMITTED",
    "size": 10,
    "digest": "d",
    "commitHash": "c",
    "fileCount": 1,
    "createdAt": "2026-01-01T00:00:00",
    "updatedAt": "2026-01-01T00:00:00",
    "aliases": [
        {"alias": "latest", "artifactCollection": {"name": "ds"}},
        {"alias": "v2", "artifactCollection": {"name": "ds"}},
    ],
    "createdBy": {"__typename": "Run", "name": "r1", "project": {"name": "p", "entity": {"name": "acme"}}},
}
