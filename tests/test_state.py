"""The state: typed in memory, JSON on the wire, loaded from the dataclasses' own hints; a state written by the last
version upgrades without a re-sync."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from devkit.wandb_double import WandbDouble
from tests.harness import Harness, as_version_5
from wandb_connector.state import STATE_VERSION, Cursor, StateError, SyncState, WalkState
from wandb_connector.tables.sweeps import SweepsState

AT = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_a_cursor_knows_what_it_already_emitted_at_its_second():
    cursor = Cursor()
    assert cursor.is_new("a", AT)
    cursor.saw("a", AT)
    cursor.saw("b", AT)
    cursor.saw("z", AT - timedelta(seconds=1))
    assert (cursor.created, cursor.ids) == (AT, ["a", "b"])
    assert not cursor.is_new("a", AT) and cursor.is_new("c", AT) and not cursor.is_new("z", AT - timedelta(hours=1))
    cursor.merge(Cursor(AT + timedelta(seconds=1), ["q"]))
    assert (cursor.created, cursor.ids) == (AT + timedelta(seconds=1), ["q"])
    cursor.merge(Cursor(AT + timedelta(seconds=1), ["p"]))
    assert cursor.ids == ["p", "q"]


def test_a_state_round_trips_through_json_with_datetimes_and_each_walks_own_type():
    state = SyncState(reconciled_at=AT)
    runs = state.walk("p", "run_fields", WalkState)
    runs.begin(AT, full=False).newest.saw("r1", AT)
    runs.open.add("r2", AT)
    state.walk("p", "sweeps", SweepsState).digests["s1"] = "abc"
    state.table("run_fields").saw(AT, new=True)

    raw = state.to_dict()
    assert raw["reconciled_at"] == AT.isoformat() and raw["version"] == STATE_VERSION
    again = SyncState.from_dict(raw)
    assert again.reconciled_at == AT and again.tables["run_fields"].max_created_at == AT
    assert again.walk("p", "run_fields", WalkState) == runs
    assert again.walk("p", "sweeps", SweepsState).digests == {"s1": "abc"}


@pytest.mark.parametrize("raw", [{"version": 99}, {"version": 3, "reconciled_at": 5}])
def test_a_state_this_version_cannot_read_names_the_fix(raw):
    with pytest.raises(StateError, match="re-sync"):
        SyncState.from_dict(raw)


def as_version_2(state: dict) -> dict:
    """The same cursors in the shape version 2 wrote them (one shape for runs, another for artifacts)."""
    projects = {}
    for name, walks in as_version_5(state)["projects"].items():
        runs, artifacts = walks["run_fields"], walks["artifacts"]
        projects[name] = {
            "runs": {
                "created": runs["emitted"]["created"],
                "boundary": runs["emitted"]["ids"],
                "open": runs["open"],
                "read_at": runs["read_at"],
                "walk": None,
            },
            "artifacts": {
                "read_at": artifacts["read_at"],
                "created": artifacts["emitted"]["created"],
                "boundary": artifacts["emitted"]["ids"],
                "walk_started_at": None,
                "walk_full": False,
                "walk_newest": None,
                "walk_newest_ids": [],
            },
        }
    keep = ("tables", "projects_read_at", "reconciled_at", "reconcile_started_at", "sync_started_at")
    return {"version": 2, "projects": projects, **{key: state[key] for key in keep}}


def test_given_a_state_from_version_2_then_the_next_sync_carries_on_incrementally(
    tmp_path, double: WandbDouble, configuration
):
    harness = Harness(tmp_path / "sync", {**configuration, "reconcile_interval_hours": "24"}, double)
    harness.sync()
    old = as_version_2(harness.state)
    harness.directory.joinpath("files", "state.json").write_text(json.dumps(old))
    world = double.world
    new = world.add_run(world.live_projects()[0].name)
    counts = harness.sync()
    assert harness.state["version"] == STATE_VERSION
    assert counts["Truncates"] == 0, "no reconcile: the cursors carried over"
    # the new run, and once in full the tables version 2 did not have (the runs and versions too, for their
    # history and lineage), and the projects, whose row digests it did not keep
    expected = harness.expected()
    tables = ("projects", "run_fields", "run_config", "run_summary", "users", "sweeps", "run_history")
    tables += ("run_system_metrics", "artifacts", "artifact_lineage")
    assert counts["Upserts"] == sum(len(expected[table]) for table in tables)
    assert (f"{world.entity}/{new.project}", new.name) in harness.rows("run_fields")
    harness.assert_matches_world()
