"""`make estimate`: the rows a first sync writes, per table, known before it runs and within 10 % of what the sync
then writes, read from listings alone."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from devkit.fivetran_cli import ROOT
from devkit.wandb_double import WandbDouble, build_world
from devkit.wandb_double.dataset import World
from tests.harness import Harness
from wandb_connector.client import WandbClient
from wandb_connector.estimate import estimate
from wandb_connector.registry import TABLES, validate_configuration
from wandb_connector.value_buckets import SAMPLED_RUNS


def first_sync_rows(tmp_path, double: WandbDouble, configuration: dict) -> dict[str, int]:
    harness = Harness(tmp_path / "sync", configuration, double)
    harness.sync()
    return {table.name: len(harness.rows(table.name)) for table in TABLES}


@pytest.fixture
def world() -> World:
    """More runs a project than the estimate reads documents of, so its sampling is what is tested."""
    return build_world(seed=5, projects=2, runs_per_project=3 * SAMPLED_RUNS, artifact_versions=30, history_steps=8)


@pytest.mark.parametrize("switches", [{}, {"history": "false", "lineage": "false", "history_max_steps": "5"}])
def test_the_estimate_is_within_ten_percent_of_what_a_first_sync_writes(tmp_path, double, configuration, switches):
    configuration = {**configuration, "history": "true", **switches}
    settings = validate_configuration(configuration)
    estimated = estimate(WandbClient(settings), settings, datetime.now(UTC)).as_json()
    synced = first_sync_rows(tmp_path, double, configuration)
    assert set(estimated) == set(synced)
    for table, rows in synced.items():
        guess = estimated[table]["first_sync_rows"]
        assert abs(guess - rows) <= 0.1 * rows, (table, guess, rows)
    assert all(estimated[table]["first_sync_rows"] == 0 for table, rows in synced.items() if rows == 0)


def test_the_estimate_reads_listings_not_the_sync(double, configuration, world: World):
    settings = validate_configuration({**configuration, "history": "true"})
    estimate(WandbClient(settings), settings, datetime.now(UTC))
    assert not {"HistoryPages", "ProjectArtifacts", "ProjectFirstPages", "Runs"} & set(double.ops()), double.ops()
    pages = sum(-(-len(world.live_runs(p.name)) // double.page_cap) for p in world.live_projects())
    assert double.count() <= 3 + pages + 4 * len(world.live_projects()), double.ops()


def test_make_estimate_ends_with_one_json_object_per_table(tmp_path, double, configuration):
    path = tmp_path / "configuration.json"
    path.write_text(json.dumps(configuration))
    result = subprocess.run(
        [sys.executable, "-m", "scripts.estimate", "--configuration", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(last) == {table.name for table in TABLES}
    assert all(set(v) == {"first_sync_rows", "monthly_active_rows"} for v in last.values())
    assert configuration["api_key"] not in result.stdout
