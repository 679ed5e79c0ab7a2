"""Rows W&B hides from the key: its offset pages count them but leave them out, so a page can come back short or
empty with `hasNextPage: true`. Every visible row still lands once, nothing visible is swept out, and a listing
costs about the pages its rows and the hidden stretch fill, never a request per second of `createdAt`."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from devkit.wandb_double import WandbDouble
from devkit.wandb_double.dataset import Run, World
from tests.harness import Harness, daily, every_sync
from wandb_connector.errors import SourceError
from wandb_connector.paging import EMPTY_PAGES_ALLOWED, PAGES_PER_NEEDED

PAGE = 25  # the double's page cap in these tests (conftest)
BLOCK = 60  # hidden rows: longer than two pages


@pytest.fixture
def harness(tmp_path, double: WandbDouble, configuration: dict) -> Harness:
    return daily(Harness(tmp_path / "sync", configuration, double))


def hide_runs(world: World, project: str, where: str, count: int = BLOCK) -> list[Run]:
    """`count` runs the key cannot see, one a second, before, among or after the project's visible runs."""
    runs = sorted(world.live_runs(project), key=lambda r: r.created_at)
    first = {
        "start": runs[0].created_at - timedelta(hours=2),
        "middle": runs[len(runs) // 2].created_at,
        "end": runs[-1].created_at + timedelta(hours=2),
    }[where]
    block = []
    for i in range(count):
        at = first + timedelta(seconds=i)
        block.append(world.add_run(project, created_at=at, heartbeat_at=at, updated_at=at, state="finished"))
    world.hide(*block)
    return block


def run_requests(double: WandbDouble, project: str, op: str = "Runs") -> int:
    return sum(1 for r in double.requests if r.op == op and r.variables.get("project") == project)


def visible_rows(harness: Harness) -> int:
    return sum(len(rows) for rows in harness.expected().values())


def within_pages(requests: int, rows: int) -> None:
    """About as many requests as the pages the rows (hidden ones included) fill: each stretch of hidden rows costs
    one request more to return to reading by position."""
    pages = math.ceil(rows / PAGE)
    assert requests <= 2 * pages + 2, f"{requests} requests for {rows} rows in pages of {PAGE}"


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_given_a_hidden_block_of_runs_then_first_incremental_and_reconciling_syncs_land_every_visible_run_once(
    harness, world, double, where
):
    project = world.live_projects()[0].name
    hide_runs(world, project, where)
    slots = len(world.live_runs(project))

    counts = harness.sync()
    assert counts["Upserts"] == visible_rows(harness)
    harness.assert_matches_world()
    within_pages(run_requests(double, project), slots)

    double.reset_log()
    newest = max(r.created_at for r in world.live_runs(project))
    new = [world.add_run(project, created_at=newest + timedelta(hours=1, seconds=i)) for i in range(3)]
    later = hide_runs(world, project, "end")
    new += [world.add_run(project, created_at=later[-1].created_at + timedelta(seconds=1))]
    harness.sync()
    harness.assert_matches_world()
    assert {(f"{world.entity}/{project}", r.name) for r in new} <= set(harness.rows("run_fields"))
    within_pages(run_requests(double, project), slots + len(new) + len(later))

    double.reset_log()
    every_sync(harness).sync()
    harness.assert_matches_world()
    assert harness.deleted("run_fields") == set()
    within_pages(run_requests(double, project, "RunKeys"), len(world.live_runs(project)))


def test_given_a_hidden_block_inside_a_second_longer_than_a_page_then_every_visible_run_of_it_lands(harness, world):
    project = world.live_projects()[0].name
    at = min(r.created_at for r in world.live_runs(project)) - timedelta(days=1)
    second = [world.add_run(project, created_at=at, state="finished") for _ in range(3 * PAGE)]
    world.hide(*second[PAGE // 2 : PAGE // 2 + 2 * PAGE])

    harness.sync()
    harness.assert_matches_world()
    every_sync(harness).sync()
    assert harness.deleted("run_fields") == set()
    harness.assert_matches_world()


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_given_hidden_artifact_versions_then_every_visible_version_lands_once_and_none_is_swept(
    harness, world, double, where
):
    collection = max(world.collections, key=lambda c: len(world.live_artifacts(c)))
    for _ in range(BLOCK + 10):
        world.add_artifact_version(collection, created_by=None)
    versions = sorted(world.live_artifacts(collection), key=lambda a: a.version_index)
    start = {"start": 0, "middle": len(versions) // 2 - BLOCK // 2, "end": len(versions) - BLOCK}[where]
    world.hide(*versions[start : start + BLOCK])

    counts = harness.sync()
    assert counts["Upserts"] == visible_rows(harness)
    harness.assert_matches_world()
    every_sync(harness).sync()
    harness.assert_matches_world()
    assert harness.deleted("artifacts") == set()
    listed = sum(1 for r in double.requests if r.variables.get("collection") == collection.name)
    # each listing is read twice (its totalCount counts the hidden versions), in two syncs and the sweep
    within_pages(listed, 2 * 3 * len(versions))


@pytest.mark.parametrize("where", ["start", "end"])
def test_given_hidden_projects_then_every_visible_project_syncs_and_none_is_swept(harness, world, where):
    hidden = [world.add_project(f"private-{i:02d}") for i in range(BLOCK)]
    world.hide(*hidden)
    if where == "start":
        world.projects = [*hidden, *(p for p in world.projects if not p.hidden)]

    counts = harness.sync()
    assert counts["Upserts"] == visible_rows(harness)
    harness.assert_matches_world()
    every_sync(harness).sync()
    harness.assert_matches_world()
    assert harness.deleted("projects") == set()


def test_given_a_run_and_a_version_the_key_loses_sight_of_then_the_reconcile_marks_them_deleted_until_seen_again(
    harness, world
):
    """Hidden is not deleted in W&B, but the warehouse mirrors what the key can read: the row stays, marked
    `_fivetran_deleted`, and the reconcile after the key sees it again marks it live with its data."""
    harness.sync()
    run = world.live_runs(world.live_projects()[0].name)[3]
    version = next(a for a in world.artifacts if not a.deleted)
    world.hide(run, version)
    every_sync(harness).sync()
    run_key, version_key = (f"{world.entity}/{run.project}", run.name), (version.id,)
    assert harness.deleted("run_fields") == {run_key}
    assert harness.deleted("artifacts") == {version_key}

    world.hide(run, version, hidden=False)
    harness.sync()
    harness.assert_matches_world()
    assert harness.deleted("run_fields") == set() and harness.deleted("artifacts") == set()


@pytest.mark.parametrize("listing", ["runs", "versions"])
def test_given_a_server_that_keeps_sending_empty_pages_then_the_sync_fails_naming_the_project(
    tmp_path, world, configuration, listing
):
    """A listing that W&B keeps answering with nothing visible but `hasNextPage: true` stops at its bound."""
    project = world.live_projects()[0].name
    endless = PAGES_PER_NEEDED * (1 + len(world.live_runs(project))) + EMPTY_PAGES_ALLOWED + 10
    if listing == "runs":
        hide_runs(world, project, "end", count=endless)
        what = f"the runs of {world.entity}/{project}"
    else:
        collection = next(c for c in world.collections if c.project == project)
        hidden = [world.add_artifact_version(collection, created_by=None) for _ in range(endless)]
        world.hide(*hidden, *world.live_artifacts(collection))
        what = f"the versions of artifact {world.entity}/{project}/{collection.name}"
    with WandbDouble(world, page_cap=1) as double:
        harness = Harness(tmp_path / "sync", {**configuration, "base_url": double.base_url}, double)
        with pytest.raises(Exception) as raised:
            harness.sync()
    cause = raised.value.__cause__ or raised.value
    assert isinstance(cause, SourceError), repr(cause)
    assert f"W&B kept sending pages of {what} that held nothing new" in str(cause), str(cause)


def test_given_a_hidden_run_deleted_while_the_sweep_crosses_hidden_runs_then_no_visible_run_is_swept(harness, world):
    """Through hidden rows the listing follows W&B's offset cursor, which a delete shifts; the sweep reads such a
    listing twice and marks the union live, so a live run is never marked deleted."""
    project = world.live_projects()[0].name
    hidden = hide_runs(world, project, "start", count=PAGE)
    harness.sync()

    def delete_a_hidden_run(request):
        if request.op == "RunKeys" and not request.variables.get("cursor") and not hidden[0].deleted:
            world.delete_run(hidden[0])

    with harness.double.hooked(delete_a_hidden_run):
        every_sync(harness).sync()
    assert hidden[0].deleted
    assert harness.deleted("run_fields") == set()
    harness.assert_matches_world()


def test_given_sparse_visible_runs_among_hidden_ones_then_each_costs_a_few_requests_and_all_land(
    tmp_path, world, configuration
):
    """Every page brings a visible run, each followed by more hidden ones than a page holds: well within the bound,
    at about two requests a visible run (its page, and the page of hidden runs after it)."""
    project = world.live_projects()[0].name
    at = max(r.created_at for r in world.live_runs(project)) + timedelta(hours=1)
    sparse = 40
    for _ in range(sparse):
        world.add_run(project, created_at=at, heartbeat_at=at, updated_at=at, state="finished")
        hide_runs_at(world, project, at + timedelta(seconds=1), 6)
        at += timedelta(seconds=100)
    with WandbDouble(world, page_cap=5) as double:
        harness = Harness(tmp_path / "sync", {**configuration, "base_url": double.base_url}, double)
        harness.sync()
        harness.assert_matches_world()
        pages = sum(
            1 for r in double.requests if r.op in ("Runs", "ProjectFirstPages") and r.variables["project"] == project
        )
    assert pages <= 3 * (sparse + len(world.live_runs(project)) // 5 + 2), pages


def hide_runs_at(world: World, project: str, first, count: int) -> list[Run]:
    block = [world.add_run(project, created_at=first + timedelta(seconds=i), state="finished") for i in range(count)]
    world.hide(*block)
    return block
