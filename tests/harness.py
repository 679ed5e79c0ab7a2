"""Sync the connector through the SDK's own runner, in this process, as many times as a test needs.

`fivetran debug` runs this same runner (`core_adapter.run`) after its CLI checks; calling it directly keeps a test
that syncs twenty times fast, and leaves `files/warehouse.db` and `files/state.json` to assert on.
"""

from __future__ import annotations

import base64
import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fivetran_connector_sdk import Logging
from fivetran_connector_sdk_cli import core_adapter

import connector
from devkit.expected import expected_rows, primary_keys, warehouse_rows
from devkit.wandb_double import Fault, WandbDouble
from wandb_connector.registry import TABLES
from wandb_connector.state import RUNS, SyncState, dump, pack

KEYS = primary_keys()


@dataclass
class Harness:
    directory: Path
    configuration: dict
    double: WandbDouble
    results: list[dict] = field(default_factory=list)

    def sync(self, level: Logging.Level = Logging.Level.WARNING) -> dict:
        """One sync; returns the runner's counts (Upserts, Deletes, Checkpoints…) and raises what the sync raised.
        The connector's log lines at `level` and above are printed."""
        Logging.LOG_LEVEL = level
        counts = core_adapter.run(connector.connector, str(self.directory), self.configuration, self.state)
        self.results.append(counts)
        return counts

    @property
    def state(self) -> dict:
        path = self.directory / "files" / "state.json"
        return json.loads(path.read_text()) if path.exists() else {}

    @property
    def database(self) -> Path:
        return self.directory / "files" / "warehouse.db"

    def rows(self, table: str, live_only: bool = True) -> dict[tuple, dict]:
        return warehouse_rows(self.database, table, KEYS[table], live_only=live_only)

    def deleted(self, table: str) -> set[tuple]:
        everything = self.rows(table, live_only=False)
        return set(everything) - set(self.rows(table))

    def expected(self) -> dict[str, dict[tuple, dict]]:
        """The double's ground truth, table by table: the rows the warehouse must hold live."""
        return expected_rows(self.double.world, self.double.base_url, self.configuration)

    def expected_delta(self, before: dict[str, dict[tuple, dict]]) -> dict[str, tuple[set, set]]:
        """Per table, the keys the ground truth gained and lost since `before` (an earlier `expected()`): what a
        sync must write and delete, counted from the dataset."""
        after = self.expected()
        return {
            table: (after[table].keys() - before[table].keys(), before[table].keys() - after[table].keys())
            for table in after
        }

    def expected_writes(self, before: dict[str, dict[tuple, dict]]) -> int:
        """How many rows a sync that writes only what changed must upsert after `before` (an earlier `expected()`):
        the ground truth's new rows and its rows whose values moved, counted from the dataset."""
        after = self.expected()
        return sum(
            sum(1 for key, row in rows.items() if before[table].get(key) != row) for table, rows in after.items()
        )

    def assert_matches_world(self) -> None:
        """Every live row of every declared table equals the double's ground truth, column by column, and
        nothing else is live."""
        for table, rows in self.expected().items():
            live = self.rows(table)
            if live != rows:
                missing, extra = sorted(rows.keys() - live.keys())[:3], sorted(live.keys() - rows.keys())[:3]
                differ = [
                    (key, {c: (v, live[key].get(c)) for c, v in rows[key].items() if live[key].get(c) != v})
                    for key in sorted(rows.keys() & live.keys())
                    if rows[key] != live[key]
                ][:2]
                raise AssertionError(f"{table}: missing {missing}, not live in W&B {extra}, differing {differ}")

    def assert_counts_match_world(self) -> None:
        tables, expected = self.state["tables"], self.expected()
        for table in TABLES:
            assert tables.get(table.name, {}).get("count", 0) == len(expected[table.name]), table.name


def daily(harness: Harness) -> Harness:
    """Reconcile once a day (the default): the syncs of a test after the first are incremental."""
    harness.configuration = {**harness.configuration, "reconcile_interval_hours": "24"}
    return harness


def every_sync(harness: Harness) -> Harness:
    """Reconcile on every sync: each re-reads everything and sweeps."""
    harness.configuration = {**harness.configuration, "reconcile_interval_hours": "0"}
    return harness


def sync_killed_after(harness: Harness, double: WandbDouble, kill_after: int, op: str | None = None) -> None:
    """Sync with every request after the first `kill_after` (of operation `op`, when given) answered HTTP 400 (not
    retried): the sync must die there, so a kill point past the sync's last request fails the test instead of
    passing it unkilled."""
    double.reset_log()
    fault = Fault.http(400, message="killed by the test")
    answered = 0

    def kill_after_op(request) -> None:
        nonlocal answered
        answered += request.op == op
        if request.op == op and answered == kill_after:
            double.inject(fault, times=None)

    if op is None:
        double.inject(fault, after=kill_after, times=None)
    try:
        with double.hooked(kill_after_op) if op else contextlib.nullcontext():
            harness.sync()
    except Exception as error:  # the runner re-raises what the connector raised
        assert "killed by the test" in str(error), error
    else:
        pytest.fail(f"the sync finished in {double.count()} requests: it was never killed after {kill_after}")
    finally:
        double.clear_faults()


def commit_every(monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    """Commit as soon as `rows` rows wait, however recent the last checkpoint (the connector otherwise spaces
    them out so they cost a small share of the sync): a kill can land after any of them."""
    monkeypatch.setattr("wandb_connector.sync.CHECKPOINT_ROWS", rows)
    monkeypatch.setattr("wandb_connector.sync.CHECKPOINT_SHARE", 1.0)


def as_version_5(state: dict) -> dict:
    """A state of this connector as version 5 kept it, for upgrade tests: each walk's per-run records and open rows
    in its own state, and `run_fields`' runs as packed names beside their row digests in base64."""
    loaded = SyncState.from_dict(state)
    projects = {name: dump(loaded.project(name)) for name in list(loaded.projects)}
    for walks in projects.values():
        runs = walks["run_fields"].pop(RUNS, {})
        names = sorted(runs)
        digests = b"".join(bytes.fromhex(runs[name][0]) if runs[name] else bytes(4) for name in names)
        walks["run_fields"] |= {"names": pack(names), "rows": base64.b64encode(digests).decode() if names else ""}
    return {**state, "version": 5, "projects": projects}
