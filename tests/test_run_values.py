"""run_config and run_summary: every flattened key of every run, typed for SQL, and only what changed re-written."""

from __future__ import annotations

import json
import math

import pytest
from fivetran_connector_sdk import Operations

from devkit.expected import leaves, value_rows
from devkit.wandb_double import WandbDouble
from devkit.wandb_double.dataset import EDIT_KINDS, World
from tests.harness import Harness, commit_every, daily, every_sync
from wandb_connector.convert import flatten, json_object, unwrap_config
from wandb_connector.state import RUN_RECORDS, RUNS
from wandb_connector.value_buckets import LEAVES_PER_BUCKET, MAX_BUCKETS, bucket_count


@pytest.fixture
def harness(tmp_path, double: WandbDouble, configuration: dict) -> Harness:
    return Harness(tmp_path / "sync", configuration, double)


def runs(world: World):
    return [r for p in world.live_projects() for r in world.live_runs(p.name)]


def written(upserted: list, table: str) -> list[dict]:
    return [row for name, row in upserted if name == table]


def test_given_the_seeded_dataset_then_every_config_and_summary_leaf_lands_with_its_type(harness, world):
    harness.sync()
    for table, document in (("run_config", "config"), ("run_summary", "summary")):
        expected = value_rows(world, document)
        assert harness.rows(table) == expected, table
        assert harness.state["tables"][table]["count"] == len(expected)
    config, summary = harness.rows("run_config"), harness.rows("run_summary")
    kinds = {row["value_type"] for row in [*config.values(), *summary.values()]}
    assert kinds == {"number", "string", "boolean", "null", "list", "object"}
    keys = {key[2] for key in config} | {key[2] for key in summary}
    assert {"params.learning_rate", "meta.labels", "data/train_path", "warmup steps", "学习率", "eval/f1"} <= keys
    assert not [k for k in keys if k.startswith("_wandb")], "W&B's internals are the user's keys"
    assert any(len(row["string_value"] or "") > 20_000 for row in config.values()), "no huge value was synced"


def test_given_a_dotted_key_beside_the_same_nested_path_then_both_land_apart(harness, world):
    both = next(r for r in runs(world) if "optimizer.lr" in r.config and "optimizer" in r.config)
    harness.sync()
    project_id = f"{world.entity}/{both.project}"
    rows = harness.rows("run_config")
    dotted, nested = rows[(project_id, both.name, "optimizer\\.lr")], rows[(project_id, both.name, "optimizer.lr")]
    assert (dotted["path"], dotted["number_value"]) == (["optimizer.lr"], both.config["optimizer.lr"])
    assert (nested["path"], nested["number_value"]) == (["optimizer", "lr"], both.config["optimizer"]["lr"])
    windows = next(r for r in runs(world) if "C:\\data" in r.config)
    key = (f"{world.entity}/{windows.project}", windows.name, "C:\\\\data.cache\\.dir")
    assert harness.rows("run_config")[key]["string_value"] == "C:\\cache"


def test_given_nan_and_infinity_then_they_stay_numbers_apart_from_null_and_from_the_text_nan(harness, world):
    harness.sync()
    rows = {**harness.rows("run_config"), **harness.rows("run_summary")}
    nan = [row for row in rows.values() if row["value_type"] == "number" and row["string_value"] == "NaN"]
    infinite = [row for row in rows.values() if row["string_value"] in ("Infinity", "-Infinity")]
    text = [row for row in rows.values() if row["value_type"] == "string" and row["string_value"] == "NaN"]
    nulls = [row for row in rows.values() if row["value_type"] == "null"]
    assert nan and infinite and text and nulls
    assert all(row["number_value"] is None for row in nan + infinite)
    assert {row["key"] for row in text} == {"meta.note"} and all(row["value_json"] == "NaN" for row in text)
    assert all(row["value_json"] is None and row["string_value"] is None for row in nulls)


def test_given_a_media_object_then_it_is_one_value_not_its_fields(harness, world):
    harness.sync()
    hist = [row for row in harness.rows("run_summary").values() if row["key"] == "eval/score_hist"]
    assert hist and all(row["value_type"] == "object" and row["value_json"]["_type"] == "histogram" for row in hist)
    assert not [key for key in harness.rows("run_summary") if key[2].startswith("eval/score_hist.")]


def test_given_nothing_new_then_no_value_row_is_written(harness, world, upserted):
    daily(harness).sync()
    upserted.clear()
    harness.sync()
    assert not written(upserted, "run_config") and not written(upserted, "run_summary")


@pytest.mark.parametrize("bumps", [True, False], ids=["heartbeat-moves", "nothing-moves"])
def test_given_a_summary_rewritten_after_the_run_ended_then_a_removed_key_stops_being_live(
    harness, world: World, bumps: bool, upserted
):
    """`run.summary.update` after the fact: the next sync that re-reads the run (the next sync when the heartbeat
    moves, else the reconcile) deletes the key and rewrites only the changed value's bucket."""
    world.summary_update_bumps_heartbeat = bumps
    if not bumps:  # nor its updatedAt: nothing tells the next sync (test_next_sync covers updatedAt moving)
        world.updated_moves_on = EDIT_KINDS - {"summary"}
    daily(harness).sync()
    run = next(r for r in runs(world) if r.state == "finished" and "eval/accuracy" in (r.summary or {}))
    world.update_summary(run, {"eval/f1": 0.123456, "eval/extra": "late"}, removed=("eval/accuracy",))
    upserted.clear()
    harness.sync()
    project_id = f"{world.entity}/{run.project}"
    if not bumps:
        assert (project_id, run.name, "eval/accuracy") in harness.rows("run_summary"), "read without a re-read"
        every_sync(harness).sync()
    assert harness.rows("run_summary") == value_rows(world, "summary")
    assert (project_id, run.name, "eval/accuracy") in harness.deleted("run_summary")
    rows = written(upserted, "run_summary")
    assert {row["key"] for row in rows} >= {"eval/f1", "eval/extra"}
    assert {row["run_id"] for row in rows} == {run.name}, "runs that did not change were written again"
    assert not written(upserted, "run_config")
    harness.assert_counts_match_world()


def test_given_one_value_of_a_wide_summary_changed_then_only_its_bucket_is_rewritten(harness, world, upserted):
    run = next(r for r in runs(world) if r.state == "finished" and r.summary)
    world.edit_run(run, summary=run.summary | {f"eval/class_{i}/f1": i / 1000 for i in range(300)})
    daily(harness).sync()
    world.summary_update_bumps_heartbeat = True
    world.update_summary(run, {"eval/class_7/f1": 0.5})
    upserted.clear()
    harness.sync()
    rows = written(upserted, "run_summary")
    assert "eval/class_7/f1" in {row["key"] for row in rows}
    assert len(rows) <= 3 * len(run.summary) // bucket_count(len(run.summary)), "more than about one bucket"
    assert harness.rows("run_summary") == value_rows(world, "summary")


def test_given_a_deleted_run_then_the_reconcile_deletes_its_keys(harness, world):
    every_sync(harness).sync()
    gone = next(r for r in runs(world) if r.summary)
    world.delete_run(gone)
    harness.sync()
    project_id = f"{world.entity}/{gone.project}"
    assert {key for key in harness.deleted("run_config") if key[:2] == (project_id, gone.name)} == {
        (project_id, gone.name, key) for key, _, _ in leaves(gone.config)
    }
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_given_the_tables_switched_off_then_on_then_they_fill_without_a_full_resync(harness, world, upserted):
    daily(harness).configuration |= {"run_config": "false", "run_summary": "false"}
    harness.sync()
    assert not harness.rows("run_config") and not harness.rows("run_summary")
    harness.configuration |= {"run_config": "true", "run_summary": "true"}
    upserted.clear()
    harness.sync()
    harness.assert_matches_world()
    assert not written(upserted, "run_history"), "switching a table on re-wrote another table's rows"


def test_the_state_keeps_a_few_bytes_per_run_not_per_value(harness, world):
    """Every walk's per-run records of a project travel packed together: a few dozen bytes a run with every run
    table on, whatever the runs' keys."""
    harness.sync()
    for project, saved in harness.state["projects"].items():
        runs = sum(1 for run in world.runs if run.project == project)
        assert len(saved[RUN_RECORDS]) / runs < 60, project
        assert all(RUNS not in walk for walk in saved.values() if isinstance(walk, dict)), "records left unpacked"


def test_given_ten_thousand_keys_then_the_digests_stay_capped():
    assert bucket_count(10_000) == MAX_BUCKETS and bucket_count(LEAVES_PER_BUCKET) == 1
    assert bucket_count(LEAVES_PER_BUCKET + 1) == 2


def test_flattening_is_iterative_and_keeps_empty_objects_and_lists_whole():
    deep: dict = {}
    node = deep
    for _ in range(3000):
        node["d"] = {}
        node = node["d"]
    node["leaf"] = 1
    assert [(len(path), value) for _, path, value in flatten(deep)] == [(3001, 1)]
    assert list(flatten({"a": {}, "b": [1, {"c": 2}]})) == [("a", ["a"], {}), ("b", ["b"], [1, {"c": 2}])]
    config = unwrap_config(json.dumps({"x": {"value": {"y.z": math.nan}, "desc": None}}), "config")
    assert [(k, type(v).__name__) for k, _, v in flatten(config)] == [("x.y\\.z", "NonFinite")]
    assert json_object('{"s": "NaN", "n": NaN}', "summary") == {"s": "NaN", "n": "NaN"}


def test_given_a_sync_dying_inside_a_huge_config_then_the_next_finishes_it_and_counts_each_row_once(
    harness, world, monkeypatch
):
    """A run's rows are committed in parts (a huge config is not buffered whole); the run's ledger and count move
    after its last row, so a sync that dies between parts re-writes the run and counts it once."""
    huge = world.live_runs(world.live_projects()[0].name)[0]
    huge.config = huge.config | {"layers": {f"layer_{i}": {"units": i, "act": "gelu"} for i in range(1_500)}}
    monkeypatch.setattr("wandb_connector.value_buckets.ROWS_PER_OFFER", 500)
    commit_every(monkeypatch, 200)
    upsert, written = Operations.upsert, []

    def dying(table: str, data: dict):
        written.append(table)
        if written.count("run_config") == 1_700:
            raise RuntimeError("killed by the test")
        return upsert(table, data)

    monkeypatch.setattr(Operations, "upsert", dying)
    with pytest.raises(Exception, match="killed by the test"):
        harness.sync()
    committed = harness.rows("run_config")
    assert 1_000 <= len([k for k in committed if k[1] == huge.name]) < 1_700, "no part of the run was committed"
    monkeypatch.setattr(Operations, "upsert", upsert)
    harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()
