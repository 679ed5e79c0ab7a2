"""Runs: a per-project cursor on `createdAt`, open runs re-read until they end, recently active runs re-read.

W&B's run cursors are offsets, so runs created or deleted during a walk shift the pages. Pages are therefore read
by position instead: each request asks for runs with `createdAt >= position` in ascending order, and the run ids
already emitted at exactly `position` are skipped. When a whole page shares one second (more runs created in one
second than a page holds), that second is read by excluding the ids already read (`$nin`), never by offset. Runs
created mid-walk land after the position and runs deleted mid-walk shift nothing. The position moves with every
page and is committed with the rows, so a crashed walk resumes where it committed.

An incremental walk asks, in one filter, for runs that are new (at or after the cursor), open now (running,
pending), open when last seen (to catch how they ended, even when the server marks them crashed without a last
heartbeat), or active since the last walk (heartbeat within the window: resumed runs, late summaries). A run read
again is emitted only when it is new, its state crossed open/final, or it changed since the last walk; so a sync
with nothing new changes no row. Edits that move neither heartbeat nor state (tags or notes in the UI, a run moved
to another project) are caught by the periodic reconcile (`reconcile.py`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import queries
from .client import Cursors, PageBudget, WandbClient, dig, expect_shape
from .convert import iso, parse_time, required_time
from .state import RunCursor, RunWalk
from .tables import RUN_FIELDS, Where
from .walker import CHANGE_SKEW, Walker

OPEN_STATES = ("running", "pending", "preempting")
HEARTBEAT_WINDOW = timedelta(hours=1)
RUNS_PER_PAGE = 500
KEYS_PER_PAGE = 1000


def wire_time(value: datetime) -> str:
    """W&B's own timestamp format (naive UTC, seconds), which its run filters compare against."""
    return value.strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class RunPage:
    nodes: list[dict]
    position: datetime | None
    boundary: tuple[str, ...]


class CreatedAtPager:
    """Pages through the runs matching `filters`, by `createdAt` position rather than by offset cursor.

    Each page that brings runs not yet read anchors the next request at the newest of them. A page that brings
    none while W&B says more follow (the rest of its rows are hidden from the key; W&B still counts them in the
    page) is followed with the server's own cursor under the same filter, until a page brings new runs again.
    """

    def __init__(self, client: WandbClient, document: str, where: Where, filters: dict | None, per_page: int):
        self.client = client
        self.document = document
        self.where = where
        self.filters = filters
        self.per_page = per_page
        self.position: datetime | None = None
        self.boundary: set[str] = set()
        self.in_block = False

    def pages(self) -> Iterator[RunPage]:
        """Yield the nodes not yet seen, page by page, with the position that covers everything yielded so far."""
        what = f"the runs of {self.where.project_id}"
        budget, cursors = PageBudget(what), Cursors(what)
        filters, cursor = self._filters(), None
        while True:
            variables = {
                "entity": self.where.entity,
                "project": self.where.project,
                "order": "+created_at",
                "filters": json.dumps(filters) if filters else None,
                "perPage": self.per_page,
                "cursor": cursor,
            }
            connection = dig(self.client.execute(self.document, variables, what), ("project", "runs"), what)
            with expect_shape(what):
                nodes = [edge["node"] for edge in connection.get("edges") or [] if edge.get("node") is not None]
                fresh = [n for n in nodes if not self._seen(n)]
                more, end = connection["pageInfo"]["hasNextPage"], connection["pageInfo"].get("endCursor")
                budget.spend(len(nodes), len(fresh))
                anchored = self._block_step(fresh, more) if self.in_block else self._step(nodes, fresh, more)
            yield RunPage(fresh, self.position, tuple(sorted(self.boundary)))
            if anchored:
                filters, cursor, cursors = self._filters(), None, Cursors(what)
            elif more:
                cursor = cursors.next(end)
            else:
                return

    def _step(self, nodes: list[dict], fresh: list[dict], more: bool) -> bool:
        """Whether the next request starts from a new position: after new runs, from the newest; after runs all at
        the position (more runs in one second than a page holds), that second by the ids not yet read. A page with
        no visible run at all is followed by the server's cursor."""
        if self._advance(fresh):
            return more
        self.in_block = more and bool(nodes)
        return self.in_block

    def _block_step(self, fresh: list[dict], more: bool) -> bool:
        self.boundary |= {n["name"] for n in fresh}
        if more and fresh:
            return True
        if more:
            return False  # the rest of the second is hidden so far: the server's cursor goes on
        self.position = self.position.replace(microsecond=0) + timedelta(seconds=1)
        self.boundary, self.in_block = set(), False
        return True  # the runs after that second

    def _filters(self) -> dict | None:
        if self.position is None:
            return self.filters
        if self.in_block:
            second = self.position.replace(microsecond=0)
            since: dict = {
                "$and": [
                    {"createdAt": {"$gte": wire_time(second), "$lt": wire_time(second + timedelta(seconds=1))}},
                    {"name": {"$nin": sorted(self.boundary)}},
                ]
            }
        else:
            since = {"createdAt": {"$gte": wire_time(self.position)}}
        return {"$and": [self.filters, since]} if self.filters else since

    def _seen(self, node: dict) -> bool:
        return (
            self.position is not None and created(node, self.where) == self.position and node["name"] in self.boundary
        )

    def _advance(self, nodes: list[dict]) -> bool:
        """Move the position to the newest `createdAt` of the runs not read before; False when they all share the
        old position (or there are none)."""
        if not nodes:
            return False
        newest = max(created(n, self.where) for n in nodes)
        at_newest = {n["name"] for n in nodes if created(n, self.where) == newest}
        if self.position is None or newest > self.position:
            self.position, self.boundary = newest, at_newest
            return True
        self.boundary |= at_newest
        return False


class RunWalker(Walker[RunCursor]):
    """One walk over one project's runs, emitting rows and keeping the cursor committed with every page."""

    def start(self, now: datetime, full: bool) -> Callable[[], Iterator[RunPage]]:
        """Begin or resume the walk (in the main thread, which owns the state); returns what a worker fetches."""
        self.walk = self._resume_or_start(now, full)
        self.emitted = 0
        pager = CreatedAtPager(
            self.client, queries.RUNS, self.where, None if self.walk.full else self._filters(), RUNS_PER_PAGE
        )
        pager.position = parse_time(self.walk.position, "state")
        pager.boundary = set(self.walk.boundary)
        return pager.pages

    def apply(self, page: RunPage) -> None:
        """Emit a fetched page and commit its position with it."""
        with expect_shape(f"the runs of {self.where.project_id}"):
            self.emitted += sum(self._visit(node, self.walk) for node in page.nodes)
        self.walk.position, self.walk.boundary = iso(page.position), list(page.boundary)
        self.checkpoint()

    def finish(self) -> None:
        """Close the walk; its state is committed with the artifact versions that follow (a crash in between only
        re-reads the last position)."""
        self._finish(self.walk)

    def _resume_or_start(self, now: datetime, full: bool) -> RunWalk:
        walk = self.cursor.walk
        if walk is None or (full and not walk.full):
            walk = self.cursor.walk = RunWalk(started_at=iso(now), full=full or self.cursor.created is None)
        return walk

    def _filters(self) -> dict:
        cursor = self.cursor
        clauses: list[dict] = [{"createdAt": {"$gte": wire_time(parse_time(cursor.created, "state"))}}]
        clauses.append({"state": {"$in": list(OPEN_STATES)}})
        if cursor.open.names:
            clauses.append({"name": {"$in": cursor.open.names}})
        if cursor.open.overflow_since:
            clauses.append({"createdAt": {"$gte": wire_time(parse_time(cursor.open.overflow_since, "state"))}})
        if cursor.read_at:
            active_since = parse_time(cursor.read_at, "state") - HEARTBEAT_WINDOW
            clauses.append({"heartbeatAt": {"$gte": wire_time(active_since)}})
        return {"$or": clauses}

    def _visit(self, node: dict, walk: RunWalk) -> int:
        name, when, state = node["name"], created(node, self.where), node.get("state")
        is_open = state in OPEN_STATES
        if is_open:
            walk.open.add(name, when)
        newest = parse_time(walk.newest, "state")
        if newest is None or when > newest:
            walk.newest, walk.newest_names = iso(when), [name]
        elif when == newest:
            walk.newest_names.append(name)
        new = self.cursor.is_new(name, when)
        if walk.full or new or self._was_open(name, when) != is_open or self._changed(node):
            self.emit(RUN_FIELDS, node, self.where, new)
            return 1
        return 0

    def _was_open(self, name: str, when: datetime) -> bool:
        overflow = parse_time(self.cursor.open.overflow_since, "state")
        return name in self.cursor.open.names or (overflow is not None and when >= overflow)

    def _changed(self, node: dict) -> bool:
        """Changed since the last walk read it: any of its timestamps after that walk began (less a clock skew)."""
        read_at = parse_time(self.cursor.read_at, "state")
        if read_at is None:
            return True
        stamps = [parse_time(node.get(k), f"run {node['name']} {k}") for k in ("createdAt", "updatedAt", "heartbeatAt")]
        return max(s for s in stamps if s) >= read_at - CHANGE_SKEW

    def _finish(self, walk: RunWalk) -> None:
        cursor = self.cursor
        known, newest = parse_time(cursor.created, "state"), parse_time(walk.newest, "state")
        if newest and (known is None or newest > known):
            cursor.created, cursor.boundary = walk.newest, sorted(set(walk.newest_names))
        elif newest and newest == known:
            cursor.boundary = sorted(set(cursor.boundary) | set(walk.newest_names))
        cursor.open = walk.open
        cursor.read_at = walk.started_at
        cursor.walk = None


def run_keys(client: WandbClient, where: Where) -> Iterator[tuple[str, datetime]]:
    """Every run id of a project with its `createdAt`, cheaply, for the reconcile's sweep."""
    pager = CreatedAtPager(client, queries.RUN_KEYS, where, None, KEYS_PER_PAGE)
    for page in pager.pages():
        yield from ((node["name"], created(node, where)) for node in page.nodes)


def created(node: dict, where: Where) -> datetime:
    return required_time(node.get("createdAt"), f"run {where.project_id}/{node.get('name')} createdAt")
