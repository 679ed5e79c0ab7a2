"""One sync: the projects, then each project's runs and artifact versions, then (when due) the reconcile.

Fivetran commits rows and state together at a checkpoint and drops whatever came after the last one when a sync
fails, so the state moves with every page and is committed at the first page boundary where `CHECKPOINT_ROWS`
rows wait: a crashed sync resumes where it committed and the runner never holds more than that and a page. A sync
reconciles (re-reads every project in full, then sweeps out what W&B deleted) when `reconcile_interval_hours` have
passed since the last reconcile began, and sweeps after a sync that crashed, so the counts in the state are exact
again.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fivetran_connector_sdk import Logging as log
from fivetran_connector_sdk import Operations as op

from .artifacts import ArtifactWalker
from .client import Gone, WandbClient, expect_shape, prepare_environment
from .convert import iso, parse_time
from .prefetch import Prefetcher
from .reconcile import sweep
from .runs import RunWalker
from .settings import Settings
from .state import SyncState
from .tables import PROJECTS, Table, Where
from .walker import CHANGE_SKEW

# Pages commit once this many rows wait: `fivetran debug` pays a fixed cost per checkpoint (its DuckDB flush checks
# every table), so committing each small page would cost it a third of its speed, while a crash re-reads at most
# this many rows.
CHECKPOINT_ROWS = 1000
FETCH_WORKERS = 4
PAGES_AHEAD = 2


@dataclass
class Plan:
    where: Where
    runs: RunWalker
    artifacts: ArtifactWalker
    fetch: Callable[[], Iterator[tuple[str, Any]]]


def sync(settings: Settings, raw_state: dict) -> None:
    """One sync of the entity; wandb's scratch files live and die with it."""
    state = SyncState.from_dict(raw_state)
    with tempfile.TemporaryDirectory(prefix="wandb-connector-", ignore_cleanup_errors=True) as scratch:
        prepare_environment(Path(scratch))
        Sync(WandbClient(settings), settings, state).run()


class Sync:
    def __init__(self, client: WandbClient, settings: Settings, state: SyncState):
        self.client = client
        self.settings = settings
        self.state = state
        self.entity = settings.entity
        self.now = datetime.now(UTC)
        self.where = Where(settings.entity, client.app_url, self.now)
        self.vanished: list[str] = []
        self.pending = 0

    def run(self) -> None:
        state = self.state
        crashed = state.sync_started_at is not None
        first = not state.tables
        if self._reconcile_due() and state.reconcile_started_at is None:
            state.reconcile_started_at = iso(self.now)
        state.sync_started_at = iso(self.now)
        projects = self.projects()
        plans = [self.plan(name) for name in projects]
        with Prefetcher(FETCH_WORKERS, PAGES_AHEAD, on_abort=self.client.cancel) as prefetcher:
            for plan, feed in zip(plans, prefetcher.in_order([p.fetch for p in plans]), strict=True):
                self.project(plan, feed)
        if state.reconcile_started_at is not None or crashed or self.vanished:
            if not first or self.vanished:
                self.checkpoint(force=True)  # the sweep's truncate must find every re-read row already written
                present = [name for name in projects if name not in self.vanished]
                sweep(self.client, self.entity, present, state, self.now)
            state.reconciled_at = state.reconcile_started_at or state.reconciled_at
            state.reconcile_started_at = None
        state.sync_started_at = None
        self.checkpoint(force=True)
        counts = {name: table.count for name, table in state.tables.items()}
        vanished = (
            f"; {len(self.vanished)} vanished project(s) marked deleted: {self.vanished}" if self.vanished else ""
        )
        log.info(f"synced entity '{self.entity}': {counts} rows{vanished}")

    def _reconcile_due(self) -> bool:
        last = parse_time(self.state.reconciled_at, "state")
        return last is None or self.now - last >= timedelta(hours=self.settings.reconcile_interval_hours)

    def projects(self) -> list[str]:
        """List the entity's projects, emit the new and changed ones, and return the names to sync."""
        state = self.state
        read_at = parse_time(state.projects_read_at, "state")
        full = state.reconcile_started_at is not None
        listed = self.client.projects()
        names = [name for name in listed if self.settings.wants(name)]
        for name in names:
            new = name not in state.projects
            if full or new or read_at is None or _stamp(listed[name]) >= read_at - CHANGE_SKEW:
                self.emit(PROJECTS, listed[name], self.where, new)
            state.project(name)
        if not listed:
            self.client.check_access()
        for pattern in self.settings.unmatched_globs(set(listed)):
            log.warning(f"'projects' pattern {pattern!r} matches no project of entity '{self.entity}'")
        state.projects_read_at = iso(self.now)
        self.checkpoint()
        return names

    def plan(self, name: str) -> Plan:
        """Set up a project's walks (main thread, which owns the state) and the fetching a worker does for them."""
        where = replace(self.where, project=name)
        project = self.state.project(name)
        started = parse_time(self.state.reconcile_started_at, "state")
        runs = RunWalker(self.client, where, project.runs, self.emit, self.checkpoint)
        artifacts = ArtifactWalker(self.client, where, project.artifacts, self.emit, self.checkpoint)
        fetch_runs = runs.start(self.now, full=_due(project.runs.read_at, started))
        fetch_artifacts = artifacts.start(self.now, full=_due(project.artifacts.read_at, started))

        def fetch() -> Iterator[tuple[str, Any]]:
            yield from (("runs", page) for page in fetch_runs())
            yield from (("artifacts", item) for item in fetch_artifacts())

        return Plan(where, runs, artifacts, fetch)

    def project(self, plan: Plan, feed: Iterable[tuple[str, Any]]) -> None:
        """Emit one project's pages as they arrive; a project that vanished since the listing is skipped and named
        in the log (this sync's sweep marks its rows deleted), because failing would hold every other project back."""
        runs_done = False
        try:
            for kind, item in feed:
                if kind == "runs":
                    plan.runs.apply(item)
                    continue
                if not runs_done:
                    plan.runs.finish()
                    runs_done = True
                plan.artifacts.apply(item)
            if not runs_done:
                plan.runs.finish()
            plan.artifacts.finish()
        except Gone as gone:
            self.vanished.append(plan.where.project)
            log.warning(f"skipped project {plan.where.project_id}: {gone}")
            return
        log.info(f"project {plan.where.project_id}: {plan.runs.emitted} runs, {plan.artifacts.emitted} versions synced")

    def emit(self, table: Table, node: dict, where: Where, new: bool) -> None:
        with expect_shape(f"a row of {table.name} in {where.project_id if where.project else where.entity}"):
            row = table.row(node, where)
        # An upsert replaces the whole row, so a NULL needs no cell: leaving them out spares the runner work per cell.
        op.upsert(table.name, {column: value for column, value in row.items() if value is not None})
        self.pending += 1
        self.state.table(table.name).saw(row.get("created_at"), new)

    def checkpoint(self, force: bool = False) -> None:
        """Commit rows and state together once `CHECKPOINT_ROWS` rows wait (walks offer this after every page), or
        whatever waits when forced (the end of the sync, the start of a sweep)."""
        if force or self.pending >= CHECKPOINT_ROWS:
            op.checkpoint(self.state.to_dict())
            self.pending = 0


def _due(read_at: str | None, reconcile_started: datetime | None) -> bool:
    """A full walk is due when a reconcile is under way and this walk has not been redone since it began."""
    last = parse_time(read_at, "state")
    return reconcile_started is not None and (last is None or last < reconcile_started)


def _stamp(node: dict) -> datetime:
    stamps = [parse_time(node.get(k), f"project {node['name']} {k}") for k in ("createdAt", "updatedAt")]
    return max(s for s in stamps if s)
