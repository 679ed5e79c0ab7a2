"""No configuration mistake costs a row: filters never delete (a project left out keeps its rows as they were; only
W&B's deletes delete), filters that leave nothing are refused, and a state is never carried over to another account.
"""

from __future__ import annotations

import json

import duckdb
import pytest
from fivetran_connector_sdk import Logging

from devkit.wandb_double import WandbDouble
from devkit.wandb_double.dataset import World
from tests.harness import Harness, as_version_5, daily, every_sync
from wandb_connector.form import connection_test
from wandb_connector.registry import TABLES, swept_tables
from wandb_connector.state import RENAMED_WALKS

PROJECT_TABLES = [table.name for table in TABLES if "project_id" in table.columns]


@pytest.fixture
def harness(tmp_path, double: WandbDouble, configuration: dict) -> Harness:
    return every_sync(Harness(tmp_path / "sync", configuration, double))


def snapshot(harness: Harness, project_id: str) -> dict[str, list[tuple]]:
    """Every row the warehouse holds of one project, system columns (`_fivetran_synced`, `_fivetran_deleted`)
    included: what "as they were" means."""
    with duckdb.connect(str(harness.database), read_only=True) as con:
        return {
            table: con.execute(
                f"select columns(*)::varchar from tester.{table} where project_id = ? order by all", [project_id]
            ).fetchall()
            for table in PROJECT_TABLES
        }


def filtered(harness: Harness, **filters: str) -> Harness:
    harness.configuration = {**harness.configuration, **filters}
    return harness


@pytest.mark.parametrize(
    "filters",
    [{"projects": "nope-*"}, {"exclude_projects": "*"}, {"projects": "phishing-*", "exclude_projects": "phish*"}],
    ids=["glob-matching-nothing", "everything-excluded", "include-then-exclude-all"],
)
def test_given_filters_that_leave_no_project_then_the_sync_is_refused_naming_the_patterns_and_the_projects(
    harness, world: World, filters
):
    harness.sync()
    before = harness.state
    with pytest.raises(Exception) as refused:
        filtered(harness, **filters).sync()
    message = str(refused.value)
    assert all(pattern in message for pattern in filters.values()), message
    assert all(project.name in message for project in world.live_projects()), message
    assert harness.state == before, "nothing was committed"
    for table in swept_tables():
        assert not harness.deleted(table), table


def test_given_a_glob_matching_nothing_then_the_connection_test_fails_with_the_syncs_message(configuration, world):
    result = connection_test({**configuration, "projects": "nope-*"})
    assert not result.success and "'nope-*'" in result.failure and world.live_projects()[0].name in result.failure


def test_given_a_narrowed_filter_then_a_reconcile_leaves_the_excluded_projects_rows_live_and_unchanged(
    harness, world: World
):
    harness.sync()
    kept, left = world.live_projects()[0], world.live_projects()[1]
    left_id = f"{world.entity}/{left.name}"
    before = snapshot(harness, left_id)
    assert all(before[table] for table in ("projects", "run_fields", "artifacts", "run_history")), before
    world.edit_run(world.live_runs(left.name)[0], notes="edited while left out")

    counts = filtered(harness, projects=kept.name).sync()

    assert counts["Truncates"] == 0
    assert snapshot(harness, left_id) == before
    assert all(not harness.deleted(table) for table in swept_tables())
    assert harness.state["tables"]["run_fields"]["count"] == len(harness.rows("run_fields"))


def test_given_a_filter_narrowed_then_widened_then_the_left_out_project_catches_up(harness, world: World):
    harness.sync()
    kept, left = world.live_projects()[0], world.live_projects()[1]
    filtered(harness, projects=kept.name).sync()
    edited, deleted = world.live_runs(left.name)[:2]
    world.edit_run(edited, notes="edited while left out")
    world.delete_run(deleted)
    world.add_run(left.name)

    filtered(harness, projects="").sync()

    harness.assert_matches_world()
    assert (f"{world.entity}/{left.name}", deleted.name) in harness.deleted("run_fields")
    harness.assert_counts_match_world()


def test_given_a_left_out_project_deleted_in_wandb_then_the_next_reconcile_marks_its_rows_deleted(
    harness, world: World
):
    harness.sync()
    kept, left = world.live_projects()[0], world.live_projects()[1]
    filtered(harness, projects=kept.name).sync()
    world.delete_project(left)
    harness.sync()
    assert harness.deleted("projects") == {(f"{world.entity}/{left.name}",)}
    assert {key[0] for key in harness.deleted("run_fields")} == {f"{world.entity}/{left.name}"}
    assert f"{world.entity}/{left.name}" not in {key[0] for key in harness.rows("run_history")}


def test_given_a_reconcile_with_nothing_deleted_then_no_row_is_truncated_or_re_marked(harness, world: World):
    harness.sync()
    counts = harness.sync()
    assert (counts["Truncates"], counts["Updates"], counts["Deletes"]) == (0, 0, 0)
    run = world.live_runs(world.live_projects()[0].name)[0]
    world.delete_run(run)
    counts = harness.sync()
    assert counts["Truncates"] == 0 and counts["Updates"] == 0
    assert harness.deleted("run_fields") == {(f"{world.entity}/{run.project}", run.name)}
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_given_a_state_from_before_walks_recorded_their_keys_then_one_reconcile_marks_and_later_ones_do_not(
    harness, world: World
):
    daily(harness).sync()
    old = {**as_version_5(harness.state), "version": 3}
    for name in ("source_entity", "source_server", "mark_sweep_due"):
        old.pop(name)
    renamed = {new: old_name for old_name, new in RENAMED_WALKS.items()}
    for project, walks in old["projects"].items():
        old["projects"][project] = {renamed.get(walk, walk): walk_state for walk, walk_state in walks.items()}
        old["projects"][project]["runs"].pop("names")
        old["projects"][project]["sweeps"].pop("names")
    harness.directory.joinpath("files", "state.json").write_text(json.dumps(old))
    gone = world.live_runs(world.live_projects()[0].name)[0]
    world.delete_run(gone)

    marking = every_sync(harness).sync()
    exact = harness.sync()

    assert marking["Truncates"] == len(swept_tables()) and exact["Truncates"] == 0
    assert harness.state["source_entity"] == world.entity and harness.state["mark_sweep_due"] is False
    assert (f"{world.entity}/{gone.project}", gone.name) in harness.deleted("run_fields")
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_given_a_state_of_another_entity_then_the_sync_is_refused_before_any_write(harness, world: World):
    harness.sync()
    state = {**harness.state, "source_entity": "another-team"}
    harness.directory.joinpath("files", "state.json").write_text(json.dumps(state))
    with pytest.raises(Exception) as refused:
        harness.sync()
    message = str(refused.value)
    assert "another-team" in message and f"'{world.entity}'" in message and "reset" in message
    assert harness.state == state


def test_given_a_state_of_another_server_then_the_sync_is_refused_before_any_write(harness, world: World):
    harness.sync()
    state = harness.state
    with WandbDouble(world, page_cap=25) as elsewhere:
        harness.configuration = {**harness.configuration, "base_url": elsewhere.base_url}
        with pytest.raises(Exception) as refused:
            harness.sync()
        assert {request.op for request in elsewhere.requests} <= {"Viewer", "GetProjects"}, "read, never written"
        assert state["source_server"] in str(refused.value) and elsewhere.base_url in str(refused.value)
    assert harness.state == state


def test_given_the_same_server_written_differently_then_the_state_is_kept(harness, world: World, double):
    harness.sync()
    harness.configuration = {**harness.configuration, "base_url": double.base_url.upper() + "/"}
    harness.sync()
    assert harness.state["source_server"] == double.base_url


def test_a_long_project_says_how_far_it_got_as_it_goes(harness, world: World, monkeypatch, capsys):
    """A line every few thousand rows (here every 200) or 30 s, with the rows so far per table, and the final
    line per project as before."""
    monkeypatch.setattr("wandb_connector.sync.PROGRESS_EVERY_ROWS", 200)
    harness.sync(level=Logging.Level.INFO)
    lines = [line for line in capsys.readouterr().out.splitlines() if "so far:" in line]
    project = f"{world.entity}/{world.live_projects()[0].name}"
    mine = [line for line in lines if f"project {project}, so far:" in line]
    assert len(mine) >= 2, lines
    runs = [int(line.split("so far: ")[1].split(" run_fields")[0]) for line in mine]
    assert runs == sorted(runs) and runs[-1] <= len(world.live_runs(world.live_projects()[0].name))
