"""artifact_lineage: every run → version edge, used and logged, against the seeded chain and what changes after."""

from __future__ import annotations

import duckdb
import pytest

from devkit.expected import lineage_rows
from devkit.wandb_double import WandbDouble
from devkit.wandb_double.dataset import LINEAGE, ArtifactVersion, World
from scripts.demo import BEST_MODEL_SOURCES
from tests.harness import Harness, daily, every_sync

RAW, MODEL = LINEAGE[0][0], LINEAGE[3][0]


@pytest.fixture
def harness(tmp_path, double: WandbDouble, configuration: dict) -> Harness:
    return Harness(tmp_path / "sync", configuration, double)


def versions(world: World, collection: str | None = None) -> list[ArtifactVersion]:
    return [
        a
        for p in world.live_projects()
        for c in world.live_collections(p.name)
        if collection in (None, c.name)
        for a in world.live_artifacts(c)
    ]


def test_given_the_seeded_chain_then_every_edge_of_both_directions_lands_and_nothing_else(harness, world):
    harness.sync()
    edges = lineage_rows(world)
    assert harness.rows("artifact_lineage") == edges
    assert harness.state["tables"]["artifact_lineage"]["count"] == len(edges)
    directions = {key[3] for key in edges}
    across = [row for row in edges.values() if row["project_id"] != row["artifact_project_id"]]
    trained = [a for a in versions(world, LINEAGE[2][0]) if len(a.used_by) >= 2]
    evaluated = [a for a in versions(world, MODEL) if len(a.used_by) >= 2]
    assert directions == {"input", "output"} and across and trained and evaluated, "the chain has no branches"


@pytest.mark.parametrize("bumps", [False, True], ids=["no-timestamp-moves", "timestamps-move"])
def test_given_new_consumers_versions_and_deletes_then_the_next_sync_holds_exactly_every_edge(
    harness, world: World, bumps: bool, upserted
):
    world.use_bumps_run = world.use_bumps_version = bumps
    daily(harness).sync()
    before = set(harness.rows("artifact_lineage"))
    first, second = (p.name for p in world.live_projects()[:2])
    old = next(a for a in versions(world, RAW) if a.collection.project == first)
    finished = next(r for r in world.live_runs(first) if r.state == "finished" and (first, r.name) not in old.used_by)
    world.use_artifact(finished, old)  # a finished run starts using an old version
    newcomer = world.add_run(second, job_type="ingest")
    world.use_artifact(newcomer, old)  # from another project
    logged = world.add_artifact_version(old.collection, (second, newcomer.name))
    consumer = next(a for a in versions(world) if a.used_by and a.collection.project == first and a is not old)
    gone_run = world.run(*consumer.used_by[0])
    world.delete_run(gone_run)
    gone_version = next(a for a in versions(world, MODEL) if a.used_by)
    world.delete_artifact(gone_version)
    upserted.clear()

    harness.sync()
    after = harness.rows("artifact_lineage")
    assert after == lineage_rows(world)
    assert harness.rows("artifacts") == harness.expected()["artifacts"]
    assert harness.state["tables"]["artifact_lineage"]["count"] == len(after)
    added = set(after) - before
    assert {(f"{world.entity}/{first}", finished.name, old.id, "input")} <= added
    assert {(f"{world.entity}/{second}", newcomer.name, old.id, "input")} <= added
    assert {(f"{world.entity}/{second}", newcomer.name, logged.id, "output")} <= added
    assert [row for table, row in upserted if table == "artifact_lineage"] and all(
        (row["project_id"], row["run_id"], row["artifact_id"], row["direction"]) in added
        for table, row in upserted
        if table == "artifact_lineage"
    ), "only new edges are emitted"
    deleted = harness.deleted("artifact_lineage")
    assert any(key[1] == gone_run.name for key in deleted)
    assert any(key[2] == gone_version.id for key in deleted)
    assert (gone_version.id,) in harness.deleted("artifacts")


@pytest.mark.parametrize("collection_bump", [True, False], ids=["collection-bumped", "collection-not-bumped"])
@pytest.mark.parametrize("version_bump", [True, False], ids=["versions-bumped", "versions-not-bumped"])
def test_given_an_alias_moved_then_the_next_sync_shows_it_on_exactly_one_version(
    harness, world: World, collection_bump: bool, version_bump: bool
):
    world.alias_move_bumps_collection, world.alias_move_bumps_versions = collection_bump, version_bump
    daily(harness).sync()
    model = next(a for a in versions(world, MODEL) if "production" in a.aliases)
    target = next(a for a in world.live_artifacts(model.collection) if a is not model)
    world.move_alias("production", target)
    harness.sync()
    rows = harness.rows("artifacts")
    holding = [key for key, row in rows.items() if "production" in row["aliases"] and row["collection"] == MODEL]
    assert (target.id,) in holding and (model.id,) not in holding
    assert len([k for k in holding if rows[k]["project_id"].endswith(model.collection.project)]) == 1
    harness.assert_matches_world()


def test_given_a_version_used_by_more_runs_than_a_page_then_every_edge_lands(harness, world: World, double):
    project = world.live_projects()[0].name
    popular = versions(world, RAW)[0]
    for run in world.live_runs(project)[:12]:
        world.use_artifact(run, popular)
    double.page_cap = 5
    harness.sync()
    assert double.count("ArtifactUsedBy") >= 1
    assert harness.rows("artifact_lineage") == lineage_rows(world)


def test_given_nothing_new_then_lineage_costs_no_request_and_no_row(harness, world: World):
    harness.sync()
    harness.double.reset_log()
    counts = harness.sync()
    assert harness.double.count("ArtifactUsedBy") == 0 and harness.double.count("ProjectArtifacts") == 0
    assert harness.double.count() <= 3 * len(world.live_projects())
    assert counts["Upserts"] == 0 and counts["Deletes"] == 0


def test_given_lineage_switched_off_then_on_then_only_what_changed_meanwhile_is_emitted(harness, world, upserted):
    harness.configuration = {**daily(harness).configuration, "lineage": "false"}
    harness.sync()
    assert harness.rows("artifact_lineage") == {}
    harness.configuration = {**harness.configuration, "lineage": "true"}
    harness.sync()
    assert harness.rows("artifact_lineage") == lineage_rows(world)
    upserted.clear()
    harness.sync()
    assert not [row for table, row in upserted if table == "artifact_lineage"]


def test_given_deleted_versions_and_projects_then_the_reconcile_prunes_their_edges(harness, world: World):
    every_sync(harness).sync()
    first, second = world.live_projects()[:2]
    world.delete_project(first)
    world.delete_artifact(next(a for a in versions(world) if a.used_by and a.collection.project == second.name))
    harness.sync()
    assert harness.rows("artifact_lineage") == lineage_rows(world)
    assert harness.state["tables"]["artifact_lineage"]["count"] == len(lineage_rows(world))


def best_model_sources(world: World) -> set[str]:
    """The dataset's own answer: the raw dataset versions upstream of the model its eval runs scored best."""
    scores = {}
    for model in versions(world, MODEL):
        runs = [world.run(*ref) for ref in model.used_by]
        scored = [r.summary["eval/f1"] for r in runs if r and r.job_type == "eval" and r.summary]
        if scored:
            scores[model.id] = max(scored)
    best = max(scores, key=scores.get)
    live = versions(world)
    chain, frontier = set(), [a for a in live if a.id == best]
    while frontier:
        version = frontier.pop()
        chain.add(version.id)
        maker = version.created_by
        frontier += [a for a in live if maker and maker in a.used_by and a.id not in chain]
    return {f"{a.collection.name}:v{a.version_index}" for a in live if a.id in chain and a.collection.name == RAW}


def test_which_dataset_version_produced_the_best_model_is_one_query_on_the_warehouse(harness, world: World):
    harness.sync()
    with duckdb.connect(str(harness.database), read_only=True) as con:
        answer = {name for (name,) in con.execute(BEST_MODEL_SOURCES, [RAW]).fetchall()}
    assert answer == best_model_sources(world) and answer


def assert_lineage_exact(harness: Harness, world: World) -> None:
    expected = lineage_rows(world)
    assert harness.rows("artifact_lineage") == expected
    assert harness.state["tables"]["artifact_lineage"]["count"] == len(expected)


@pytest.mark.parametrize("between", ["reconcile", "incremental"])
def test_given_a_project_renamed_then_its_edges_onto_other_projects_runs_survive_the_reconcile(
    harness, world: World, between: str
):
    daily(harness).sync()
    world.rename_project(world.live_projects()[0], "renamed-project")
    (every_sync(harness) if between == "reconcile" else harness).sync()
    every_sync(harness).sync()
    assert_lineage_exact(harness, world)
    assert any(row["artifact_project_id"].endswith("/renamed-project") for row in lineage_rows(world).values())


@pytest.mark.parametrize("how", ["deleted", "hidden"])
def test_given_a_collection_gone_while_lineage_was_off_then_switching_it_on_deletes_its_edges(harness, world, how):
    daily(harness).sync()
    harness.configuration = {**harness.configuration, "lineage": "false"}
    harness.sync()
    collection = next(a.collection for a in versions(world, MODEL) if a.used_by)
    if how == "deleted":
        collection.deleted = True
    else:
        world.hide(collection)
    harness.sync()
    harness.configuration = {**harness.configuration, "lineage": "true"}
    harness.sync()
    assert_lineage_exact(harness, world)


def test_given_versions_hidden_shown_and_hidden_again_then_every_count_stays_exact(harness, world: World):
    daily(harness).sync()
    newest = {}
    for version in versions(world):
        project = version.collection.project
        newest[project] = max(newest.get(project, version), version, key=lambda a: a.created_at)
    older = [a for a in versions(world) if a is not newest[a.collection.project]]
    collection = versions(world, RAW)[0].collection
    for hidden in (True, False, True):
        world.hide(*older, hidden=hidden)
        world.hide(collection, hidden=not hidden)
        harness.sync()
        harness.assert_matches_world()
        harness.assert_counts_match_world()


def test_given_one_consumer_deleted_and_another_added_then_the_reconcile_brings_the_swap(harness, world: World):
    """The probe counts a version's users; a deletion and an addition in one interval leave the count as it was,
    and with no timestamp moving the swap waits for the reconcile (README: Incremental syncs)."""
    world.use_bumps_run = world.use_bumps_version = False
    daily(harness).sync()
    version = next(a for a in versions(world) if a.used_by)
    gone = world.run(*version.used_by[0])
    newcomer = next(r for r in world.live_runs(gone.project) if (r.project, r.name) not in version.used_by)
    world.delete_run(gone)
    world.use_artifact(newcomer, version)
    every_sync(harness).sync()
    assert_lineage_exact(harness, world)
