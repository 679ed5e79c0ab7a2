"""One sync: the projects (`tables/projects.py`), the entity's walks, then each project's walks (`registry.WALKERS`),
then (when due) the reconcile. The driver knows the walker contract (`walker.py`), not the tables.

Fivetran commits rows and state together at a checkpoint and drops whatever came after the last one when a sync
fails, so the state moves with every page and is committed at the first page boundary where `CHECKPOINT_ROWS`
rows wait: a crashed sync resumes where it committed and the runner never holds more than that and a page. A sync
reconciles (re-reads every project in full, then sweeps out what W&B deleted) when `reconcile_interval_hours` have
passed since the last reconcile began, and sweeps after a sync that crashed, so the counts in the state are exact
again.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fivetran_connector_sdk import Logging as log
from fivetran_connector_sdk import Operations as op

from .client import WandbClient, prepare_environment, server_of
from .errors import ConfigurationError
from .prefetch import Prefetcher
from .reconcile import forget, sweep
from .registry import WALKERS
from .settings import Settings, shown
from .shapes import Gone, dig, expect_shape, field
from .state import SyncState
from .tables import projects as project_listing
from .walker import Departed, Part, Table, Walker, Where

# Pages commit once this many rows wait: `fivetran debug` pays a fixed cost per checkpoint (its DuckDB flush checks
# every table), so committing each small page would cost it a third of its speed, while a crash re-reads at most
# this many rows. Beyond that, a checkpoint waits until the time since the last one is large enough that
# checkpoints take at most `CHECKPOINT_SHARE` of the sync (a state grows with the entity and is sent whole), and
# never beyond `CHECKPOINT_ROWS_CAP` times as many rows (the local runner holds them until the checkpoint).
CHECKPOINT_ROWS = 1000
CHECKPOINT_SHARE = 0.05
CHECKPOINT_ROWS_CAP = 10
FETCH_WORKERS = 4
# A project's feed holds up to this many rows fetched ahead of the main thread (two pages of 1,000 runs; one
# part of a history answer): memory stays bounded, small pages flow (`prefetch.Feed`).
ROWS_AHEAD = 2_000
# A long project says how far it got: a line once this many seconds or rows passed since the last one.
PROGRESS_EVERY_S = 30.0
PROGRESS_EVERY_ROWS = 5000


@dataclass
class Plan:
    """One scope's walks (the entity's, or one project's), in order, and what a worker fetches for all of them:
    items tagged with the index of the walk they belong to. `groups` gives each walk the index of the walk it
    belongs with (itself, or its parent for a child walk): a group finishes once a later group's items begin."""

    where: Where
    walkers: list[Walker]
    groups: list[int]
    fetch: Callable[[], Iterator[tuple[int, Any]]]


def sync(settings: Settings, raw_state: dict) -> None:
    """One sync of the entity; wandb's scratch files live and die with it."""
    state = SyncState.from_dict(raw_state)
    with tempfile.TemporaryDirectory(prefix="wandb-connector-", ignore_cleanup_errors=True) as scratch:
        prepare_environment(Path(scratch))
        Sync(WandbClient(settings), settings, state).run()


def check_account(state: SyncState, entity: str, server: str) -> None:
    """A state belongs to the entity and server it was made with: carrying it over to another account would skip
    that account's rows older than these cursors and keep this account's rows live beside them. So a mismatch
    fails before any write (after the login and the projects listing, so a mistyped key or entity is named as
    such first); a state that names no account (a first sync, or one written before states recorded it) adopts
    this one."""
    if state.source_entity is None:
        state.source_entity, state.source_server = entity, server
        return
    if state.source_entity.casefold() != entity.casefold() or state.source_server != server:
        raise ConfigurationError(
            f"this connection's state was made syncing entity '{state.source_entity}' from {state.source_server}, "
            f"but the configuration now names entity '{entity}' on {server}: syncing on would mix two accounts' "
            "rows. To sync the other account, give it a connection (and destination schema) of its own; to start "
            "this one over, reset it first (Fivetran: drop the schema's tables, then Re-sync all historical data; "
            "fivetran debug: `fivetran reset`, or delete the connector's files/ folder)"
        )


class Sync:
    def __init__(self, client: WandbClient, settings: Settings, state: SyncState):
        self.client = client
        self.settings = settings
        self.state = state
        self.entity = settings.entity
        self.now = datetime.now(UTC)
        self.where = Where(settings.entity, client.app_url, self.now)
        self.vanished: list[str] = []
        self.cadence = Cadence()
        self.current: Plan | None = None
        self.progress_at = time.monotonic()
        self.progress_rows = 0

    def run(self) -> None:
        state = self.state
        crashed = state.sync_started_at is not None
        first = not state.tables
        if self._reconcile_due() and state.reconcile_started_at is None:
            state.reconcile_started_at = self.now
            state.server_lacks = []  # a reconcile asks the server again for what it lacked
            state.updated_filter = None  # and how it filters runs by updatedAt
        self.client.optional.remember(state.server_lacks)
        state.sync_started_at = self.now
        listed, projects = self.projects()
        for walker in (w for w in WALKERS if not w.enabled(self.settings)):
            tables = ", ".join(table.name for table in walker.tables)
            log.info(f"{tables} stays empty: '{walker.switch.key}' is off; `make estimate` says what it would cost")
        # Each project's walks are set up a few projects ahead of their turn and sealed once driven, so the state
        # holds a handful of projects as objects, whatever the entity's size.
        plans = ((plan, plan.fetch) for plan in map(self.plan, [None, *projects]))
        with Prefetcher(FETCH_WORKERS, ROWS_AHEAD, on_abort=self.client.cancel) as prefetcher:
            for plan, feed in prefetcher.in_order(plans):
                self.drive(plan, feed)
                if plan.where.project:
                    state.seal(plan.where.project)
        if state.reconcile_started_at is not None or crashed or self.vanished:
            if not first or self.vanished:
                self.checkpoint(force=True)  # a marking sweep's truncate must find every re-read row written
                present = [name for name in projects if name not in self.vanished]
                sweep(self.client, self.where, present, [n for n in listed if n not in self.vanished], state)
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
        last = self.state.reconciled_at
        return last is None or self.now - last >= timedelta(hours=self.settings.reconcile_interval_hours)

    def projects(self) -> tuple[list[str], list[str]]:
        """List the entity's projects, emit the new and changed ones the filters select, and return the names
        W&B listed and the ones to sync."""
        state = self.state
        verdict = state.updated_filter
        if verdict is None:
            listed, verdict = project_listing.list_probing(self.client, self.entity)
        else:
            listed = project_listing.list_projects(self.client, self.entity)
        names = [name for name in listed if self.settings.wants(name)]
        if not listed:
            project_listing.check_access(self.client, self.entity)
        check_account(state, self.entity, server_of(self.client.base_url))
        for pattern in self.settings.unmatched_globs(set(listed)):
            log.warning(f"'projects' pattern {shown(pattern)} matches no project of entity '{self.entity}'")
        self.settings.check_selection(list(listed), names)
        gone = [name for name in state.projects if name not in listed]
        if gone:
            forget(self.where, gone, state)
            log.info(f"project(s) {gone} of entity '{self.entity}' are gone from W&B: their rows are marked deleted")
        self._learn_updated_filter(verdict)
        table = project_listing.TABLE
        for name in names:
            new, digest = name not in state.projects, table.digest(listed[name], self.where)
            if new or state.project_rows.get(name) != digest:
                self.emit(table, listed[name], self.where, new)
                state.project_rows[name] = digest
            state.projects.setdefault(name, {})  # known from now on; its saved walks stay packed until its turn
        state.projects_read_at = self.now
        self.checkpoint()
        return list(listed), names

    def _learn_updated_filter(self, verdict: str | None) -> None:
        """Keep what the projects listing found the server does with a run filter on `updatedAt`, and say once
        what it means for edits."""
        if verdict is not None and self.state.updated_filter is None:
            where = self.settings.base_url or "W&B cloud"
            if verdict == "honoured":
                log.info(f"{where} filters runs by updatedAt: edits of finished runs reach the warehouse next sync")
            else:
                log.info(
                    f"{where} {'ignores' if verdict == 'ignored' else 'refuses'} a run filter on updatedAt: edits of "
                    "finished runs (tags, notes, config, summary) reach the warehouse at each reconcile "
                    f"(every {self.settings.reconcile_interval_hours:g} h, 'reconcile_interval_hours')"
                )
        self.state.updated_filter = verdict
        self.client.traits[project_listing.UPDATED_FILTER] = verdict

    def plan(self, project: str | None) -> Plan:
        """Set up the walks of a project (or, with None, the entity) in the main thread, which owns the state, and
        what a worker fetches for them: one request for every walk's first page, then each walk's further pages,
        each followed by what its child walks read for it."""
        scope = "entity" if project is None else "project"
        where = replace(self.where, project=project or "")
        started = self.state.reconcile_started_at
        walkers: list[Walker] = []
        fetches: list[Callable] = []
        groups: list[int] = []
        kinds = [k for k in WALKERS if k.scope == scope and k.enabled(self.settings)]
        for kind in (k for k in WALKERS if k.scope == scope and k.parent and k not in kinds):
            self.state.walk(project, kind.name, kind.state_type).read_at = None  # switched off: reads all when back on
        for kind in kinds:
            parents = [i for i, w in enumerate(walkers) if w.name == kind.parent and w.parent is None]
            if kind.parent and not parents:
                continue
            walk_state = self.state.walk(project, kind.name, kind.state_type)
            walker = kind(self.client, where, walk_state, self)
            # A child that never walked (a table added since, or switched back on) sees every parent item once.
            new_child = walk_state.read_at is not None and any(
                child.needs_everything(self.state.walk(project, child.name, child.state_type), self.settings)
                for child in kinds
                if child.parent == kind.name
            )
            fetches.append(walker.start(self.now, full=_due(walk_state.read_at, started) or new_child))
            groups.append(parents[0] if parents else len(walkers))
            walkers.append(walker)
        parts = {w.name: part for w in walkers if w.parent is None and (part := w.first_page()) is not None}

        def fetch() -> Iterator[tuple[int, Any]]:
            firsts = self.first_pages(where, parts) if parts else {}
            for index, walker in enumerate(walkers):
                if walker.parent is not None:
                    continue
                children = [i for i in range(index + 1, len(walkers)) if groups[i] == index]
                first, walker.extras = firsts.get(walker.name, (None, {}))
                for item in fetches[index](first):
                    if not isinstance(item, Departed):
                        for child in children:
                            yield from ((child, child_item) for child_item in fetches[child](item))
                    yield index, item

        return Plan(where, walkers, groups, fetch)

    def first_pages(self, where: Where, parts: dict[str, Part]) -> dict[str, tuple[dict, dict[str, Any]]]:
        """Ask a project for the first page of every walk in one request (a project with nothing new costs just
        this), each walk's field under its own name; with it, the answers to each walk's extra fields."""
        declared = ["$entity: String!", "$project: String!"]
        variables = {"entity": where.entity, "project": where.project}
        for part in parts.values():
            declared += [f"${name}: {kind}" for name, (kind, _) in part.variables.items()]
            variables |= {name: value for name, (_, value) in part.variables.items()}
        fields = "\n    ".join(
            " ".join([part.selection, *(f"{alias}: {asked}" for alias, asked in part.extras.items())])
            for part in parts.values()
        )
        fragments = "".join(dict.fromkeys(part.fragments for part in parts.values()))
        document = (
            f"query ProjectFirstPages({', '.join(declared)}) {{\n"
            f"  project(name: $project, entityName: $entity) {{\n    {fields}\n  }}\n}}\n{fragments}"
        )
        names = list(parts)
        what = f"the {', '.join(names[:-1]) + ' and ' if len(names) > 1 else ''}{names[-1]} of {where.project_id}"
        project = dig(self.client.execute(document, variables, what), ("project",), what)
        return {
            name: (
                field(project, name, what, part.field_name),
                {alias: field(project, alias, what, asked.split("(")[0]) for alias, asked in part.extras.items()},
            )
            for name, part in parts.items()
        }

    def drive(self, plan: Plan, feed: Iterable[tuple[int, Any]]) -> None:
        """Apply a scope's items as they arrive, finishing each walk once the next one's items begin; a project
        that vanished since the listing is skipped and named in the log (this sync's sweep marks its rows deleted),
        because failing would hold every other project back."""
        walkers, groups = plan.walkers, plan.groups
        finished: set[int] = set()

        def finish_before(group: float) -> None:
            for index in (i for i in range(len(walkers)) if i not in finished and groups[i] < group):
                walkers[index].finish()
                finished.add(index)

        self.current, self.progress_at, self.progress_rows = plan, time.monotonic(), 0
        try:
            for index, item in feed:
                finish_before(groups[index])
                walkers[index].apply(item)
                if isinstance(item, Departed) and item.gone:
                    walker = walkers[index]
                    live = [key.key for key in type(walker).known_keys(plan.where, walker.state)]
                    for child in (w for i, w in enumerate(walkers) if groups[i] == index and i != index):
                        type(child).prune(plan.where, child.state, live, self)
            finish_before(math.inf)
        except Gone as gone:
            if not plan.where.project or gone.key != "project":
                raise
            self.vanished.append(plan.where.project)
            log.warning(f"skipped project {plan.where.project_id}: {gone}")
            return
        finally:
            self.current = None
        log.info(f"{self._scope(plan)}: {self._synced(plan)}")

    def _scope(self, plan: Plan) -> str:
        return f"project {plan.where.project_id}" if plan.where.project else f"entity {self.entity}"

    @staticmethod
    def _synced(plan: Plan) -> str:
        return ", ".join(f"{w.emitted} {w.name}" for w in plan.walkers)

    def _progress(self) -> None:
        """Say how far the current project got, once `PROGRESS_EVERY_S` or `PROGRESS_EVERY_ROWS` passed."""
        now = time.monotonic()
        if self.current is None or (
            now - self.progress_at < PROGRESS_EVERY_S and self.progress_rows < PROGRESS_EVERY_ROWS
        ):
            return
        self.progress_at, self.progress_rows = now, 0
        log.info(f"{self._scope(self.current)}, so far: {self._synced(self.current)}")

    def emit(self, table: Table, node: dict, where: Where, new: bool) -> None:
        with expect_shape(f"a row of {table.name} in {where.project_id if where.project else where.entity}"):
            row = table.row(node, where)
        self.write(table, row, new)

    def write(self, table: Table, row: dict, new: bool) -> None:
        # An upsert replaces the whole row, so a NULL needs no cell: leaving them out spares the runner work per cell.
        op.upsert(table.name, {column: value for column, value in row.items() if value is not None})
        self.cadence.add()
        self.progress_rows += 1
        self.state.table(table.name).saw(row.get("created_at"), new)

    def delete(self, table: Table, key: dict) -> None:
        """Mark one row deleted (a child walk's row whose run is gone or whose step W&B rewrote away); the walk
        says how the table's count moves (`tally`), since it may name a row that never was."""
        op.delete(table.name, key)
        self.cadence.add()

    def tally(self, table: Table, rows: int) -> None:
        self.state.table(table.name).count += rows

    def checkpoint(self, force: bool = False) -> None:
        """Commit rows and state together once enough rows wait and enough time passed (walks offer this after
        every page; see `CHECKPOINT_ROWS`), or whatever waits when forced (the end of the sync, a sweep's start)."""
        if force or self.cadence.due():
            with self.cadence.committing():
                self.state.server_lacks = self.client.optional.lacking
                op.checkpoint(self.state.to_dict())
        self._progress()


class Cadence:
    """When rows waiting are worth a checkpoint: `CHECKPOINT_ROWS` of them, and the time since the last checkpoint
    at least what it took over `CHECKPOINT_SHARE` (so checkpoints cost at most that share of the sync, however the
    state grows); or `CHECKPOINT_ROWS_CAP` times as many rows, whenever. It counts the rows itself (`add`), so
    the connector and the runner-alone baseline commit alike."""

    def __init__(self) -> None:
        self.committed_at, self.cost, self.pending = time.monotonic(), 0.0, 0

    def add(self, rows: int = 1) -> None:
        self.pending += rows

    def due(self) -> bool:
        if self.pending >= CHECKPOINT_ROWS * CHECKPOINT_ROWS_CAP:
            return True
        waited = time.monotonic() - self.committed_at
        return self.pending >= CHECKPOINT_ROWS and waited * CHECKPOINT_SHARE >= self.cost * (1 - CHECKPOINT_SHARE)

    @contextlib.contextmanager
    def committing(self) -> Iterator[None]:
        """Time the checkpoint inside; the rows waiting are committed once it returns."""
        started = time.monotonic()
        yield
        self.committed_at = time.monotonic()
        self.cost, self.pending = self.committed_at - started, 0


def _due(read_at: datetime | None, reconcile_started: datetime | None) -> bool:
    """A full walk is due when a reconcile is under way and this walk has not been redone since it began."""
    return reconcile_started is not None and (read_at is None or read_at < reconcile_started)
