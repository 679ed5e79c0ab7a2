"""What a team asks of its runs, computed in SQL on the synced warehouse and compared with the dataset itself:
hardware and GPU hours, the ten metrics of seed 001, and the ids and notes orchestration tools write."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from statistics import mean

import duckdb
import pytest

from devkit.wandb_double import DEFAULT_API_KEY, WandbDouble
from devkit.wandb_double.dataset import Run, World, build_world
from scripts.demo import BEST_LEARNING_RATE, GPU_HOURS_PER_USER
from tests.conftest import TEST_REQUESTS_PER_MINUTE
from tests.harness import Harness

FINAL = ("finished", "crashed", "failed", "killed")


@pytest.fixture(scope="module")
def world() -> World:
    """Four projects a day apart, so a seven-day window ending five days after the last run leaves some out."""
    return build_world(seed=23, projects=4, runs_per_project=40, artifact_versions=8, history_steps=6)


@pytest.fixture(scope="module")
def synced(tmp_path_factory, world: World):
    with WandbDouble(world, page_cap=25) as double:
        configuration = {
            "api_key": DEFAULT_API_KEY,
            "entity": world.entity,
            "base_url": double.base_url,
            "requests_per_minute": str(TEST_REQUESTS_PER_MINUTE),
        }
        harness = Harness(tmp_path_factory.mktemp("metrics") / "sync", configuration, double)
        harness.sync()
        yield duckdb.connect(str(harness.database), read_only=True)


def runs(world: World) -> list[Run]:
    return [r for p in world.live_projects() for r in world.live_runs(p.name)]


def window(world: World):
    """Seven days ending five days after the newest run: the window of the `_7d` metrics."""
    now = max(r.created_at for r in runs(world)) + timedelta(days=5)
    return now - timedelta(days=7)


def per_project(world: World, value: Callable[[list[Run]], float | None], keep=lambda r: True) -> dict[str, float]:
    grouped: dict[str, list[Run]] = defaultdict(list)
    for run in runs(world):
        if keep(run):
            grouped[f"{world.entity}/{run.project}"].append(run)
    return {p: v for p, rs in grouped.items() if (v := value(rs)) is not None}


def query(con, sql: str, *parameters) -> dict[str, float]:
    live = {
        t: f"(select * from tester.{t} where not _fivetran_deleted)"
        for t in ("run_fields", "run_summary", "run_system_metrics")
    }
    return dict(con.execute(sql.format(**live), list(parameters)).fetchall())


def summary(run: Run, key: str) -> float | None:
    value = (run.summary or {}).get(key)
    return value if isinstance(value, float | int) and value == value and abs(value) != float("inf") else None


def runtime(run: Run) -> float | None:
    return summary(run, "_runtime")


def assert_same(found: dict, expected: dict) -> None:
    assert expected, "the dataset has nothing to compare: the check would prove nothing"
    assert found.keys() == expected.keys()
    for key, value in expected.items():
        assert found[key] == pytest.approx(value), key


def test_runs_active(synced, world):
    sql = "select project_id, count(*) from {run_fields} where state = 'running' group by 1"
    assert_same(query(synced, sql), per_project(world, len, lambda r: r.state == "running"))


def test_runs_completed_7d(synced, world):
    since = window(world)
    sql = "select project_id, count(*) from {run_fields} where state = 'finished' and ended_at >= ? group by 1"
    expected = per_project(world, len, lambda r: r.state == "finished" and r.heartbeat_at >= since)
    assert_same(query(synced, sql, since), expected)
    assert len(expected) < len(world.live_projects()), "the window leaves no project out: it proves nothing"


def test_runs_failed_7d(synced, world):
    since = window(world)
    sql = "select project_id, count(*) from {run_fields} where state in ('failed', 'crashed') and ended_at >= ? "
    expected = per_project(world, len, lambda r: r.state in ("failed", "crashed") and r.heartbeat_at >= since)
    assert_same(query(synced, sql + "group by 1", since), expected)


def test_runs_total(synced, world):
    assert_same(query(synced, "select project_id, count(*) from {run_fields} group by 1"), per_project(world, len))


def test_best_accuracy(synced, world):
    sql = "select project_id, max(number_value) from {run_summary} where key = 'eval/accuracy' group by 1"
    best = per_project(world, lambda rs: max((a for r in rs if (a := summary(r, "eval/accuracy"))), default=None))
    assert_same(query(synced, sql), best)


def test_latest_loss(synced, world):
    sql = """select s.project_id, arg_max(s.number_value, r.created_at) from {run_summary} s
             join {run_fields} r using (project_id, run_id)
             where s.key = 'train/loss' and s.number_value is not null group by 1"""

    def latest(rs: list[Run]) -> float | None:
        logged = [r for r in rs if summary(r, "train/loss") is not None]
        return summary(max(logged, key=lambda r: r.created_at), "train/loss") if logged else None

    assert_same(query(synced, sql), per_project(world, latest))


def test_avg_accuracy_7d(synced, world):
    since = window(world)
    sql = """select s.project_id, avg(s.number_value) from {run_summary} s join {run_fields} r
             using (project_id, run_id) where s.key = 'eval/accuracy' and r.created_at >= ? group by 1"""

    def average(rs: list[Run]) -> float | None:
        found = [a for r in rs if (a := summary(r, "eval/accuracy")) is not None]
        return mean(found) if found else None

    assert_same(query(synced, sql, since), per_project(world, average, lambda r: r.created_at >= since))


def test_avg_duration_hours(synced, world):
    sql = "select project_id, avg(runtime_seconds) / 3600 from {run_fields} where state = 'finished' group by 1"

    def hours(rs: list[Run]) -> float | None:
        known = [t for r in rs if (t := runtime(r)) is not None]  # a run whose client never wrote a summary
        return mean(known) / 3600 if known else None

    assert_same(query(synced, sql), per_project(world, hours, lambda r: r.state == "finished"))


def test_gpu_utilization_avg(synced, world):
    sql = """select project_id, avg(gpu_utilization_percent) from {run_system_metrics}
             group by 1 having count(gpu_utilization_percent) > 0"""

    def utilization(rs: list[Run]) -> float | None:
        samples = [
            mean(e[f"system.gpu.{g}.gpu"] for g in range(r.gpu_count)) for r in rs if r.gpu_count for e in r.events(500)
        ]
        return mean(samples) if samples else None

    assert_same(query(synced, sql), per_project(world, utilization))


def test_total_gpu_hours_7d(synced, world):
    since = window(world)
    sql = (
        "select project_id, sum(runtime_seconds * gpu_count) / 3600 from {run_fields} where created_at >= ? group by 1"
    )
    expected = per_project(
        world, lambda rs: sum((runtime(r) or 0) * r.gpu_count for r in rs) / 3600, lambda r: r.created_at >= since
    )
    assert_same(query(synced, sql, since), expected)


def test_gpu_hours_per_user(synced, world):
    """The query `make demo` prints, on the synced warehouse, against the dataset's runtimes and GPUs."""
    found = {user: hours for user, hours, _ in synced.execute(GPU_HOURS_PER_USER).fetchall()}
    hours: dict[str, float] = defaultdict(float)
    for run in runs(world):
        hours[run.user.username if run.user else "(no user)"] += (runtime(run) or 0) * run.gpu_count / 3600
    assert found.keys() == hours.keys() and all(found[u] == pytest.approx(h, abs=0.005) for u, h in hours.items())
    assert len({round(h) for h in hours.values()}) > 1, "every user has the same GPU hours: the check is weak"


def test_best_learning_rate_by_eval_f1(synced, world):
    found = {rate: (f1, n) for rate, f1, n in synced.execute(BEST_LEARNING_RATE).fetchall()}
    best: dict[float, list[float]] = defaultdict(list)
    for run in runs(world):
        if "eval/f1" in (run.summary or {}):
            best[run.config["params"]["learning_rate"]].append(run.summary["eval/f1"])
    assert found == {rate: (round(max(f1s), 4), len(f1s)) for rate, f1s in best.items()}


def test_hardware_columns_equal_the_dataset_on_multi_gpu_cpu_only_and_runs_without_run_info(synced, world):
    found = {
        run_id: row
        for run_id, *row in synced.execute(
            "select run_id, gpu_count, gpu_type, cpu_count, os, python_version, git_remote, program, host "
            "from tester.run_fields"
        ).fetchall()
    }
    cases = {"multi-gpu": 0, "cpu-only": 0, "no run info": 0}
    for run in runs(world):
        info = run.run_info or {}
        git = info.get("git") or {}
        gpu = info.get("gpu") if run.gpu_count else None
        expected = [run.gpu_count, gpu, info.get("cpuCount"), info.get("os"), info.get("python")]
        assert found[run.name] == [*expected, git.get("remote"), info.get("program"), run.host], run.name
        cases["multi-gpu"] += run.gpu_count > 1
        cases["cpu-only"] += run.gpu_count == 0
        cases["no run info"] += run.run_info is None and run.gpu_count > 0
    assert all(cases.values()), cases


def test_ended_at_is_the_last_heartbeat_of_a_run_that_ended(synced, world):
    ended = dict(synced.execute("select run_id, ended_at from tester.run_fields").fetchall())
    for run in runs(world):
        assert ended[run.name] == (run.heartbeat_at if run.state in FINAL else None), run.name


def test_orchestrated_runs_keep_their_custom_ids_and_the_link_in_their_notes(synced, world):
    """Seed 002: Flyte names a run `{execution}-{node}-{retry}` and puts a link to the execution in its notes."""
    flyte = [r for r in runs(world) if re.fullmatch(r"f[0-9a-f]+a[0-9a-f]{8}-n\d-\d", r.name)]
    assert flyte, "the dataset has no orchestrated runs"
    notes = dict(synced.execute("select run_id, notes from tester.run_fields").fetchall())
    for run in flyte:
        assert notes[run.name] == run.notes and run.notes.endswith(f"/executions/{run.name}")
    config_runs = {r for (r,) in synced.execute("select distinct run_id from tester.run_config").fetchall()}
    assert {r.name for r in flyte} <= config_runs
