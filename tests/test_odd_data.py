"""Odd data does not break a sync: null users and tags, runs without config or summary, very long names, unicode,
empty projects, a project renamed between syncs."""

from __future__ import annotations

import pytest

from devkit.wandb_double import WandbDouble
from devkit.wandb_double.dataset import World
from tests.harness import Harness


@pytest.fixture
def odd(world: World) -> World:
    project = world.live_projects()[0].name
    runs = world.live_runs(project)
    runs[0].user = None
    runs[1].tags = None
    runs[2].tags = []
    runs[3].summary = None
    runs[4].config = None
    runs[5].summary = {}
    runs[6].display_name = "very-long-" + "x" * 4000
    runs[6].notes = "n" * 20000
    runs[7].display_name = "实验-β-🚀 ünïcödé"
    runs[7].tags = ["标签", "tag with spaces", "é" * 300]
    runs[7].group = "グループ"
    runs[8].state = "preempting"
    world.add_project("empty-project")
    return world


@pytest.fixture
def harness(tmp_path, odd: World, double: WandbDouble, configuration: dict) -> Harness:
    return Harness(tmp_path / "sync", {**configuration, "reconcile_interval_hours": "0"}, double)


def test_given_odd_runs_and_an_empty_project_then_the_sync_lands_them_all(harness, odd):
    harness.sync()
    harness.assert_matches_world()
    assert (f"{odd.entity}/empty-project",) in harness.rows("projects")


def test_given_a_project_renamed_between_syncs_then_rows_move_to_the_new_name(harness, odd):
    harness.sync()
    project = odd.live_projects()[1]
    old = project.name
    runs = {(f"{odd.entity}/{old}", r.name) for r in odd.live_runs(old)}
    assert runs
    odd.rename_project(project, "renamed-project")
    harness.sync()
    harness.assert_matches_world()
    assert harness.deleted("run_fields") == runs
    assert harness.deleted("projects") == {(f"{odd.entity}/{old}",)}
    harness.assert_counts_match_world()
