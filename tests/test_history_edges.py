"""Edge cases of run history and system metrics (a reviewer's attempts to break them, kept): resumes that keep
the counts, irregular steps, caps and settings that change, runs that move, hide, shrink or vanish mid-sync, and
kills at every request."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.expected import leaves
from tests.harness import Harness, daily, every_sync, sync_killed_after
from tests.wandb_double import WandbDouble, build_world
from tests.wandb_double.dataset import HistorySegment, Run, World


@pytest.fixture
def world() -> World:
    world = build_world(seed=5, projects=2, runs_per_project=4, artifact_versions=0, history_steps=12)
    for run in world.runs:
        if run.state in ("running", "pending"):
            world.finish_run(run)
    for run in world.runs:
        world.export_history(run)
    return world


@pytest.fixture
def harness(tmp_path, double: WandbDouble, configuration: dict) -> Harness:
    return daily(Harness(tmp_path / "sync", configuration, double))


def assert_history_counts(harness: Harness) -> None:
    """The state's counts of the two history tables equal the ground truth's row counts."""
    tables, expected = harness.state["tables"], harness.expected()
    for name in ("run_history", "run_system_metrics"):
        assert tables[name]["count"] == len(expected[name]), (name, tables[name]["count"], len(expected[name]))


def assert_history_matches(harness: Harness) -> None:
    """run_history and run_system_metrics equal the ground truth, naming the keys that differ."""
    expected = harness.expected()
    for name in ("run_history", "run_system_metrics"):
        landed, truth = harness.rows(name), expected[name]
        missing = sorted(set(truth) - set(landed))
        extra = sorted(set(landed) - set(truth))
        stale = sorted(k for k in set(truth) & set(landed) if truth[k] != landed[k])
        assert not (missing or extra or stale), f"{name}: missing {missing[:5]}, extra {extra[:5]}, stale {stale[:5]}"


def twelve_step_run(world: World) -> Run:
    return next(r for r in world.runs if r.history_line_count == 12 and len(r.segments) == 1)


def add_run_with_segments(world: World, project: str, segments: list[tuple[int, int, int]]) -> Run:
    """A finished run whose history is `segments` of (first, count, stride), created in the past."""
    run = world.add_run(project, state="finished")
    newest = max(r.created_at for r in world.runs[:-1])
    run.created_at = newest + timedelta(minutes=1)
    run.heartbeat_at = run.updated_at = run.created_at + timedelta(minutes=30)
    started = run.created_at.timestamp()
    run.segments = []
    for first, count, stride in segments:
        run.segments.append(HistorySegment(first, count, run.seed + first, started, stride=stride, total=count))
        started += count * 3.5 + 1
    world.export_history(run)
    return run


# A resume that rewrites the tail back to the same line count and last step still lands (the heartbeat moved).
def test_resume_rewriting_the_tail_to_the_same_counts_lands(harness, world):
    harness.sync()
    run = twelve_step_run(world)
    world.resume_run(run, from_step=7, steps=5)  # steps 7..11 rewritten: 12 lines, last step 11, as before
    world.finish_run(run)
    assert (run.history_line_count, run.last_step) == (12, 11)
    every_sync(harness).sync()
    assert_history_matches(harness)


# A run whose steps need more than MAX_PROGRESSIONS progressions: its ledger becomes one range; deletes name
# steps it never had, and the counts stay exact.
def irregular(count: int) -> list[tuple[int, int, int]]:
    segments, first = [], 0
    for i in range(count):
        segments.append((first, 2, 1))
        first += 2 + 3 + (i % 5)  # irregular gaps: no two segments merge into one progression
    return segments


def test_irregular_steps_then_a_deleted_run_keeps_the_counts_exact(harness, world):
    project = world.live_projects()[0].name
    run = add_run_with_segments(world, project, irregular(70))
    harness.sync()
    assert_history_matches(harness)
    assert_history_counts(harness)
    world.delete_run(run)
    counts = every_sync(harness).sync()
    assert_history_matches(harness)
    assert_history_counts(harness)
    # the run had 140 steps over 70 irregular stretches: more than the ledger keeps exactly, so its deletes name
    # every step of its range (those it never had delete nothing) and the count moves by its 140 rows
    values = len(list(leaves(run.config))) + len(list(leaves(run.summary or {})))  # its run_config and run_summary
    assert 140 <= counts["Deletes"] - values <= run.last_step + 1, counts


def test_irregular_steps_then_a_rewind_keeps_the_counts_exact(harness, world):
    project = world.live_projects()[0].name
    run = add_run_with_segments(world, project, irregular(70))
    harness.sync()
    world.resume_run(run, from_step=100, steps=3)
    world.finish_run(run)
    harness.sync()
    assert_history_matches(harness)
    assert_history_counts(harness)


# A capped run that a resume rewrote below the cap gets the new values.
def test_capped_run_rewritten_below_the_cap_lands(harness, world):
    harness.configuration = {**harness.configuration, "history_max_steps": "8"}
    harness.sync()
    assert_history_matches(harness)
    run = twelve_step_run(world)
    world.resume_run(run, from_step=3, steps=20)  # steps 3..22: the first 8 are now 0..2 old, 3..7 rewritten
    world.finish_run(run)
    every_sync(harness).sync()
    assert_history_matches(harness)


# history_keys widened: the steps and metrics it left out land.
def test_history_keys_widened_then_the_other_metrics_land(harness, world):
    harness.configuration = {**harness.configuration, "history_keys": "eval/*"}
    harness.sync()
    assert_history_matches(harness)
    harness.configuration = {**harness.configuration, "history_keys": ""}
    every_sync(harness).sync()
    assert_history_matches(harness)


# history_keys narrowed and history_max_steps lowered: the steps no longer kept are deleted, the rest rewritten.
def test_history_keys_narrowed_and_cap_lowered_then_the_table_follows(harness, world):
    harness.sync()
    harness.configuration = {**harness.configuration, "history_keys": "eval/*", "history_max_steps": "8"}
    counts = harness.sync()
    assert counts["Truncates"] == 0
    assert_history_matches(harness)
    assert_history_counts(harness)
    assert harness.deleted("run_history")


# history_max_steps raised: a capped run is read on.
def test_history_max_steps_raised_then_the_rest_lands(harness, world):
    harness.configuration = {**harness.configuration, "history_max_steps": "5"}
    harness.sync()
    harness.configuration = {**harness.configuration, "history_max_steps": "100000"}
    every_sync(harness).sync()
    assert_history_matches(harness)


# history switched off, then on again: the run walk reads every run once, no reconcile needed.
def test_history_switched_off_then_on_again_reads_the_runs_it_missed(harness, world):
    harness.sync()
    harness.configuration = {**harness.configuration, "history": "false", "system_metrics": "false"}
    project = world.live_projects()[0].name
    run = add_run_with_segments(world, project, [(0, 30, 1)])  # new runs (finished hours ago), while history is off
    add_run_with_segments(world, project, [(0, 3, 1)])  # (the newest run is re-listed at every sync: not this one)
    harness.sync()
    assert run.name in {k[1] for k in harness.rows("run_fields")}
    harness.configuration = {**harness.configuration, "history": "true", "system_metrics": "true"}
    harness.sync()
    assert_history_matches(harness)


# A run moved to another project, then a reconcile: its history moves with it, counts exact.
def test_moved_run_history_moves_with_it(harness, world):
    harness.sync()
    run = twelve_step_run(world)
    world.move_run(run, world.live_projects()[1].name)
    every_sync(harness).sync()
    assert_history_matches(harness)
    assert_history_counts(harness)
    world.move_run(run, world.live_projects()[0].name)
    harness.sync()
    assert_history_matches(harness)
    assert_history_counts(harness)


# A hidden run, a reconcile, then visible again.
def test_hidden_then_visible_run(harness, world):
    harness.sync()
    run = twelve_step_run(world)
    world.hide(run)
    every_sync(harness).sync()
    assert_history_matches(harness)
    assert_history_counts(harness)
    world.hide(run, hidden=False)
    harness.sync()
    assert_history_matches(harness)
    assert_history_counts(harness)


# A run whose system stream shrinks (fewer samples after its heartbeat moved).
def test_system_samples_drop(harness, world):
    harness.sync()
    run = twelve_step_run(world)
    run.system_samples = 2
    world.finish_run(run)
    harness.sync()
    assert_history_matches(harness)
    assert_history_counts(harness)


# A run deleted while the sync reads the history of its page.
def test_run_deleted_while_history_pages(harness, world, double):
    run = twelve_step_run(world)
    other = next(r for r in world.live_runs(run.project) if r is not run and r.history_line_count == 12)
    for grown in (run, other):
        grown.segments[0].total = 1000  # the curves of a longer run: logging more leaves the old steps as they were
    harness.sync()
    world.log_history(run, 5)
    world.log_history(other, 5)

    def delete(request) -> None:
        if request.op == "HistoryPages" and run.deleted is False:
            world.delete_run(run)

    with double.hooked(delete):
        every_sync(harness).sync()
    assert_history_matches(harness)
    assert_history_counts(harness)


# A run whose history shrinks to nothing.
def test_history_shrinks_to_nothing(harness, world):
    harness.sync()
    run = twelve_step_run(world)
    world.resume_run(run, from_step=0, steps=0)
    world.finish_run(run)
    harness.sync()
    assert_history_matches(harness)
    assert_history_counts(harness)
    world.clock += timedelta(seconds=1)  # W&B's heartbeat has whole seconds: the system stream is read again by it
    world.log_history(run, 4)
    harness.sync()
    assert_history_matches(harness)
    assert_history_counts(harness)


# Caps at and around a run's line count, then the runs log more.
@pytest.mark.parametrize("cap", [1, 12, 13])
def test_cap_edges(harness, world, cap):
    project = world.live_projects()[0].name
    strided = add_run_with_segments(world, project, [(1_000, 30, 10)])
    sparse = add_run_with_segments(world, project, [(5, 3, 1), (10_000, 9, 1)])
    for run in (strided, sparse, twelve_step_run(world)):
        for segment in run.segments:
            segment.total = 1000
        run.state = "running"
    harness.configuration = {**harness.configuration, "history_max_steps": str(cap)}
    harness.sync()
    assert_history_matches(harness)
    for run in (strided, sparse, twelve_step_run(world)):
        world.log_history(run, 3)
    harness.sync()
    assert_history_matches(harness)
    assert_history_counts(harness)


# A strided run that starts late and keeps logging, read in many small requests.
def test_strided_late_run_continues(harness, world, monkeypatch):
    from wandb_connector import history

    monkeypatch.setattr(history, "ROWS_PER_REQUEST", 7)
    project = world.live_projects()[0].name
    run = add_run_with_segments(world, project, [(1_000_000, 40, 7)])
    run.segments[0].total = 1000
    run.state = "running"
    harness.sync()
    assert_history_matches(harness)
    world.log_history(run, 23)
    harness.sync()
    assert_history_matches(harness)
    assert_history_counts(harness)


# A run whose steps are sparse, then dense: no answer holds much more than ROWS_PER_REQUEST rows.
def test_no_answer_holds_far_more_than_rows_per_request(harness, world, double, monkeypatch):
    from wandb_connector import history

    monkeypatch.setattr(history, "ROWS_PER_REQUEST", 300)
    project = world.live_projects()[0].name
    run = add_run_with_segments(world, project, [(0, 100, 10_000), (1_000_000, 3_000, 1)])
    harness.sync()
    assert_history_matches(harness)
    biggest = 0
    for request in double.requests:
        if request.op == "HistoryPages":
            v = request.variables
            for i in range(len([k for k in v if k.startswith("run")])):
                if v[f"run{i}"] == run.name:
                    answered = min(len(run.history(v[f"min{i}"], v[f"max{i}"])), v[f"size{i}"])  # W&B samples down
                    biggest = max(biggest, answered)
    assert biggest <= 2 * history.ROWS_PER_REQUEST + 100, biggest


# A sync killed while it re-reads a rewritten run, then the next one.
@pytest.mark.parametrize("kill_after", [1, 2, 3])
def test_killed_inside_a_reread(harness, world, double, monkeypatch, kill_after):
    from wandb_connector import history

    monkeypatch.setattr(history, "ROWS_PER_REQUEST", 100)
    monkeypatch.setattr("wandb_connector.sync.CHECKPOINT_ROWS", 50)
    project = world.live_projects()[0].name
    run = add_run_with_segments(world, project, [(0, 400, 1)])
    run.segments[0].total = 5000
    run.state = "running"
    harness.sync()
    world.resume_run(run, from_step=150, steps=300)  # 0..149 old, 150..449 rewritten
    sync_killed_after(harness, double, kill_after, op="HistoryPages")
    harness.sync()
    assert_history_matches(harness)
    assert_history_counts(harness)


# Kill the sync after every possible request of a sync that reads new, continued and rewritten histories.
@pytest.mark.parametrize("kill_after", [2, 6, 11])
def test_killed_anywhere_then_resumed(harness, world, double, monkeypatch, kill_after):
    from wandb_connector import history

    monkeypatch.setattr(history, "ROWS_PER_REQUEST", 40)
    monkeypatch.setattr("wandb_connector.sync.CHECKPOINT_ROWS", 30)
    project = world.live_projects()[0].name
    growing = add_run_with_segments(world, project, [(0, 100, 1)])
    rewound = add_run_with_segments(world, project, [(0, 90, 3)])
    for run in (growing, rewound):
        run.segments[0].total = 5000
        run.state = "running"
    harness.sync()
    world.log_history(growing, 120)
    world.resume_run(rewound, from_step=60, steps=50)
    add_run_with_segments(world, project, [(10, 150, 2)]).state = "running"
    world.delete_run(twelve_step_run(world))
    try:
        sync_killed_after(harness, double, kill_after)
    except BaseException as error:  # past the last request: nothing to kill
        if "never killed" not in str(error):
            raise
    harness.sync()
    every_sync(harness).sync()
    assert_history_matches(harness)
    assert_history_counts(harness)


# Projects hidden, excluded, renamed.
@pytest.mark.parametrize("how", ["hide", "exclude", "rename"])
def test_project_leaves(harness, world, how):
    harness.sync()
    project = world.live_projects()[1]
    project_id = f"{world.entity}/{project.name}"
    before = {k: v for k, v in harness.rows("run_history").items() if k[0] == project_id}
    if how == "hide":
        world.hide(project)
    elif how == "exclude":
        harness.configuration = {**harness.configuration, "exclude_projects": project.name}
    else:
        world.rename_project(project, "renamed-project")
    harness.sync()
    every_sync(harness).sync()
    if how == "exclude":  # a filter never deletes: the excluded project's rows stay as they were
        assert before and {k: v for k, v in harness.rows("run_history").items() if k[0] == project_id} == before
    else:
        assert all(key[0] != project_id for key in harness.rows("run_history"))
        assert all(key[0] != project_id for key in harness.rows("run_system_metrics"))
    if how != "exclude":  # (the oracle knows no exclude_projects)
        assert_history_matches(harness)
        assert_history_counts(harness)
    if how == "hide":
        world.hide(project, hidden=False)
    elif how == "exclude":
        harness.configuration = {**harness.configuration, "exclude_projects": ""}
    else:
        world.rename_project(project, "renamed-again")
    every_sync(harness).sync()
    assert_history_matches(harness)
    assert_history_counts(harness)


# Rewinds of a run that starts late, before, at and after its first and last steps.
@pytest.mark.parametrize(("from_step", "steps"), [(500, 900), (1_000, 1), (1_299, 1), (2_000, 5)])
def test_rewinds_of_a_late_run(harness, world, from_step, steps):
    project = world.live_projects()[0].name
    run = add_run_with_segments(world, project, [(1_000, 300, 1)])
    run.segments[0].total = 10_000
    harness.sync()
    world.resume_run(run, from_step=from_step, steps=steps)
    harness.sync()
    assert_history_matches(harness)
    assert_history_counts(harness)
