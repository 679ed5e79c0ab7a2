"""Edge cases of run history and system metrics (a reviewer's attempts to break them, kept): resumes that keep
the counts, irregular steps, caps and settings that change, runs that move, hide, shrink or vanish mid-sync, and
kills at every request."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from devkit.wandb_double import WandbDouble, build_world
from devkit.wandb_double.dataset import HistorySegment, Run, World
from tests.harness import Harness, commit_every, daily, every_sync, sync_killed_after


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


def assert_history_matches(harness: Harness, deleted_runs: frozenset[str] = frozenset()) -> None:
    """run_history and run_system_metrics equal the ground truth, naming the keys that differ; the rows of
    `deleted_runs` may still be there (a deleted run's rows go at the next sweep)."""
    expected = harness.expected()
    for name in ("run_history", "run_system_metrics"):
        landed, truth = harness.rows(name), expected[name]
        missing = sorted(set(truth) - set(landed))
        extra = sorted(k for k in set(landed) - set(truth) if k[1] not in deleted_runs)
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


def test_given_a_resume_rewriting_the_tail_to_the_same_counts_when_synced_then_the_new_values_land(harness, world):
    """A resume that rewrites the tail back to the same line count and last step still lands: the heartbeat moved, so
    the last synced step is read again and found changed."""
    harness.sync()
    run = twelve_step_run(world)
    world.resume_run(run, from_step=7, steps=5)  # steps 7..11 rewritten: 12 lines, last step 11, as before
    world.finish_run(run)
    assert (run.history_line_count, run.last_step) == (12, 11)
    every_sync(harness).sync()
    assert_history_matches(harness)


def irregular(count: int) -> list[tuple[int, int, int]]:
    segments, first = [], 0
    for i in range(count):
        segments.append((first, 2, 1))
        first += 2 + 3 + (i % 5)  # irregular gaps: no two segments merge into one progression
    return segments


def test_given_irregular_steps_when_the_run_is_deleted_then_its_rows_go_and_the_counts_stay_exact(harness, world):
    """A run whose steps need more than `MAX_PROGRESSIONS` progressions: its ledger becomes one range, and its
    deletes name steps it never had (which delete nothing) while the counts stay exact."""
    project = world.live_projects()[0].name
    run = add_run_with_segments(world, project, irregular(70))
    harness.sync()
    assert_history_matches(harness)
    assert_history_counts(harness)
    before = harness.expected()
    world.delete_run(run)
    counts = every_sync(harness).sync()
    assert_history_matches(harness)
    assert_history_counts(harness)
    # the run had 140 steps over 70 irregular stretches: more than the ledger keeps exactly, so its deletes name
    # every step of its range (those it never had delete nothing) and the count moves by its 140 rows
    others = sum(len(lost) for table, (_, lost) in harness.expected_delta(before).items() if table != "run_history")
    assert 140 <= counts["Deletes"] - others <= run.last_step + 1, counts


def test_given_irregular_steps_when_the_run_rewinds_then_its_history_and_the_counts_stay_exact(harness, world):
    """The same run rewound part-way: the steps it lost are deleted from its one-range ledger, the rest are exact."""
    project = world.live_projects()[0].name
    run = add_run_with_segments(world, project, irregular(70))
    harness.sync()
    world.resume_run(run, from_step=100, steps=3)
    world.finish_run(run)
    harness.sync()
    assert_history_matches(harness)
    assert_history_counts(harness)


def test_given_a_capped_run_when_a_resume_rewrites_it_below_the_cap_then_the_new_values_land(harness, world):
    """A run the cap cut, rewritten by a resume below the cap: the steps under the cap get their new values."""
    harness.configuration = {**harness.configuration, "history_max_steps": "8"}
    harness.sync()
    assert_history_matches(harness)
    run = twelve_step_run(world)
    world.resume_run(run, from_step=3, steps=20)  # steps 3..22: the first 8 are now 0..2 old, 3..7 rewritten
    world.finish_run(run)
    every_sync(harness).sync()
    assert_history_matches(harness)


def test_given_history_keys_widened_when_synced_then_the_metrics_and_steps_left_out_land(harness, world):
    """`history_keys` widened: the metrics, and the steps that logged none of the old keys, land."""
    harness.configuration = {**harness.configuration, "history_keys": "eval/*"}
    harness.sync()
    assert_history_matches(harness)
    harness.configuration = {**harness.configuration, "history_keys": ""}
    every_sync(harness).sync()
    assert_history_matches(harness)


def test_given_history_keys_narrowed_and_the_cap_lowered_when_synced_then_the_steps_no_longer_kept_are_deleted(
    harness, world
):
    """`history_keys` narrowed and `history_max_steps` lowered, without a reconcile: the steps no longer kept are
    deleted and the rest rewritten with the metrics kept."""
    harness.sync()
    harness.configuration = {**harness.configuration, "history_keys": "eval/*", "history_max_steps": "8"}
    counts = harness.sync()
    assert counts["Truncates"] == 0
    assert_history_matches(harness)
    assert_history_counts(harness)
    assert harness.deleted("run_history")


def test_given_a_run_the_cap_cut_when_the_cap_is_raised_then_the_rest_lands(harness, world):
    """`history_max_steps` raised: a run the first sync cut at the cap is read on to its end."""
    harness.configuration = {**harness.configuration, "history_max_steps": "5"}
    harness.sync()
    steps = Counter(key[:2] for key in harness.rows("run_history"))
    runs = [r for p in world.live_projects() for r in world.live_runs(p.name) if r.history_line_count]
    assert {(f"{world.entity}/{r.project}", r.name): min(5, r.history_line_count) for r in runs} == steps
    assert any(r.history_line_count > 5 for r in runs), "no run was cut: the test would prove nothing"
    harness.configuration = {**harness.configuration, "history_max_steps": "100000"}
    every_sync(harness).sync()
    assert_history_matches(harness)
    assert_history_counts(harness)


def test_given_history_switched_off_then_on_when_synced_then_the_runs_it_missed_are_read_without_a_reconcile(
    harness, world
):
    """History switched off, runs added, then history switched on: the run walk reads every run once for the child
    walks, so the runs created meanwhile get their history without a reconcile."""
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


def test_given_a_run_moved_to_another_project_when_reconciled_then_its_history_moves_with_it(harness, world):
    """A run moved to another project, then a reconcile: its history is deleted under the old project and written
    under the new one; moved back, it returns; the counts stay exact."""
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


def test_given_a_run_hidden_from_the_key_when_visible_again_then_its_history_returns(harness, world):
    """A run hidden from the key, a reconcile (its history is deleted), then visible again: its history returns."""
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


def test_given_a_system_stream_that_shrinks_when_synced_then_the_samples_past_its_end_are_deleted(harness, world):
    """A run whose system stream holds fewer samples after its heartbeat moved: the samples past the new count are
    deleted."""
    harness.sync()
    run = twelve_step_run(world)
    run.system_samples = 2
    world.finish_run(run)
    harness.sync()
    assert_history_matches(harness)
    assert_history_counts(harness)


def test_given_a_run_deleted_while_its_history_is_read_when_reconciled_then_the_rest_is_exact(harness, world, double):
    """A run deleted while the sync reads the history of its page: the sync completes, and the run's rows go."""
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


def test_given_a_history_that_shrinks_to_nothing_when_synced_then_its_rows_go_and_later_steps_land(harness, world):
    """A run whose history a resume rewinds to nothing: its rows are deleted; the steps it logs afterwards land."""
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


@pytest.mark.parametrize("cap", [1, 12, 13])
def test_given_a_cap_at_or_around_a_runs_line_count_when_runs_log_more_then_the_cap_holds(harness, world, cap):
    """Caps at and around a run's line count (strided, sparse and dense runs), then the runs log more: every run
    keeps exactly its first `cap` steps."""
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


def test_given_a_strided_run_starting_late_when_it_keeps_logging_then_small_requests_read_every_step(
    harness, world, monkeypatch
):
    """A strided run that starts at step 1,000,000 and keeps logging, read in requests of 7 steps: every step lands
    once."""
    from wandb_connector.tables import run_history as history

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


def test_given_sparse_then_dense_steps_when_read_then_no_answer_holds_far_more_than_rows_per_request(
    harness, world, double, monkeypatch
):
    """A run whose steps are sparse, then dense: each request's step window is sized by the run's density, so no
    answer holds much more than `ROWS_PER_REQUEST` rows."""
    from wandb_connector.tables import run_history as history

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


@pytest.mark.parametrize("kill_after", [1, 2, 3])
def test_given_a_sync_killed_inside_a_reread_when_synced_again_then_the_history_is_exact(
    harness, world, double, monkeypatch, kill_after
):
    """A sync killed while it re-reads a rewritten run (after 1, 2 or 3 history requests): the next sync completes it
    exactly."""
    from wandb_connector.tables import run_history as history

    monkeypatch.setattr(history, "ROWS_PER_REQUEST", 100)
    commit_every(monkeypatch, 50)
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


@pytest.mark.parametrize("kill_after", [2, 6, 11])
def test_given_a_sync_killed_anywhere_when_resumed_then_the_history_is_exact_at_once(
    harness, world, double, monkeypatch, kill_after
):
    """A sync that reads new, continued and rewritten histories, killed after each of several requests: the sync that
    resumes it leaves the history exact (before any reconcile; a deleted run's rows wait for the sweep), and a
    reconcile after it leaves it exact, with exact counts."""
    from wandb_connector.tables import run_history as history

    monkeypatch.setattr(history, "ROWS_PER_REQUEST", 40)
    commit_every(monkeypatch, 30)
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
    deleted = twelve_step_run(world)
    world.delete_run(deleted)
    try:
        sync_killed_after(harness, double, kill_after)
    except BaseException as error:  # past the last request: nothing to kill
        if "never killed" not in str(error):
            raise
    harness.sync()
    # A sync killed before its first checkpoint left no trace, so no sweep follows it: the deleted run's rows go
    # at the reconcile.
    assert_history_matches(harness, frozenset({deleted.name}))
    every_sync(harness).sync()
    assert_history_matches(harness)
    assert_history_counts(harness)


@pytest.mark.parametrize("how", ["hide", "exclude", "rename"])
def test_given_a_project_hidden_excluded_or_renamed_when_synced_then_its_history_follows(harness, world, how):
    """A project hidden from the key (its history goes at the reconcile), left out by `exclude_projects` (its history
    stays as it was) or renamed (its history moves), then back: the history follows each."""
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


@pytest.mark.parametrize(("from_step", "steps"), [(500, 900), (1_000, 1), (1_299, 1), (2_000, 5)])
def test_given_a_late_run_rewound_before_at_or_after_its_steps_when_synced_then_its_history_is_exact(
    harness, world, from_step, steps
):
    """Rewinds of a run that starts late, to before, at and after its first and last steps: its history is exact."""
    project = world.live_projects()[0].name
    run = add_run_with_segments(world, project, [(1_000, 300, 1)])
    run.segments[0].total = 10_000
    harness.sync()
    world.resume_run(run, from_step=from_step, steps=steps)
    harness.sync()
    assert_history_matches(harness)
    assert_history_counts(harness)
