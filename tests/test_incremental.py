"""Incremental syncs never lose or duplicate a row: cursors, open runs, edits, deletes, moves, crashes."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from fivetran_connector_sdk import Operations

from devkit.expected import leaves
from devkit.wandb_double import WandbDouble
from devkit.wandb_double.dataset import EPOCH, World
from devkit.wandb_double.server import Request
from tests.conftest import SMALL_WORLD
from tests.harness import Harness, as_version_5, commit_every, daily, every_sync, sync_killed_after
from wandb_connector.registry import TABLES, swept_tables
from wandb_connector.state import STATE_VERSION


@pytest.fixture
def harness(tmp_path, double: WandbDouble, configuration: dict) -> Harness:
    return Harness(tmp_path / "sync", configuration, double)


def test_given_nothing_new_when_syncing_again_then_at_most_three_requests_per_project_and_no_row_changes(harness):
    harness.sync()
    before = harness.rows("run_fields")
    synced = {k: harness.rows(t) for t, k in (("projects", 0), ("artifacts", 1))}
    harness.double.reset_log()
    counts = harness.sync()
    projects = len(harness.double.world.live_projects())
    assert harness.double.count() <= 3 * projects, harness.double.ops()
    assert counts["Upserts"] == 0 and counts["Updates"] == 0 and counts["Deletes"] == 0
    assert harness.rows("run_fields") == before
    assert {k: harness.rows(t) for t, k in (("projects", 0), ("artifacts", 1))} == synced


def test_given_new_runs_and_versions_then_only_they_are_read_and_emitted(harness, world: World):
    daily(harness).sync()
    before = harness.expected()
    project = world.live_projects()[0].name
    added = [world.add_run(project) for _ in range(3)]
    collection = world.live_collections(project)[0]
    harness.double.reset_log()
    world.add_artifact_version(collection, (project, added[0].name))
    counts = harness.sync()
    harness.assert_matches_world()
    # the collection that changed is read again whole, but only its new and changed versions are written
    assert counts["Upserts"] == harness.expected_writes(before) and counts["Deletes"] == 0
    assert harness.double.count("ProjectArtifacts") >= 1
    harness.assert_counts_match_world()


def test_given_running_runs_that_finish_or_crash_without_a_heartbeat_then_their_final_state_lands(harness, world):
    daily(harness).sync()
    running = [r for r in world.runs if r.state == "running"][:2]
    world.finish_run(running[0])
    world.edit_run(running[1], state="crashed")
    harness.sync()
    assert {harness.rows("run_fields")[(f"{world.entity}/{r.project}", r.name)]["state"] for r in running} == {
        "finished",
        "crashed",
    }
    harness.assert_matches_world()


def test_given_a_finished_run_resumed_or_moved_back_to_pending_then_the_next_sync_sees_it(harness, world):
    daily(harness).sync()
    finished = [r for r in world.runs if r.state in ("finished", "failed")][:2]
    world.finish_run(finished[0], state="running")
    world.edit_run(finished[1], state="pending")
    harness.sync()
    harness.assert_matches_world()
    world.finish_run(finished[0])
    world.finish_run(finished[1], state="failed")
    harness.sync()
    harness.assert_matches_world()


def test_given_every_kind_of_change_then_a_reconciling_sync_equals_the_ground_truth(harness, world: World):
    every_sync(harness).sync()
    projects = [p.name for p in world.live_projects()]
    runs = world.live_runs(projects[0])
    world.add_run(projects[0])
    world.edit_run(next(r for r in runs if r.state == "finished"), tags=["retagged"], notes="edited later")
    world.edit_run(runs[3], summary={**runs[3].summary, "eval/f1": 0.123})
    deleted, restored, moved = runs[5], runs[6], runs[7]
    world.delete_run(deleted)
    world.delete_run(restored)
    world.move_run(moved, projects[1])
    version = world.live_artifacts(world.live_collections(projects[0])[0])[0]
    world.delete_artifact(version)
    world.add_artifact_version(world.live_collections(projects[1])[0], (projects[1], moved.name))
    world.add_project("late-project")
    world.add_run("late-project")
    harness.sync()
    harness.assert_matches_world()
    key = (f"{world.entity}/{projects[0]}", deleted.name)
    assert key in harness.deleted("run_fields") and (f"{world.entity}/{projects[0]}", moved.name) in harness.deleted(
        "run_fields"
    )
    assert (version.id,) in harness.deleted("artifacts")
    world.restore_run(restored)
    harness.sync()
    harness.assert_matches_world()
    assert (f"{world.entity}/{projects[0]}", restored.name) not in harness.deleted("run_fields")
    harness.assert_counts_match_world()


def test_given_a_deleted_project_then_its_rows_are_marked_deleted(harness, world):
    every_sync(harness).sync()
    gone = world.live_projects()[-1]
    runs = {(f"{world.entity}/{gone.name}", r.name) for r in world.live_runs(gone.name)}
    versions = {(a.id,) for c in world.live_collections(gone.name) for a in world.live_artifacts(c)}
    assert runs and versions
    world.delete_project(gone)
    harness.sync()
    harness.assert_matches_world()
    assert harness.deleted("projects") == {(f"{world.entity}/{gone.name}",)}
    assert harness.deleted("run_fields") == runs
    assert harness.deleted("artifacts") == versions


def test_given_runs_created_while_the_sync_pages_then_none_is_lost_or_duplicated(harness, world: World, double):
    project = world.live_projects()[0].name
    inserted = []

    def insert_during_the_walk(request):
        if request.op == "Runs" and len(inserted) < 5:
            inserted.append(world.add_run(project))

    with double.hooked(insert_during_the_walk):
        daily(harness).sync()
    harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_given_runs_deleted_while_the_sync_pages_then_no_live_run_is_skipped(harness, world: World, double):
    project = world.live_projects()[0].name
    runs = sorted(world.live_runs(project), key=lambda r: r.created_at)

    def delete_behind_the_walk(request):
        if request.op == "Runs" and request.variables.get("project") == project and runs[0].deleted is False:
            world.delete_run(runs[0])

    with double.hooked(delete_behind_the_walk):
        daily(harness).sync()
    assert set(harness.rows("run_fields")) >= {(f"{world.entity}/{project}", r.name) for r in runs[1:]}


def test_given_versions_deleted_while_the_sweep_lists_them_then_no_live_version_is_marked_deleted(
    harness, world: World, double
):
    project = world.live_projects()[0].name
    collection = world.live_collections(project)[0]
    for _ in range(30):  # more than a page (the double answers 25 at most)
        world.add_artifact_version(collection, None)
    daily(harness).sync()
    newest = max(world.live_artifacts(collection), key=lambda a: a.created_at)
    listings = 0

    def delete_behind_the_listing(request):  # called once the double has answered the request
        nonlocal listings
        variables = request.variables
        listing = request.op == "ArtifactProbe" and (variables["project"], variables["collection"]) == (
            project,
            collection.name,
        )
        listings += listing and not variables.get("cursor")
        if listings == 2 and not newest.deleted:  # the walk's probe first, then the sweep's
            world.delete_artifact(newest)  # on the page just read: the next offset page shifts back by one

    with double.hooked(delete_behind_the_listing):
        every_sync(harness).sync()
    assert newest.deleted
    harness.assert_matches_world()
    assert (newest.id,) in harness.deleted("artifacts")


def test_given_versions_deleted_while_the_walk_pages_then_no_live_version_is_missed(harness, world: World, double):
    project = world.live_projects()[0].name
    collection = world.live_collections(project)[0]
    for _ in range(30):
        world.add_artifact_version(collection, None)
    newest = max(world.live_artifacts(collection), key=lambda a: a.created_at)

    def delete_behind_the_walk(request):
        variables = request.variables
        listing = request.op == "ProjectArtifacts" and (variables["project"], variables["collection"]) == (
            project,
            collection.name,
        )
        if listing and not variables.get("cursor") and not newest.deleted:
            world.delete_artifact(newest)

    with double.hooked(delete_behind_the_walk):
        daily(harness).sync()
    assert newest.deleted
    assert set(harness.rows("artifacts")) >= {(a.id,) for a in world.live_artifacts(collection)}
    others = sum(len(harness.rows(table.name)) for table in TABLES if table.name != "artifacts")
    emitted = len(harness.rows("artifacts", live_only=False)) + others
    assert harness.results[-1]["Upserts"] == emitted, "a version was emitted twice"


def delete_after_listing(project: str, collection) -> Callable[[Request], None]:
    """Delete `collection` once the project's collections listing named it: artifactCollection(name) answers null."""

    def hook(request: Request) -> None:
        if request.op == "ProjectArtifactCollections" and request.variables.get("project") == project:
            collection.deleted = True

    return hook


def test_given_a_collection_deleted_after_the_listing_named_it_then_only_its_versions_are_marked_deleted(
    harness, world: World, double
):
    project = world.live_projects()[0].name
    collection = world.live_collections(project)[0]
    for _ in range(30):  # more than come with the listing (a page, 25): they are read after it
        world.add_artifact_version(collection, None)
    every_sync(harness).sync()

    with double.hooked(delete_after_listing(project, collection)):
        harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_given_a_collection_deleted_during_an_incremental_walk_then_new_versions_count_once(
    harness, world: World, double
):
    daily(harness).sync()
    before = harness.state["tables"]["artifacts"]["count"]
    project = world.live_projects()[0].name
    first, second = world.live_collections(project)[:2]
    world.add_artifact_version(first, None)
    world.move_alias("best", world.live_artifacts(second)[0])  # `second` changed: the walk reads it again

    with double.hooked(delete_after_listing(project, second)):
        harness.sync()
    harness.sync()
    assert harness.state["tables"]["artifacts"]["count"] - before == 1


def test_given_an_alias_moved_between_syncs_then_both_versions_aliases_land(harness, world: World):
    daily(harness).sync()
    collection = next(
        c for c in world.live_collections(world.live_projects()[0].name) if len(world.live_artifacts(c)) > 1
    )
    oldest, newest = world.live_artifacts(collection)[0], world.live_artifacts(collection)[-1]
    assert "latest" in harness.rows("artifacts")[(newest.id,)]["aliases"]
    world.move_alias("latest", oldest)
    harness.sync()
    assert "latest" in harness.rows("artifacts")[(oldest.id,)]["aliases"]
    assert "latest" not in harness.rows("artifacts")[(newest.id,)]["aliases"]
    harness.assert_matches_world()


def test_given_a_project_deleted_while_the_projects_page_then_no_live_neighbour_is_marked_deleted(
    harness, world: World, double
):
    every_sync(harness).sync()
    first = world.live_projects()[0]
    double.page_cap = 1  # an entity with more projects than a page holds

    def delete_after_first_page(request):
        if request.op == "GetProjects" and not first.deleted:
            world.delete_project(first)

    with double.hooked(delete_after_first_page):
        harness.sync()
    harness.assert_matches_world()
    assert harness.deleted("projects") == {(f"{world.entity}/{first.name}",)}


def test_given_projects_that_keep_changing_while_they_page_then_the_sync_fails_and_the_next_completes(
    harness, world: World, double
):
    for number in range(6):
        world.add_project(f"more-{number}")
    daily(harness).sync()
    double.page_cap = 1

    def delete_on_every_listing(request):  # each reading shifts a live project past its second page
        if request.op == "GetProjects" and not request.variables.get("cursor"):
            world.delete_project(world.live_projects()[0])

    with (
        double.hooked(delete_on_every_listing),
        pytest.raises(Exception, match=r"the projects of entity .* kept changing while they were listed"),
    ):
        harness.sync()
    every_sync(harness).sync()  # the deleted projects' rows are swept
    harness.assert_matches_world()


def everywhere(payload: object, key: str, value: object) -> object:
    """The payload with every `key` in it set to `value`."""
    if isinstance(payload, dict):
        return {k: value if k == key else everywhere(v, key, value) for k, v in payload.items()}
    if isinstance(payload, list):
        return [everywhere(item, key, value) for item in payload]
    return payload


def test_given_a_total_count_that_never_matches_the_ids_then_a_second_reading_confirms_the_listing(
    harness, world: World, double
):
    """W&B may count versions the `COMMITTED` filter leaves out: two identical readings are whole too."""
    project = world.live_projects()[0].name
    collection = world.live_collections(project)[0]
    for _ in range(30):
        world.add_artifact_version(collection, None)
    with double.rewriting(lambda op, variables, payload: everywhere(payload, "totalCount", 10**6)):
        every_sync(harness).sync()
        double.reset_log()
        every_sync(harness).sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()
    listed = [r for r in double.requests if r.op == "ProjectArtifacts" and r.variables["collection"] == collection.name]
    assert len([r for r in listed if r.variables["project"] == project]) == 2 * 2  # two readings of two pages


LISTINGS = {"GetProjects": ("models",), "ProjectArtifactCollections": ("project", "artifactCollections")}


def test_given_listings_with_edges_whose_node_is_null_then_they_are_left_out(harness, world: World, double):
    rewritten = []

    def with_a_null_node(op: str, variables: dict, payload: dict) -> dict:
        if op in LISTINGS:
            connection = payload["data"]
            for key in LISTINGS[op]:
                connection = connection[key]
            connection["edges"].insert(0, {"node": None})
            rewritten.append(op)
        return payload

    with double.rewriting(with_a_null_node):
        every_sync(harness).sync()
        every_sync(harness).sync()
    assert set(rewritten) == set(LISTINGS)
    harness.assert_matches_world()


@pytest.mark.parametrize("op", ["ProjectArtifacts", "ArtifactKeys"])
def test_given_versions_added_during_every_listing_then_the_sync_completes(harness, world: World, double, op):
    """A job logging a version while each listing pages: only additions, so nothing can be missed."""
    project = world.live_projects()[0].name
    collection = world.live_collections(project)[0]
    for _ in range(30):
        world.add_artifact_version(collection, None)
    daily(harness).sync()
    world.add_artifact_version(collection, None)
    if op == "ArtifactKeys":
        every_sync(harness)

    def add_on_every_listing(request):
        variables = request.variables
        if request.op == op and variables.get("collection") == collection.name and not variables.get("cursor"):
            world.add_artifact_version(collection, None)

    with double.hooked(add_on_every_listing):
        harness.sync()
    harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_given_versions_that_keep_changing_under_the_sweep_then_it_fails_marking_nothing_and_the_next_completes(
    harness, world: World, double
):
    project = world.live_projects()[0].name
    collection = world.live_collections(project)[0]
    for _ in range(30):
        world.add_artifact_version(collection, None)
    daily(harness).sync()
    before = harness.rows("artifacts", live_only=False)

    def delete_on_every_listing(request):
        variables = request.variables
        if request.op == "ArtifactProbe" and variables["collection"] == collection.name and not variables.get("cursor"):
            world.delete_artifact(max(world.live_artifacts(collection), key=lambda a: a.created_at))

    with (
        double.hooked(delete_on_every_listing),
        pytest.raises(Exception, match="kept changing while they were listed"),
    ):
        every_sync(harness).sync()
    assert harness.rows("artifacts", live_only=False).keys() == before.keys()
    assert not harness.deleted("artifacts")
    harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def same_second_runs(world: World, project: str, count: int = 40) -> list:
    """More runs created in one second than the double's page holds (25), before every seeded run."""
    second = EPOCH - timedelta(days=1)
    later = second + timedelta(minutes=5)
    return [
        world.add_run(project, created_at=second, heartbeat_at=later, updated_at=later, state="finished")
        for _ in range(count)
    ]


@pytest.mark.parametrize("op", ["Runs", "RunKeys"])
def test_given_a_run_deleted_while_a_second_longer_than_a_page_is_read_then_no_live_run_is_missed(
    harness, world: World, double, op
):
    project = world.live_projects()[0].name
    block = same_second_runs(world, project)
    if op == "RunKeys":
        daily(harness).sync()

    def delete_inside_the_second(request):  # answered: the first page of the second, read by position
        variables = request.variables
        if request.op == op and variables["project"] == project and variables.get("filters") and not block[0].deleted:
            world.delete_run(block[0])

    with double.hooked(delete_inside_the_second):
        every_sync(harness).sync()
    assert block[0].deleted
    assert set(harness.rows("run_fields")) >= {(f"{world.entity}/{project}", r.name) for r in world.live_runs(project)}
    assert harness.deleted("run_fields") <= {(f"{world.entity}/{project}", block[0].name)}


def test_given_a_second_longer_than_a_page_then_each_of_its_runs_is_emitted_once(harness, world: World, upserted):
    project = world.live_projects()[0].name
    block = same_second_runs(world, project, count=60)
    harness.sync()
    emitted = Counter(row["run_id"] for table, row in upserted if table == "run_fields")
    assert {r.name: emitted[r.name] for r in block} == {r.name: 1 for r in block}
    harness.assert_matches_world()


def test_given_a_sync_killed_inside_a_second_longer_than_a_page_then_the_next_sync_completes_it(
    harness, world: World, double, every_page_commits
):
    project, *others = world.live_projects()
    for other in others:  # one project, so its walk alone makes the requests and the kill lands inside the second
        world.delete_project(other)
    # the run walk's own requests only (history has its kills in test_history): the kill lands among run pages
    harness.configuration = {**harness.configuration, "history": "false", "system_metrics": "false"}
    block = {(f"{world.entity}/{project.name}", r.name) for r in same_second_runs(world, project.name, count=60)}
    sync_killed_after(harness, double, 4)
    assert 0 < len(block & set(harness.rows("run_fields"))) < len(block)
    harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()


@pytest.fixture
def every_page_commits(monkeypatch) -> None:
    """The test world is smaller than `CHECKPOINT_ROWS`: commit every page, so a kill can land after any of them."""
    commit_every(monkeypatch, 1)


@pytest.mark.parametrize("world", [SMALL_WORLD], indirect=True)
@pytest.mark.parametrize("kill_after", range(6))  # every K kills: this incremental sync makes 6 requests or more
def test_given_a_sync_killed_after_k_requests_when_synced_again_then_equal_to_ground_truth(
    harness, world, double, kill_after, every_page_commits
):
    harness.sync()
    world.add_run(world.live_projects()[0].name)
    world.finish_run(next(r for r in world.runs if r.state == "running"))
    world.add_artifact_version(world.live_collections(world.live_projects()[1].name)[0], None)
    sync_killed_after(harness, double, kill_after)
    harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()


@pytest.mark.parametrize("world", [SMALL_WORLD], indirect=True)
@pytest.mark.parametrize("checkpoint_rows", [1, 40])
@pytest.mark.parametrize("kill_after", range(0, 16, 5))  # every K kills: this first sync makes 16 requests or more
def test_given_a_first_sync_killed_after_k_requests_then_the_next_completes_it(
    harness, world, double, kill_after, checkpoint_rows, monkeypatch
):
    commit_every(monkeypatch, checkpoint_rows)
    sync_killed_after(harness, double, kill_after)
    harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_pages_commit_once_checkpoint_rows_wait_and_the_sync_end_commits_the_rest(harness, world, monkeypatch):
    commit_every(monkeypatch, 40)
    # history and system metrics items no larger than a page
    monkeypatch.setattr("wandb_connector.tables.run_history.ROWS_PER_REQUEST", 24)
    monkeypatch.setattr("wandb_connector.tables.run_system_metrics.SAMPLES_PER_REQUEST", 24)
    monkeypatch.setattr("wandb_connector.value_buckets.LEAVES_PER_ITEM", 1)  # a run's config or summary an item
    widest = max(len(list(leaves(d or {}))) for r in world.runs for d in (r.config, r.summary))
    upserted, commits = [], []
    upsert, checkpoint = Operations.upsert, Operations.checkpoint
    monkeypatch.setattr(Operations, "upsert", lambda table, data: (upserted.append(table), upsert(table, data))[1])
    monkeypatch.setattr(Operations, "checkpoint", lambda state: (commits.append(len(upserted)), checkpoint(state))[1])
    harness.sync()
    gathered = [after - before for before, after in zip([0, *commits], commits, strict=False)]
    assert commits[-1] == len(upserted) == harness.results[-1]["Upserts"]
    beyond = max(25, widest)  # at most one item beyond: a page (25 here), or one run's keys
    assert all(40 <= rows < 40 + beyond for rows in gathered[:-1]), gathered
    assert len(commits) >= -(-len(upserted) // (40 + 24)) >= 2, gathered
    harness.assert_matches_world()


def test_given_more_open_runs_than_the_state_keeps_then_the_overflow_is_reread_and_none_is_missed(
    harness, world, monkeypatch
):
    monkeypatch.setattr("wandb_connector.state.OPEN_CAP", 2)
    daily(harness).sync()
    project = world.live_projects()[0].name
    open_runs = [r for r in world.live_runs(project) if r.state in ("running", "pending")]
    assert len(open_runs) > 2
    open_names = as_version_5(harness.state)["projects"][project]["run_fields"]["open"]
    assert len(open_names["names"]) == 2 and open_names["overflow_since"]
    for run in open_runs:
        world.edit_run(run, state="crashed")
    harness.sync()
    harness.assert_matches_world()


def test_given_project_filters_then_only_matching_projects_sync_and_new_matches_are_picked_up(harness, world):
    names = [p.name for p in world.live_projects()]
    harness.configuration = {**harness.configuration, "projects": "phishing-*, llm-*", "exclude_projects": "llm-*"}
    harness.sync()
    assert {k[0] for k in harness.rows("projects")} == {f"{world.entity}/{names[0]}"}
    assert {k[0] for k in harness.rows("run_fields")} == {f"{world.entity}/{names[0]}"}
    world.add_project("phishing-v2")
    world.add_run("phishing-v2")
    harness.sync()
    assert f"{world.entity}/phishing-v2" in {k[0] for k in harness.rows("run_fields")}


def test_given_the_default_interval_then_only_the_first_sync_of_a_day_reconciles(harness, world, double):
    harness.sync()
    reconciled = harness.state["reconciled_at"]
    double.reset_log()
    harness.sync()
    assert harness.state["reconciled_at"] == reconciled and double.count("RunKeys") == 0
    harness.configuration = {**harness.configuration, "reconcile_interval_hours": "0"}
    counts = harness.sync()
    assert harness.state["reconciled_at"] > reconciled and double.count("RunKeys") >= len(world.live_projects())
    assert counts["Truncates"] == 0, "a reconcile deletes what is gone, it never truncates"


def test_given_a_state_from_the_first_version_then_it_is_upgraded_and_the_sync_completes(harness, world, double):
    harness.directory.joinpath("files").mkdir(parents=True)
    old = {"version": 1, "tables": {"run_fields": {"count": 7, "max_created_at": "2026-01-01T00:00:00+00:00"}}}
    harness.directory.joinpath("files", "state.json").write_text(json.dumps(old))
    counts = harness.sync()
    assert harness.state["version"] == STATE_VERSION and counts["Truncates"] == len(swept_tables())
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_given_a_state_from_an_unknown_version_then_the_sync_fails_saying_to_resync(harness):
    harness.directory.joinpath("files").mkdir(parents=True)
    harness.directory.joinpath("files", "state.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(Exception, match="re-sync the connection"):
        harness.sync()
