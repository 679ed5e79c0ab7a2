"""Run history and system metrics: every step lands once, incrementally per run, through kills, resumes and
deletes, with the request log showing what each sync read."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from devkit.expected import history_rows
from devkit.wandb_double import WandbDouble, build_world
from devkit.wandb_double.dataset import HistorySegment, Run, World
from tests.harness import Harness, commit_every, daily, every_sync, sync_killed_after
from tests.test_history_edges import add_run_with_segments
from wandb_connector.errors import ConfigurationError
from wandb_connector.registry import validate_configuration
from wandb_connector.tables import run_history, run_system_metrics
from wandb_connector.walker import CHANGE_SKEW

HISTORY_OPS = ("HistoryPages", "SystemEvents")


@pytest.fixture
def world() -> World:
    """Two projects of ordinary runs, plus one of every kind of history: long and still running, sparse with
    steps far apart, resumed with steps rewritten, and empty."""
    world = build_world(seed=5, projects=2, runs_per_project=8, artifact_versions=4, history_steps=12)
    project = world.live_projects()[0].name
    long = world.add_run(project, state="running")
    long.segments = [HistorySegment(0, 2_500, long.seed, long.created_at.timestamp(), total=5_000)]
    long.system_samples = 900
    long.gpu_count = 4
    strided = world.add_run(project, state="finished")
    strided.segments = [HistorySegment(1_000, 300, strided.seed, strided.created_at.timestamp(), stride=10)]
    resumed = world.add_run(project, state="finished")
    resumed.segments = [HistorySegment(0, 40, resumed.seed, resumed.created_at.timestamp(), total=40)]
    world.resume_run(resumed, from_step=25, steps=5)
    world.finish_run(resumed)
    world.add_run(project, state="pending", segments=[], system_samples=0)
    newest = max(r.created_at for r in world.runs[:-4])
    for minutes, run in enumerate(world.runs[-4:], 1):  # created in the past, so no later sync sees them change
        run.created_at = newest + timedelta(minutes=minutes)
        run.heartbeat_at = run.updated_at = run.created_at + timedelta(minutes=30)
        if run.segments:
            run.segments[0].started = run.created_at.timestamp()
    for run in world.runs:
        if run.state not in ("running", "pending"):
            world.export_history(run)
    return world


@pytest.fixture
def harness(tmp_path, double: WandbDouble, configuration: dict) -> Harness:
    return daily(Harness(tmp_path / "sync", configuration, double))


def history_requests(double: WandbDouble) -> list:
    return [r for r in double.requests if r.op in HISTORY_OPS]


def windows(double: WandbDouble, run: Run) -> list[tuple[int, int]]:
    """The step windows the sync asked for `run` ([minStep, maxStep)), in order."""
    asked = []
    for request in double.requests:
        if request.op == "HistoryPages":
            for i in range(len([k for k in request.variables if k.startswith("run")])):
                if request.variables[f"run{i}"] == run.name:
                    asked.append((request.variables[f"min{i}"], request.variables[f"max{i}"]))
    return asked


def long_run(world: World) -> Run:
    return max(world.runs, key=lambda r: r.history_line_count)


def test_given_every_kind_of_run_then_history_and_system_metrics_equal_the_dataset(harness, world):
    harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()
    landed = harness.rows("run_history")
    metrics = [row["metrics"] for row in landed.values()]
    assert {"NaN", "Infinity"} <= {m.get("train/loss") for m in metrics}
    assert any(m.get("examples", {}).get("_type") == "images/separated" for m in metrics)
    assert any(isinstance(m.get("eval"), dict) and "val.acc" in m for m in metrics)
    strided = next(r for r in world.runs if r.segments and r.segments[0].stride == 10)
    assert sorted(k[2] for k in landed if k[1] == strided.name) == list(range(1_000, 4_000, 10))


def test_a_request_reads_many_runs_and_no_window_is_sampled(harness, world, double):
    harness.sync()
    pages = [r for r in double.requests if r.op == "HistoryPages"]
    assert max(len([k for k in r.variables if k.startswith("run")]) for r in pages) > 5
    asked = [
        (r.variables[f"run{i}"], r.variables[f"min{i}"], r.variables[f"max{i}"], r.variables[f"size{i}"])
        for r in pages
        for i in range(len([k for k in r.variables if k.startswith("run")]))
    ]
    for name, low, high, size in asked:
        run = next(r for r in world.runs if r.name == name)
        if len(run.history(low, high)) > size:  # W&B sampled this window: the same window is asked again, narrower
            assert any(n == name and lo == low and hi - lo <= s for n, lo, hi, s in asked), (name, low, high)
    harness.assert_matches_world()
    steps = sum(r.history_line_count for r in world.runs)
    assert len(pages) <= math.ceil(steps / run_history.ROWS_PER_REQUEST) + len(world.live_projects()) + 1


def test_given_nothing_new_then_no_history_request_and_no_row_changes(harness, double):
    harness.sync()
    double.reset_log()
    counts = harness.sync()
    assert history_requests(double) == []
    assert counts["Upserts"] == 0 and counts["Deletes"] == 0


def test_given_a_reconciling_sync_then_unchanged_histories_are_not_read_again(harness, double):
    harness.sync()
    every_sync(harness)
    double.reset_log()
    harness.sync()
    assert history_requests(double) == []
    harness.assert_matches_world()


def test_given_a_running_run_that_logged_more_then_only_its_new_steps_are_read(harness, world, double, upserted):
    harness.sync()
    run = long_run(world)
    synced_last = run.last_step
    world.log_history(run, 700)
    double.reset_log()
    upserted.clear()
    harness.sync()
    assert windows(double, run)[0][0] == synced_last  # the last synced step, read again to see it is unchanged
    assert min(low for low, _ in windows(double, run)) == synced_last
    new = [row for table, row in upserted if table == "run_history"]
    assert sorted(row["step"] for row in new) == list(range(synced_last + 1, run.last_step + 1))
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_given_a_resume_that_rewrites_steps_then_they_land_and_the_lost_steps_are_deleted(harness, world, upserted):
    run = add_run_with_segments(world, world.live_projects()[0].name, [(0, 400, 1)])  # 3.5 s a step: 23 minutes
    harness.sync()
    world.resume_run(run, from_step=390, steps=3)  # steps 390-392 rewritten, 393-399 gone
    upserted.clear()
    counts = harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()
    emitted = sorted(row["step"] for table, row in upserted if table == "run_history" and row["run_id"] == run.name)
    # the rewritten steps, and the steps logged within `CHANGE_SKEW` (15 minutes) before the last one synced
    assert emitted == list(range(399 - int(CHANGE_SKEW.total_seconds() // 3.5), 393))
    project_id = f"{world.entity}/{run.project}"
    assert {(project_id, run.name, step) for step in range(393, 400)} <= harness.deleted("run_history")
    assert counts["Deletes"] == 7


@pytest.mark.parametrize("clock_behind_s", [0, 300])
def test_given_a_running_run_resumed_between_syncs_then_it_is_reread_from_where_it_changed(
    harness, world, upserted, clock_behind_s
):
    harness.sync()
    run = long_run(world)
    tail = run.history()[-1]["_timestamp"]
    world.resume_run(run, from_step=2_000, steps=800)
    run.segments[-1].started = tail + 60 - clock_behind_s  # a minute after the last step, on a machine running late
    upserted.clear()
    harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()
    steps = [row["step"] for table, row in upserted if table == "run_history"]
    assert min(steps) >= 2_000 - 1_000 and len(steps) < run.history_line_count


def test_given_a_parquet_export_that_lags_the_run_then_no_step_is_lost_at_the_seam(harness, world):
    """W&B's exported parquet can hold fewer steps than a run has (wandb/wandb PR #11283): the connector reads
    W&B's history pages, which hold every step, so the steps past the export land like the others."""
    run = long_run(world)
    world.export_history(run, through=999)
    harness.sync()
    world.log_history(run, 300)
    world.export_history(run, through=2_600)
    harness.sync()
    landed = sorted(k[2] for k in harness.rows("run_history") if k[1] == run.name)
    assert landed == list(range(run.last_step + 1))
    harness.assert_matches_world()


@pytest.mark.parametrize("kill_after", [1, 4, 7])
def test_given_a_sync_killed_inside_a_long_history_then_the_next_completes_it_without_duplicates(
    harness, world, double, kill_after, monkeypatch, upserted
):
    monkeypatch.setattr(run_history, "ROWS_PER_REQUEST", 300)
    commit_every(monkeypatch, 250)
    for other in world.live_projects()[1:]:
        world.delete_project(other)
    harness.sync()
    run = long_run(world)
    world.log_history(run, 2_400)
    sync_killed_after(harness, double, kill_after, op="HistoryPages")
    committed = {k[2] for k in harness.rows("run_history") if k[1] == run.name}
    assert max(committed) < run.last_step
    upserted.clear()
    harness.sync()
    again = [row["step"] for table, row in upserted if table == "run_history" and row["run_id"] == run.name]
    assert len(again) == len(set(again)) and not set(again) & committed
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_given_a_deleted_run_then_its_history_is_marked_deleted_and_no_other_row_is_rewritten(harness, world):
    harness.sync()
    run = next(r for r in world.runs if r.history_line_count == 12 and r.system_samples)
    before = harness.expected()
    world.delete_run(run)
    every_sync(harness)
    counts = harness.sync()
    after = harness.expected()
    project_id = f"{world.entity}/{run.project}"
    deleted = harness.deleted("run_history")
    assert deleted == {(project_id, run.name, step) for step in range(12)}
    assert {k for k in harness.deleted("run_system_metrics")} == {
        (project_id, run.name, i) for i in range(run.system_samples)
    }
    assert counts["Deletes"] == sum(len(before[table].keys() - after[table].keys()) for table in before)
    assert counts["Truncates"] == counts["Updates"] == 0
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_given_a_deleted_project_then_its_history_is_marked_deleted(harness, world):
    harness.sync()
    project = world.live_projects()[1]
    world.delete_project(project)
    every_sync(harness).sync()
    harness.assert_matches_world()
    assert all(key[0] != f"{world.entity}/{project.name}" for key in harness.rows("run_history"))


def test_given_history_off_then_no_history_request_and_the_table_stays_empty(harness, double):
    harness.configuration = {**harness.configuration, "history": "false", "system_metrics": "off"}
    harness.sync()
    assert history_requests(double) == []
    assert harness.rows("run_history") == {} and harness.rows("run_system_metrics") == {}
    harness.assert_matches_world()


def test_given_history_keys_then_only_those_metrics_and_the_steps_that_log_them_land(harness, world):
    harness.configuration = {**harness.configuration, "history_keys": "eval/*, val.acc"}
    harness.sync()
    harness.assert_matches_world()
    landed = harness.rows("run_history")
    assert landed and all(set(row["metrics"]) <= {"eval/f1", "val.acc"} for row in landed.values())
    assert len(landed) < len(history_rows(world))


def test_given_a_step_cap_then_each_run_stops_there_with_a_warning_naming_it(harness, world, capsys):
    harness.configuration = {**harness.configuration, "history_max_steps": "1000"}
    harness.sync()
    harness.assert_matches_world()
    run = long_run(world)
    assert max(k[2] for k in harness.rows("run_history") if k[1] == run.name) == 999
    assert f"{run.project}/{run.name} has {run.history_line_count} history steps" in capsys.readouterr().out
    world.log_history(run, 100)
    harness.sync()
    harness.assert_matches_world()


def test_given_a_run_of_30000_steps_then_every_step_lands_once_in_requests_of_10000(tmp_path, configuration):
    """(`make bench-history` syncs a run of 100,000 steps.)"""
    world = build_world(seed=2, projects=1, runs_per_project=1, artifact_versions=0, history_steps=30_000)
    world.runs[0].state = "finished"
    with WandbDouble(world) as double:
        harness = Harness(tmp_path / "sync", {**configuration, "base_url": double.base_url}, double)
        harness.sync()
        landed = harness.rows("run_history")
        assert len(landed) == 30_000
        assert landed == history_rows(world)
        assert double.count("HistoryPages") == math.ceil(30_000 / run_history.ROWS_PER_REQUEST)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("history", "maybe", "'history' 'maybe' is not true or false"),
        ("system_metrics", "2", "'system_metrics' '2' is not true or false"),
        ("history_max_steps", "lots", "'history_max_steps' 'lots' is not a whole number"),
        ("history_max_steps", "0", "'history_max_steps' '0' is not a whole number"),
    ],
)
def test_invalid_history_settings_are_configuration_errors_naming_the_key(configuration, key, value, message):
    with pytest.raises(ConfigurationError, match=message):
        validate_configuration({**configuration, key: value})


def test_the_system_stream_is_sampled_and_weighted_by_interval(harness, world):
    harness.sync()
    run = long_run(world)
    samples = [row for key, row in harness.rows("run_system_metrics").items() if key[1] == run.name]
    assert len(samples) == run_system_metrics.SYSTEM_SAMPLES < run.system_samples
    assert all(row["gpu_count"] == 4 for row in samples)
    covered = sum(row["interval_seconds"] for row in samples)
    first, last = min(r["timestamp"] for r in samples), max(r["timestamp"] for r in samples)
    assert abs(covered - ((last - first).total_seconds() * len(samples) / (len(samples) - 1))) < 1e-6


@pytest.mark.parametrize("first", ["true", "false"])
def test_given_history_switched_on_later_then_the_next_sync_reads_every_runs_history(harness, world, first):
    switch = ("history", "system_metrics")
    harness.configuration = {**harness.configuration, **dict.fromkeys(switch, first)}
    harness.sync()
    harness.configuration = {**harness.configuration, **dict.fromkeys(switch, "false")}
    run = long_run(world)
    world.log_history(run, 50)
    world.finish_run(run)
    harness.sync()
    harness.configuration = {**harness.configuration, **dict.fromkeys(switch, "true")}
    counts = harness.sync()
    assert counts["Truncates"] == 0, "no reconcile: the run walk alone re-reads every run for its new children"
    harness.assert_matches_world()
    harness.assert_counts_match_world()
