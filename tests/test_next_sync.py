"""Edits and deletes reach the warehouse at the very next sync, for a handful of requests, wherever W&B can tell;
the reconcile catches the rest and writes only what changed.

Whether W&B's server honours a run filter on `updatedAt`, and whether an edit moves `updatedAt`, are unknown: the
double does each (`World.updated_filter`, `World.updated_moves_on`) and every combination is tested. Ground truth is
the double's dataset, never the connector's output."""

from __future__ import annotations

import json

import pytest
from fivetran_connector_sdk import Logging

from devkit.wandb_double import WandbDouble
from devkit.wandb_double.dataset import EDIT_KINDS, World, build_world
from tests.harness import Harness, as_version_5, commit_every, daily, every_sync, sync_killed_after

FILTERS = ("honoured", "ignored", "refused")


@pytest.fixture
def world() -> World:
    return build_world(seed=23, projects=2, runs_per_project=10, artifact_versions=8, history_steps=4)


@pytest.fixture
def harness(tmp_path, double: WandbDouble, configuration: dict) -> Harness:
    return daily(Harness(tmp_path / "sync", configuration, double))


def run_key(world: World, run) -> tuple[str, str]:
    return (f"{world.entity}/{run.project}", run.name)


def finished(world: World, project: str, count: int = 1) -> list:
    return [r for r in world.live_runs(project) if r.state == "finished"][:count]


def stale(harness: Harness, run: tuple[str, str] | None = None) -> int:
    """Rows the warehouse holds live that differ from the ground truth, or that it lacks or should not hold (of
    one run's rows, when given: a key that begins with the run's)."""

    def mine(keys):
        return {key for key in keys if run is None or key[:2] == run}

    return sum(
        len(mine(rows.keys() ^ live.keys()))
        + sum(1 for key in mine(rows.keys() & live.keys()) if rows[key] != live[key])
        for table, rows in harness.expected().items()
        for live in [harness.rows(table)]
    )


def logged(capsys, text: str) -> int:
    return capsys.readouterr().out.count(text)


def test_given_runs_deleted_then_the_next_sync_marks_them_and_their_rows_deleted_with_one_id_listing(
    harness, world, double
):
    harness.sync()
    project = world.live_projects()[0].name
    gone = finished(world, project, 2)
    for run in gone:
        world.delete_run(run)
    double.reset_log()
    counts = harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()
    assert harness.deleted("run_fields") == {run_key(world, r) for r in gone}
    assert {key[:2] for key in harness.deleted("run_config")} == {run_key(world, r) for r in gone}
    assert counts["Deletes"] > 0 and counts["Upserts"] == 0
    assert double.count("RunKeys") == 1, "only the project whose count moved lists its run ids"
    assert [r.variables["project"] for r in double.requests if r.op == "RunKeys"] == [project]


def test_given_nothing_deleted_then_no_id_listing_and_no_row(harness, world, double):
    harness.sync()
    double.reset_log()
    counts = harness.sync()
    assert double.count("RunKeys") == 0 and counts["Upserts"] == counts["Deletes"] == 0
    assert double.count() <= 1.6 * len(world.live_projects()) + 3, double.ops()


def test_given_a_run_hidden_from_the_key_then_one_listing_learns_it_and_later_syncs_list_nothing(
    harness, world, double
):
    project = world.live_projects()[0].name
    world.hide(finished(world, project)[0])
    harness.sync()
    double.reset_log()
    harness.sync()
    assert double.count("RunKeys") == 1 and not harness.deleted("run_fields")
    double.reset_log()
    harness.sync()
    assert double.count("RunKeys") == 0
    harness.assert_matches_world()


@pytest.mark.parametrize("updated_filter", FILTERS)
def test_given_a_deleted_run_undeleted_then_the_next_sync_brings_it_back_live(harness, world, updated_filter):
    world.updated_filter = updated_filter
    harness.sync()
    run = finished(world, world.live_projects()[0].name)[0]
    world.delete_run(run)
    harness.sync()
    assert run_key(world, run) in harness.deleted("run_fields")
    world.restore_run(run)
    harness.sync()
    assert run_key(world, run) in harness.rows("run_fields")
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_given_a_run_moved_to_another_project_then_the_next_sync_has_it_in_the_new_one_only(harness, world):
    harness.sync()
    source, target = (p.name for p in world.live_projects())
    run = finished(world, source)[0]
    old = run_key(world, run)
    world.move_run(run, target)
    harness.sync()
    truth = harness.expected()
    # its lineage edges name the project they were read in until the reconcile: a version's probe does not move
    # when a run that used it moves
    for table in (t for t in truth if t != "artifact_lineage"):
        assert harness.rows(table) == truth[table], table
    assert old in harness.deleted("run_fields") and run_key(world, run) in harness.rows("run_fields")
    every_sync(harness).sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_given_a_run_of_a_finished_sweep_deleted_then_the_next_sync_has_the_sweeps_new_count_and_best_run(
    harness, world, double
):
    harness.sync()
    sweep = next(s for s in world.sweeps if s.state not in ("RUNNING", "PENDING") and world.sweep_runs(s))
    best = world.best_run(sweep) or world.sweep_runs(sweep)[0]
    world.delete_run(best)
    double.reset_log()
    harness.sync()
    harness.assert_matches_world()
    assert double.count("SweepBestRun") <= 1 + len(
        [s for s in world.live_sweeps(sweep.project) if s.state in ("RUNNING", "PENDING")]
    )


def test_given_a_deleted_sweep_version_member_and_project_then_the_next_sync_marks_each_deleted(harness, world):
    harness.sync()
    keep, drop = world.live_projects()
    sweep = next(s for s in world.live_sweeps(keep.name))
    version = world.live_artifacts(world.live_collections(keep.name)[0])[-1]
    member = world.users[-1]
    dropped_runs = {run_key(world, r) for r in world.live_runs(drop.name)}
    world.delete_sweep(sweep)
    world.delete_artifact(version)
    world.users.remove(member)
    world.delete_project(drop)
    counts = harness.sync()
    assert counts["Truncates"] == 0
    harness.assert_matches_world()
    harness.assert_counts_match_world()
    dropped_sweeps = {(f"{world.entity}/{drop.name}", s.name) for s in world.sweeps if s.project == drop.name}
    assert harness.deleted("sweeps") == {(f"{world.entity}/{keep.name}", sweep.name)} | dropped_sweeps
    assert (version.id,) in harness.deleted("artifacts")
    assert harness.deleted("users") == {(member.username,)}
    assert harness.deleted("projects") == {(f"{world.entity}/{drop.name}",)}
    assert dropped_runs <= harness.deleted("run_fields")


EDITS = {
    "tags": lambda world, run: world.edit_run(run, tags=["retagged"]),
    "notes": lambda world, run: world.edit_run(run, notes="edited after it finished"),
    "config": lambda world, run: world.edit_run(run, config={**run.config, "relabelled": "yes"}),
    "summary": lambda world, run: world.update_summary(run, {"eval/f1": 0.123}),
}
assert set(EDITS) == EDIT_KINDS


MOVES = {"all": EDIT_KINDS, "none": frozenset(), "tags-and-notes": frozenset({"tags", "notes"})}


@pytest.mark.parametrize("moves", MOVES, ids=[f"updatedAt-moves-on-{m}" for m in MOVES])
@pytest.mark.parametrize("updated_filter", FILTERS)
def test_given_edits_to_finished_runs_then_each_lands_next_sync_where_w_and_b_can_tell_and_at_the_reconcile_always(
    harness, world, capsys, updated_filter, moves
):
    """One run edited per kind of edit: after the next sync each is exact exactly when the server filters by
    `updatedAt` and that kind of edit moves it; after the reconcile all are, and it writes only what changed."""
    world.updated_filter = updated_filter
    world.updated_moves_on = MOVES[moves]
    harness.sync(Logging.Level.INFO)
    verdict = {"honoured": "filters runs by updatedAt", "ignored": "ignores a run filter", "refused": "refuses a"}
    assert logged(capsys, verdict[updated_filter]) == 1
    runs = dict(zip(sorted(EDITS), finished(world, world.live_projects()[0].name, len(EDITS)), strict=True))
    for kind, run in runs.items():
        EDITS[kind](world, run)
    harness.sync(Logging.Level.INFO)
    assert verdict[updated_filter] not in capsys.readouterr().out, "said once, at the sync that found it out"
    for kind, run in runs.items():
        told = updated_filter == "honoured" and kind in MOVES[moves]
        assert stale(harness, run_key(world, run)) == 0 if told else stale(harness, run_key(world, run)) > 0, kind
    differing = stale(harness)
    every_sync(harness)
    counts = harness.sync(Logging.Level.INFO)
    harness.assert_matches_world()
    harness.assert_counts_match_world()
    # what changed, and for a config or summary the rest of the changed key's bucket (`value_buckets`) at most
    buckets = sum(
        1
        for kind in ("config", "summary")
        for key in harness.expected()[f"run_{kind}"]
        if key[:2] == run_key(world, runs[kind])
    )
    assert counts["Upserts"] <= differing + buckets and counts["Deletes"] <= differing and counts["Truncates"] == 0
    unsignalled = logged(capsys, "without W&B moving its updatedAt or heartbeatAt")
    assert unsignalled == (1 if differing and moves != "all" else 0)


def test_given_nothing_changed_then_a_reconcile_writes_no_row(harness, world, double):
    harness.sync()
    counts = every_sync(harness).sync()
    assert counts["Upserts"] == counts["Updates"] == counts["Deletes"] == counts["Truncates"] == 0, counts
    assert double.count("RunKeys") >= len(world.live_projects())


def change_everything(world: World) -> None:
    """Deletes and edits in both projects, of every kind the next sync must catch."""
    for project in (p.name for p in world.live_projects()):
        first, second, third = finished(world, project, 3)
        world.delete_run(first)
        world.edit_run(second, tags=["moved-on"])
        world.update_summary(third, {"eval/f1": 0.5})
        world.delete_artifact(world.live_artifacts(world.live_collections(project)[0])[-1])
    world.delete_sweep(world.sweeps[0])
    world.add_run(world.live_projects()[0].name)


@pytest.mark.parametrize("kill_after", range(0, 12, 3))
def test_given_a_sync_of_edits_and_deletes_killed_after_k_requests_then_the_next_is_exact_at_once(
    harness, world, double, kill_after, monkeypatch
):
    commit_every(monkeypatch, 1)
    harness.sync()
    change_everything(world)
    sync_killed_after(harness, double, kill_after)
    harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_given_a_state_from_before_digests_and_counts_then_it_is_upgraded_and_the_next_sync_is_exact(harness, world):
    harness.sync()
    state = as_version_5(harness.state)
    for walks in state["projects"].values():
        for walk in ("run_fields", "artifacts"):
            for key in ("rows", "uncounted"):
                walks[walk].pop(key, None)
        walks["sweeps"]["digests"] = {}
    for key in ("updated_filter", "project_rows"):
        state.pop(key)
    harness.directory.joinpath("files", "state.json").write_text(json.dumps(state))
    change_everything(world)
    counts = harness.sync()
    assert counts["Truncates"] == 0
    harness.assert_matches_world()
    harness.assert_counts_match_world()
    assert harness.state["updated_filter"] == "honoured" and harness.state["project_rows"]
    counts = harness.sync()
    assert counts["Upserts"] == counts["Deletes"] == 0
