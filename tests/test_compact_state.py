"""The state stays small at any size of the entity: one packed record per run shared by every walk, projects kept
packed once driven, checkpoints spaced so they cost a small share of the sync; a state from before upgrades in place
without writing a row again, and a sync killed anywhere still resumes exact."""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime

import pytest

from devkit.wandb_double import WandbDouble
from tests.harness import Harness, as_version_5, commit_every, daily, every_sync, sync_killed_after
from tests.test_next_sync import change_everything
from wandb_connector import state as state_module
from wandb_connector import sync as driver
from wandb_connector.run_records import pack_records, unpack_records
from wandb_connector.state import RUN_RECORDS, RUNS, STATE_VERSION, OpenKeys, StateError, SyncState
from wandb_connector.tables.run_fields import RunsState


@pytest.fixture
def harness(tmp_path, double: WandbDouble, configuration: dict) -> Harness:
    return daily(Harness(tmp_path / "sync", configuration, double))


ATOMS = [
    None,
    True,
    False,
    0,
    -7,
    2**62,
    -(2**70),
    1767627492.5,
    0.1,
    math.pi,
    -0.0,
    "0e5e92cb8e1eb18b",
    "0E5E",
    "abc",
    "",
    "2026-01-05T18:40:04",
    "2026-01-05T18:40:04Z",
    "2026-02-30T00:00:00",
    "é🙂",
]


def test_run_records_read_back_exactly_whatever_their_atoms():
    walks = {
        "a": {f"run{i}": ATOMS[i:] + ATOMS[:i] for i in range(len(ATOMS))},
        "b": {"run3": [], "only-here": [1, "ff", 2.5], "run1": ["ff00", 1]},
        "c/open": {"run2": []},
        "empty": {},
    }
    again = unpack_records(pack_records(walks))
    assert again == walks
    assert {name: [repr(atom) for atom in row] for name, row in again["a"].items()} == {
        name: [repr(atom) for atom in row] for name, row in walks["a"].items()
    }, "an atom read back as an equal atom of another type or sign"


@pytest.mark.parametrize("damage", [lambda s: s[:-5], lambda s: "!" + s[1:], lambda s: "not base85 at all ~~~"])
def test_given_damaged_run_records_then_the_sync_says_re_sync(damage):
    packed = pack_records({"run_fields": {"r1": ["00ff00ff"], "r2": ["11ff00ff"]}})
    state = SyncState.from_dict({"version": STATE_VERSION, "projects": {"p": {RUN_RECORDS: damage(packed)}}})
    with pytest.raises(StateError, match="re-sync"):
        state.project("p")


def per_run_part(old: dict) -> int:
    """The bytes a version-5 state spends per run: each walk's records, the run names and digests."""
    size = 0
    for walks in old["projects"].values():
        size += sum(len(json.dumps(walk.get(RUNS, {}))) for walk in walks.values())
        size += len(walks["run_fields"]["names"]) + len(walks["run_fields"]["rows"])
    return size


def test_given_a_state_of_version_5_then_it_is_upgraded_in_place_and_no_row_is_written_again(
    harness, world, monkeypatch
):
    """A state the previous version wrote (per-walk records, run digests in base64, config and summary digests of
    buckets of 8 keys): the next sync writes nothing that did not change, the one after a change is exact, and the
    state it saves is the packed one."""
    monkeypatch.setattr("wandb_connector.value_buckets.LEAVES_PER_BUCKET", 8)
    daily(harness).sync()
    monkeypatch.undo()
    old = as_version_5(harness.state)
    assert any(len(entry[0]) > 8 for entry in next(iter(old["projects"].values()))["run_config"][RUNS].values())
    harness.directory.joinpath("files", "state.json").write_text(json.dumps(old))

    quiet = harness.sync()

    assert quiet["Upserts"] == quiet["Deletes"] == 0
    assert harness.state["version"] == STATE_VERSION
    assert all(RUN_RECORDS in walks for walks in harness.state["projects"].values())
    packed = sum(len(walks[RUN_RECORDS]) for walks in harness.state["projects"].values())
    assert packed < per_run_part(old) / 2
    change_everything(world)
    harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()


@pytest.mark.parametrize("kill_after", [2, 6])
def test_given_an_upgrading_sync_killed_after_k_requests_then_the_next_is_exact(
    harness, world, double, kill_after, monkeypatch
):
    commit_every(monkeypatch, 1)
    daily(harness).sync()
    harness.directory.joinpath("files", "state.json").write_text(json.dumps(as_version_5(harness.state)))
    change_everything(world)
    sync_killed_after(harness, double, kill_after)
    harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()


MANY_PROJECTS = {"seed": 5, "projects": 7, "runs_per_project": 4, "artifact_versions": 8, "history_steps": 2}


@pytest.mark.parametrize("world", [MANY_PROJECTS], indirect=True)
def test_the_state_holds_a_few_projects_unpacked_at_any_checkpoint(harness, world, monkeypatch):
    """Projects are set up a few ahead of their turn and packed once driven: memory for the state does not grow
    with the number of projects."""
    commit_every(monkeypatch, 1)
    unpacked: list[int] = []
    to_dict = SyncState.to_dict

    def counting(self: SyncState) -> dict:
        unpacked.append(sum(1 for walks in self.projects.values() if walks and RUN_RECORDS not in walks))
        return to_dict(self)

    monkeypatch.setattr(SyncState, "to_dict", counting)
    for _ in range(2):  # a first sync, then one that starts from every project saved packed
        unpacked.clear()
        for project in world.live_projects():
            world.add_run(project.name)
        harness.sync()
        assert len(unpacked) > len(world.projects) and max(unpacked) <= driver.FETCH_WORKERS
        assert unpacked[-1] == 0
        harness.assert_matches_world()


@pytest.mark.parametrize("world", [MANY_PROJECTS], indirect=True)
def test_a_reconcile_packs_each_project_once_after_its_drive_and_reads_the_rest_without_packing(
    harness, world, monkeypatch
):
    """A reconcile reads every project's walks to sweep them and again to count their rows: the sweep changes them
    (packed once more), the count only reads (the saved form is put back). Nothing is duplicated or lost."""
    harness.sync()
    every_sync(harness)
    for project in world.live_projects()[:3]:
        world.delete_run(world.live_runs(project.name)[0])
        world.add_run(project.name)
    packed: list[int] = []
    original = state_module.pack_records

    def counting(records: dict) -> str:
        packed.append(len(records))
        return original(records)

    monkeypatch.setattr(state_module, "pack_records", counting)
    harness.sync()
    assert len(packed) <= 2 * len(world.projects), f"{len(packed)} packings for {len(world.projects)} projects"
    saved = harness.state["projects"]
    assert all(RUN_RECORDS in walks for walks in saved.values())
    assert not [
        name for walks in saved.values() for name, walk in walks.items() if isinstance(walk, dict) and RUNS in walk
    ]
    assert not [
        name
        for walks in saved.values()
        for name, walk in walks.items()
        if isinstance(walk, dict) and (walk.get("open") or {}).get("names")
    ], "open rows are saved in the packed record only"
    harness.assert_matches_world()
    daily(harness)
    world.add_run(world.live_projects()[-1].name)
    harness.sync()
    harness.assert_matches_world()


def test_reading_a_project_puts_its_saved_form_back_as_it_was():
    """Found by review: unpacking wrote a walk's open rows into the saved form it shared a dict with."""
    state = SyncState()
    opened = OpenKeys(names=["a"])
    state.projects["p"] = {
        "run_fields": RunsState(runs={"a": [], "b": []}, open=opened, read_at=datetime(2024, 1, 1, tzinfo=UTC))
    }
    state.seal("p")
    before = copy.deepcopy(state.projects["p"])
    with state.reading("p"):
        walk = state.walk("p", "run_fields", RunsState)
        assert (set(walk.runs), walk.open.names) == ({"a", "b"}, ["a"])
    assert state.projects["p"] == before
    assert state.walk("p", "run_fields", RunsState).open.names == ["a"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_checkpoints_wait_until_they_cost_a_small_share_of_the_sync_and_never_beyond_the_cap(monkeypatch):
    """A checkpoint that took 1 s waits 19 s (5 %) before the next, unless ten times `CHECKPOINT_ROWS` wait."""
    clock = Clock()
    monkeypatch.setattr(driver.time, "monotonic", clock)
    cadence, rows = driver.Cadence(), driver.CHECKPOINT_ROWS
    cadence.add(rows - 1)
    assert not cadence.due()
    cadence.add()
    assert cadence.due()
    with cadence.committing():
        clock.now += 1.0
    assert (cadence.cost, cadence.pending) == (1.0, 0)
    clock.now += 18.0
    cadence.add(rows)
    assert not cadence.due(), "18 s after a checkpoint of 1 s, not 19"
    clock.now += 1.0
    assert cadence.due()
    cadence.pending = rows - 1
    assert not cadence.due(), "19 s after, but fewer than CHECKPOINT_ROWS waiting"
    cadence.add()
    assert cadence.due()
    with cadence.committing():
        clock.now += 1.0
    clock.now += 0.1
    cadence.add(rows * driver.CHECKPOINT_ROWS_CAP - 1)
    assert not cadence.due()
    cadence.add()
    assert cadence.due(), "the cap commits however recent the last checkpoint"
