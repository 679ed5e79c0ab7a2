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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from . import queries
from .client import Cursors, PageBudget, WandbClient, dig, expect_shape
from .convert import parse_time, required_time
from .state import Cursor, WalkState, pack, unpack
from .tables import RUN_FIELDS, Table, Where
from .walker import CHANGE_SKEW, Fetch, LiveKey, Part, Walker

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
        self.crossed_hidden = False
        self._full_page = 0

    def variables(self, cursor: str | None = None) -> dict:
        """The variables of the next request (the first one, before any page)."""
        filters = self._filters()
        return {
            "entity": self.where.entity,
            "project": self.where.project,
            "order": "+created_at",
            "filters": json.dumps(filters) if filters else None,
            "perPage": self.per_page,
            "cursor": cursor,
        }

    def pages(self, first: dict | None = None) -> Iterator[RunPage]:
        """Yield the nodes not yet seen, page by page, with the position that covers everything yielded so far;
        `first` is the answer to the first request when it came with other walks' first pages."""
        what = f"the runs of {self.where.project_id}"
        budget, cursors = PageBudget(what), Cursors(what)
        variables = self.variables()
        while True:
            if first is None:
                connection = dig(self.client.execute(self.document, variables, what), ("project", "runs"), what)
            else:
                connection, first = first, None
            with expect_shape(what):
                nodes = [edge["node"] for edge in connection.get("edges") or [] if edge.get("node") is not None]
                fresh = [n for n in nodes if not self._seen(n)]
                more, end = connection["pageInfo"]["hasNextPage"], connection["pageInfo"].get("endCursor")
                budget.spend(len(fresh))
                self._full_page = max(self._full_page, len(nodes))
                anchored = self._block_step(fresh, more) if self.in_block else self._step(nodes, fresh, more)
            yield RunPage(fresh, self.position, tuple(sorted(self.boundary)))
            if anchored:
                variables, cursors = self.variables(), Cursors(what)
            elif more:
                self.crossed_hidden = True
                variables = {**variables, "cursor": cursors.next(end)}
            else:
                return

    def _step(self, nodes: list[dict], fresh: list[dict], more: bool) -> bool:
        """Whether the next request starts from a new position: after new runs, from the newest; after a page as
        full as any seen holding only runs at the position (more runs in one second than a page holds), that
        second by the ids not yet read. A page short of runs not yet read (the rest hidden) is followed by the
        server's cursor."""
        if self._advance(fresh):
            return more
        self.in_block = more and bool(nodes) and len(nodes) >= self._full_page
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


@dataclass
class RunsState(WalkState):
    """Besides the cursor: `names`, every run of the project this walk wrote and the sweep has not deleted,
    packed (a few bytes a run): what a reconcile compares with W&B's listing to delete exactly what is gone."""

    names: str = ""


class RunWalker(Walker[RunsState]):
    """One walk over one project's runs, emitting rows and moving the walk's position with every page."""

    name: ClassVar[str] = "runs"
    tables: ClassVar[tuple[Table, ...]] = (RUN_FIELDS,)
    state_type: ClassVar[type[WalkState]] = RunsState

    def start(self, now: datetime, full: bool) -> Fetch:
        self.names = set(unpack(self.state.names))
        self.walk = self.state.begin(now, full or self.state.emitted.created is None)
        self.pager = CreatedAtPager(
            self.client, queries.RUNS, self.where, None if self.walk.full else self._filters(), RUNS_PER_PAGE
        )
        self.pager.position = self.walk.position.created
        self.pager.boundary = set(self.walk.position.ids)
        return self.pager.pages

    def first_page(self) -> Part:
        variables = self.pager.variables()
        return Part(
            f"runs: runs(filters: $runs_filters, first: $runs_perPage, order: $runs_order) "
            f"{{ {queries.RUNS_CONNECTION} }}",
            {
                "runs_filters": ("JSONString", variables["filters"]),
                "runs_perPage": ("Int", variables["perPage"]),
                "runs_order": ("String", variables["order"]),
            },
            queries.RUN_FRAGMENT,
        )

    def apply(self, page: RunPage) -> None:
        known = len(self.names)
        with expect_shape(f"the runs of {self.where.project_id}"):
            self.emitted += sum(self._visit(node) for node in page.nodes)
        if len(self.names) != known:
            self.state.names = pack(sorted(self.names))
        self.walk.position = Cursor(page.position, list(page.boundary))
        self.checkpoint()

    def _filters(self) -> dict:
        state = self.state
        clauses: list[dict] = [{"createdAt": {"$gte": wire_time(state.emitted.created)}}]
        clauses.append({"state": {"$in": list(OPEN_STATES)}})
        if state.open.names:
            clauses.append({"name": {"$in": state.open.names}})
        if state.open.overflow_since:
            clauses.append({"createdAt": {"$gte": wire_time(state.open.overflow_since)}})
        if state.read_at:
            clauses.append({"heartbeatAt": {"$gte": wire_time(state.read_at - HEARTBEAT_WINDOW)}})
        return {"$or": clauses}

    def _visit(self, node: dict) -> int:
        walk, name, when = self.walk, node["name"], created(node, self.where)
        is_open = node.get("state") in OPEN_STATES
        if is_open:
            walk.open.add(name, when)
        walk.newest.saw(name, when)
        new = self.state.emitted.is_new(name, when)
        if walk.full or new or self.state.open.holds(name, when) != is_open or self._changed(node):
            self.emit(RUN_FIELDS, node, self.where, name not in self.names)
            self.names.add(name)
            return 1
        return 0

    def _changed(self, node: dict) -> bool:
        """Changed since the last walk read it: any of its timestamps after that walk began (less a clock skew)."""
        if self.state.read_at is None:
            return True
        stamps = [parse_time(node.get(k), f"run {node['name']} {k}") for k in ("createdAt", "updatedAt", "heartbeatAt")]
        return max(s for s in stamps if s) >= self.state.read_at - CHANGE_SKEW

    @classmethod
    def live_keys(cls, client: WandbClient, where: Where, state: RunsState) -> Iterator[LiveKey]:
        for name, _ in run_keys(client, where):
            yield LiveKey(RUN_FIELDS, {"project_id": where.project_id, "run_id": name})

    @classmethod
    def known_keys(cls, where: Where, state: RunsState) -> Iterator[LiveKey]:
        for name in unpack(state.names):
            yield LiveKey(RUN_FIELDS, {"project_id": where.project_id, "run_id": name})

    @classmethod
    def record(cls, where: Where, state: RunsState, keys: list[LiveKey]) -> None:
        state.names = pack(sorted({key.key["run_id"] for key in keys}))


def run_keys(client: WandbClient, where: Where) -> Iterator[tuple[str, datetime]]:
    """Every run id of a project with its `createdAt`, cheaply, for the reconcile's sweep.

    A listing that crossed rows hidden from the key followed W&B's offset cursor there, and a run deleted
    meanwhile shifts those offsets: a live run could slip past unlisted and be swept out. So such a listing is read
    twice and the union is live (a run deleted between the two readings stays live until the next sweep)."""
    listed: dict[str, datetime] = {}
    for _ in range(2):
        pager = CreatedAtPager(client, queries.RUN_KEYS, where, None, KEYS_PER_PAGE)
        for page in pager.pages():
            for node in page.nodes:
                if node["name"] not in listed:
                    listed[node["name"]] = created(node, where)
                    yield node["name"], listed[node["name"]]
        if not pager.crossed_hidden:
            return


def created(node: dict, where: Where) -> datetime:
    return required_time(node.get("createdAt"), f"run {where.project_id}/{node.get('name')} createdAt")
