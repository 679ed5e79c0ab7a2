"""The dbt package on a lakehouse: `fivetran run` commits the tables to Iceberg (SeaweedFS's `weed mini` on
127.0.0.1), DuckDB's Iceberg reader copies them out of the catalog into a DuckDB file, and `dbt build` of the
integration tests there passes every model, every test and every answer of the dataset."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from devkit.fivetran_cli import ROOT, connector_project
from devkit.lakehouse import BIN, CREDENTIALS, EXTENSIONS, Lakehouse, available
from devkit.wandb_double import DEFAULT_API_KEY, WandbDouble
from tests.conftest import TEST_REQUESTS_PER_MINUTE
from tests.marts_oracle import expected_marts
from tests.package_warehouses import edge_world, needs_dbt
from tests.test_dbt_package import assert_everything_passed, bend, edge_as_of, edge_settings, integration_build
from wandb_connector.registry import TABLES

LAKEHOUSE_REQUIRED = os.environ.get("LAKEHOUSE_REQUIRED") == "1"
pytestmark = [
    needs_dbt,
    pytest.mark.skipif(not available() and not LAKEHOUSE_REQUIRED, reason="no lakehouse venv: make .venv-lakehouse"),
]


def snapshot(lake: Lakehouse, out: Path) -> dict[str, int]:
    """The lakehouse's tables in a DuckDB file, read through DuckDB's Iceberg reader (in the lakehouse venv)."""
    command = [str(BIN / "python"), str(ROOT / "tests" / "iceberg_snapshot.py"), f"--uri={lake.catalog_uri}"]
    command += [f"--s3-endpoint={lake.s3_endpoint}", f"--extensions={EXTENSIONS}", f"--out={out}"]
    ran = subprocess.run(command, env=os.environ | CREDENTIALS, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-3000:]
    return json.loads(ran.stdout)


def test_given_a_fivetran_run_into_iceberg_then_the_package_builds_there_and_every_answer_is_the_datasets(tmp_path):
    world = edge_world()
    bend(world, edge_as_of(world))
    with WandbDouble(world, page_cap=100) as double, Lakehouse(tmp_path / "lakehouse") as lake:
        configuration = {
            "api_key": DEFAULT_API_KEY,
            "entity": world.entity,
            "base_url": double.base_url,
            "requests_per_minute": str(TEST_REQUESTS_PER_MINUTE),
            "history": "true",
        }
        ran = lake.run(configuration, tmp_path / "home", connector_project(tmp_path / "project"))
        assert ran.succeeded, ran.output[-4000:]
        warehouse = tmp_path / "lakehouse.duckdb"
        counts = snapshot(lake, warehouse)
    assert set(counts) == {table.name for table in TABLES} and all(counts.values()), counts
    settings = edge_settings()
    expected = expected_marts(world, settings)
    assert all(expected.values()), [name for name, rows in expected.items() if not rows]
    assert_everything_passed(integration_build(warehouse, world, settings, tmp_path / "dbt"), expected)
