"""Warehouses for the dbt package's tests, each synced once per test session (also across pytest-xdist workers,
which share the folder above their own temporary ones), and the package built on them with `.venv-dbt`'s dbt.

`make test` sets DBT_REQUIRED=1: the dbt venv is built first there, so a missing one fails instead of skipping.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from devkit.wandb_double import DEFAULT_API_KEY, WandbDouble
from devkit.wandb_double.dataset import World, build_world, named_world
from scripts import marts
from tests.conftest import TEST_REQUESTS_PER_MINUTE
from tests.harness import Harness, every_sync

REQUIRED = os.environ.get("DBT_REQUIRED") == "1"
needs_dbt = pytest.mark.skipif(
    not marts.available() and not REQUIRED, reason=f"no dbt at {marts.DBT}: `make .venv-dbt/.installed` builds it"
)


def shared_directory(factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """`make(directory)` once for the whole session, whichever worker asks first; the others wait and reuse it."""
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    directory = root / name
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / ".done").exists():
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
            make(directory)
            (directory / ".done").touch()
    return directory


def sync(world: World, directory: Path, between: Callable[[World], None] | None = None) -> Path:
    """The connector's warehouse of `world` (the SDK's own runner, in-process); with `between`, a second sync after
    it changed the world, every sync a reconcile so deletions are marked `_fivetran_deleted`."""
    with WandbDouble(world, page_cap=100) as double:
        configuration = {
            "api_key": DEFAULT_API_KEY,
            "entity": world.entity,
            "base_url": double.base_url,
            "requests_per_minute": str(TEST_REQUESTS_PER_MINUTE),
            "history": "true",
        }
        harness = every_sync(Harness(directory / "sync", configuration, double))
        harness.sync()
        if between is not None:
            between(world)
            harness.sync()
    return harness.database


def copy_of(warehouse: Path, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(warehouse, directory / "warehouse.db"))


def demo_world() -> World:
    return named_world("demo")


def edge_world() -> World:
    """Three projects a day apart with the cases the definitions hinge on, made before the first sync."""
    return build_world(seed=41, projects=3, runs_per_project=30, artifact_versions=40, history_steps=8)


@contextlib.contextmanager
def connected(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        yield con


def shift(run, by: timedelta) -> None:
    """Move a run in time (created and heartbeat), as if it had run earlier or later."""
    run.created_at += by
    run.heartbeat_at += by
