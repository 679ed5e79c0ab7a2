"""`sweeps` and `users`: synced with their ground truth, incremental (an unchanged row costs no row and no request)
and deleted like the other tables; a member's API key, which the team listing offers, never leaves W&B."""

from __future__ import annotations

import json

import pytest

from devkit.wandb_double import WandbDouble
from devkit.wandb_double.dataset import World
from devkit.wandb_double.resolvers import member_api_key
from tests.harness import Harness, daily, every_sync


@pytest.fixture
def harness(tmp_path, double: WandbDouble, configuration: dict) -> Harness:
    return daily(Harness(tmp_path / "sync", configuration, double))


def sweep_key(world: World, sweep) -> tuple[str, str]:
    return (f"{world.entity}/{sweep.project}", sweep.name)


def test_every_sweep_lands_with_its_parsed_config_and_its_best_run(harness, world):
    harness.sync()
    harness.assert_matches_world()
    rows = harness.rows("sweeps")
    assert len(rows) == len(world.sweeps) > 0
    ranked = [s for s in world.sweeps if world.best_run(s)]
    assert ranked, "no sweep has a best run: the check would prove nothing"
    for sweep in ranked:
        row = rows[sweep_key(world, sweep)]
        assert row["config"]["metric"] == sweep.metric
        assert row["best_run_id"] == world.best_run(sweep).name


def test_given_nothing_new_then_no_sweep_or_user_row_and_no_best_run_request(harness, world, double):
    for sweep in world.sweeps:  # a running sweep is read again until it ends
        sweep.state = "FINISHED"
    harness.sync()
    double.reset_log()
    counts = harness.sync()
    assert counts["Upserts"] == 0
    assert double.count("SweepBestRun") == 0
    assert double.count("GetSweeps") == 0  # the listing rode in each project's first request


def test_given_a_changed_a_new_and_a_deleted_sweep_then_each_reaches_the_warehouse(harness, world, double):
    harness.sync()
    changed, gone = world.sweeps[0], world.sweeps[1]
    world.edit_sweep(changed, state="CANCELED", display_name="renamed")
    new = world.add_sweep(world.live_projects()[0].name)
    world.delete_sweep(gone)
    double.reset_log()
    harness.sync()
    rows = harness.rows("sweeps")
    assert harness.deleted("sweeps") == {sweep_key(world, gone)}, "a deleted sweep goes at the next sync"
    assert rows[sweep_key(world, changed)]["state"] == "CANCELED"
    assert sweep_key(world, new) in rows
    running = [s for s in world.sweeps if s.state in ("RUNNING", "PENDING") and not s.deleted]
    assert double.count("SweepBestRun") <= 2 + len(running)

    every_sync(harness).sync()
    harness.assert_matches_world()
    assert harness.deleted("sweeps") == {sweep_key(world, gone)}


def test_given_a_running_sweep_gaining_a_better_run_without_any_timestamp_moving_then_the_next_sync_has_it(
    harness, world
):
    """Whether W&B moves a sweep's `updatedAt` when a run joins it is unknown: an open sweep is read again at every
    sync until it ends, so its run count and best run are current either way."""
    sweep = next(s for s in world.sweeps if s.metric.get("goal") == "maximize")
    sweep.state = "RUNNING"
    harness.sync()
    better = world.add_run(sweep.project, sweep_name=sweep.name, state="finished")
    better.summary = {**(better.summary or {}), "eval/f1": 0.999999}
    stamps = (sweep.updated_at, sweep.heartbeat_at)
    harness.sync()
    assert (sweep.updated_at, sweep.heartbeat_at) == stamps
    row = harness.rows("sweeps")[sweep_key(world, sweep)]
    assert (row["best_run_id"], row["run_count"]) == (better.name, len(world.sweep_runs(sweep)))


def test_every_member_lands_as_a_user_without_email_by_default(harness, world, double):
    harness.sync()
    harness.assert_matches_world()
    users = harness.rows("users")
    assert set(users) == {(u.username,) for u in world.users}
    assert {row["email"] for row in users.values()} == {None}
    assert users[("flyte-bot",)]["account_type"] == "service"
    assert all("email" not in r.query for r in double.requests if r.op == "GetTeamMembers")


def test_given_include_emails_then_users_carry_their_email(harness, world):
    harness.configuration = {**harness.configuration, "include_emails": "true"}
    harness.sync()
    harness.assert_matches_world()
    assert {row["email"] for row in harness.rows("users").values()} == {u.email for u in world.users}


def test_no_members_api_key_is_asked_for_or_reaches_a_table_the_state_or_a_log(harness, world, double, capfd):
    harness.sync()
    every_sync(harness).sync()
    keys = {member_api_key(u) for u in world.users}
    assert all("apiKey" not in r.query for r in double.requests)
    assert any(r.op == "GetTeamMembers" for r in double.requests)
    everything = json.dumps(harness.state) + capfd.readouterr().out
    for table in harness.expected():
        everything += json.dumps(list(harness.rows(table, live_only=False).values()), default=str)
    assert not [key for key in keys if key in everything]


def test_given_a_renamed_and_a_removed_member_then_the_next_sync_writes_one_row_and_marks_the_removed(harness, world):
    harness.sync()
    renamed, removed = world.users[1], world.users[2]
    renamed.name = "Bob Renamed"
    world.users.remove(removed)
    counts = harness.sync()
    assert counts["Upserts"] == 1 and counts["Deletes"] == 1
    assert harness.deleted("users") == {(removed.username,)}
    assert harness.rows("users")[(renamed.username,)]["name"] == "Bob Renamed"
    every_sync(harness).sync()
    assert harness.deleted("users") == {(removed.username,)}
    harness.assert_matches_world()


def ranked_sweep(world: World):
    return next(s for s in world.sweeps if world.sweep_runs(s) and s.metric.get("name"))


def test_given_a_sweep_deleted_before_its_best_run_is_read_then_its_project_syncs_and_the_reconcile_sweeps_it(
    harness, world, double
):
    sweep = ranked_sweep(world)

    def delete_after_the_listing(request):
        if request.op == "ProjectFirstPages" and request.variables["project"] == sweep.project and not sweep.deleted:
            world.delete_sweep(sweep)

    with double.hooked(delete_after_the_listing):
        harness.sync()
    assert sweep.deleted
    project_id = f"{world.entity}/{sweep.project}"
    assert (project_id,) in harness.rows("projects")
    assert len([k for k in harness.rows("run_fields") if k[0] == project_id]) == len(world.live_runs(sweep.project))
    every_sync(harness).sync()
    harness.assert_matches_world()
    assert harness.deleted("sweeps") == {sweep_key(world, sweep)}


@pytest.mark.parametrize("value", ["missing", float("nan"), float("inf")])
def test_given_no_run_of_a_sweep_with_a_finite_metric_then_it_has_no_best_run(harness, world, value):
    sweep = ranked_sweep(world)
    name = sweep.metric["name"]
    for run in world.sweep_runs(sweep):
        run.summary = {k: v for k, v in (run.summary or {}).items() if k != name}
        if value != "missing":
            run.summary[name] = value
    harness.sync()
    assert harness.rows("sweeps")[sweep_key(world, sweep)]["best_run_id"] is None
    harness.assert_matches_world()


@pytest.mark.parametrize(
    "config", [{"method": "grid", "tags": {"a", "b"}}, {"method": "grid", "blob": b"\x00\x01"}], ids=["set", "binary"]
)
def test_given_yaml_types_json_lacks_in_a_sweep_config_then_they_land_as_json(harness, world, config):
    sweep = ranked_sweep(world)
    sweep.config = config
    harness.sync()
    landed = harness.rows("sweeps")[sweep_key(world, sweep)]["config"]
    assert landed == (
        {"method": "grid", "tags": ["a", "b"]} if "tags" in config else {"method": "grid", "blob": "AAE="}
    )
