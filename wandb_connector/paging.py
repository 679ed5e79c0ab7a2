"""Pages of GraphQL connections: one reader (`Reader`) that every listing goes through, each page checked, bounded
and followed by the server's own cursor; the offset-paged listings built on it (`connections`, `listing`, `whole`);
and `CreatedAtPager`, which reads runs by `createdAt` position rather than by offset.

W&B's pages may hold fewer edges than they count, or none, while `hasNextPage` says more follow (it leaves rows
hidden from the key out of a page): the reader follows `endCursor`, which moves past the hidden rows, not the last
edge's cursor; a cursor that does not move is an error (`Cursors`), and a listing that keeps bringing nothing new is
stopped (`PageBudget`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .convert import required_time
from .errors import SourceError
from .shapes import dig, expect_shape, field

if TYPE_CHECKING:
    from .client import WandbClient
    from .walker import Where

# Offset-paged listings (projects, artifact versions) are read again when they changed while paging, this many times.
LISTING_ATTEMPTS = 3
# A listing may send this many requests per page that brings rows not read before, plus this many pages that bring
# none (W&B's offset pages count rows hidden from the key, so a hidden stretch costs requests and yields nothing).
PAGES_PER_NEEDED = 3
EMPTY_PAGES_ALLOWED = 50


class Cursors:
    """The server's cursors through one listing: each must be new, or the listing would never end."""

    def __init__(self, what: str):
        self.what = what
        self.seen: set[str] = set()

    def next(self, cursor: str | None) -> str:
        if not cursor or cursor in self.seen:
            raise SourceError(
                f"W&B said {self.what} has more pages but gave no new cursor ({cursor!r}): "
                "the listing cannot be completed; retry later or report it to W&B"
            )
        self.seen.add(cursor)
        return cursor


class PageBudget:
    """The bound on one listing. A page that brings a row not read before is progress; W&B's offset pages count
    rows hidden from the key, so pages without progress happen, but at most `EMPTY_PAGES_ALLOWED` in a row, and in
    all at most `PAGES_PER_NEEDED` requests per page of progress plus that allowance. Past it the listing fails,
    naming what W&B kept sending, instead of running on."""

    def __init__(self, what: str):
        self.what = what
        self.requests = self.progress = self.rows = self.empty_run = 0

    def spend(self, fresh: int) -> None:
        """Count one page that brought `fresh` rows not read before in this listing."""
        self.requests += 1
        self.rows += fresh
        self.progress += bool(fresh)
        self.empty_run = 0 if fresh else self.empty_run + 1
        allowed = PAGES_PER_NEEDED * (1 + self.progress) + EMPTY_PAGES_ALLOWED
        if self.empty_run > EMPTY_PAGES_ALLOWED or self.requests > allowed:
            raise SourceError(
                f"W&B kept sending pages of {self.what} that held nothing new ({self.requests} requests for "
                f"{self.rows} rows, the last {self.empty_run} with no row not already read; at most "
                f"{EMPTY_PAGES_ALLOWED} such pages in a row and {allowed} requests in all expected): the sync "
                "stops here and the next one resumes from the last checkpoint; report it to W&B if it persists"
            )


@dataclass(frozen=True)
class Page:
    """One answer of a listing: the connection, its edges, the nodes W&B did not hide, and whether more follow."""

    connection: dict
    edges: list[dict]
    nodes: list[dict]
    more: bool
    end_cursor: str | None


class Reader:
    """The requests of one listing: each page read (or taken from a shared first request) and checked, the budget
    of pages without progress, and the server's cursors to follow."""

    def __init__(self, client: WandbClient, document: str, path: tuple[str, ...], what: str):
        self.client, self.document, self.path, self.what = client, document, path, what
        self.budget = PageBudget(what)
        self.cursors = Cursors(what)

    def read(self, variables: Mapping[str, Any], first: dict | None = None) -> Page:
        """The page `variables` ask for, or `first` when it came with another request."""
        connection = first if first is not None else self.request(variables)
        edges = field(connection, "edges", self.what) or []
        page_info = field(connection, "pageInfo", self.what)
        with expect_shape(self.what):
            nodes = [edge["node"] for edge in edges if edge.get("node") is not None]
            end = page_info.get("endCursor") or (edges[-1].get("cursor") if edges else None)
        return Page(connection, edges, nodes, bool(field(page_info, "hasNextPage", self.what)), end)

    def request(self, variables: Mapping[str, Any]) -> dict:
        return dig(self.client.execute(self.document, variables, self.what), self.path, self.what)

    def after(self, page: Page) -> str:
        """The cursor of the page after `page`: new, or the listing cannot end."""
        return self.cursors.next(page.end_cursor)

    def restart(self) -> None:
        """A new request that starts from a position of its own (not a cursor): the cursors start over."""
        self.cursors = Cursors(self.what)


def connections(
    client: WandbClient,
    document: str,
    variables: Mapping[str, Any],
    path: tuple[str, ...],
    what: str,
    per_page: int,
    first: dict | None = None,
) -> Iterator[Page]:
    """Each page of a listing, following the server's cursors; `first` is its first page when it came with others."""
    reader, cursor = Reader(client, document, path, what), None
    while True:
        page = reader.read({**variables, "cursor": cursor, "perPage": per_page}, first)
        first = None
        reader.budget.spend(len(page.nodes))
        yield page
        if not page.more:
            return
        cursor = reader.after(page)


def pages(
    client: WandbClient, document: str, variables: Mapping[str, Any], path: tuple[str, ...], what: str, per_page: int
) -> Iterator[list[dict]]:
    """Yield each page's nodes; ends on `hasNextPage: false`, and a cursor that does not move is an error."""
    for page in connections(client, document, variables, path, what, per_page):
        yield [field(edge, "node", what) for edge in page.edges]


def listing(
    client: WandbClient,
    document: str,
    variables: Mapping[str, Any],
    path: tuple[str, ...],
    what: str,
    per_page: int,
    first: dict | None = None,
) -> Iterator[tuple[int, list[dict]]]:
    """Pages of an offset-paged listing, each with the number of the reading it belongs to; a reading that may have
    changed under itself is followed by another.

    Offset pages shift when something is deleted or added while they page: a live item can slip past the page
    boundary unread (and a sweep would mark it deleted). A reading is whole when it was one page (a snapshot), when
    its `totalCount` held on every page and equals the distinct ids read, or when it holds every id of the reading
    before it (items only added meanwhile; a live item shifted out would be missing from it). Edges without a node
    (W&B may hide one) are left out.
    """
    previous: set[str] | None = None
    for reading in range(LISTING_ATTEMPTS):
        totals, listed, read = set(), set(), 0
        for page in connections(client, document, variables, path, what, per_page, first if reading == 0 else None):
            read += 1
            with expect_shape(what):
                totals.add(page.connection.get("totalCount"))
                listed.update(node["id"] for node in page.nodes)
            yield reading, page.nodes
        counted = len(totals) == 1 and len(listed) == next(iter(totals))
        if read == 1 or counted or (previous is not None and listed >= previous):
            return
        previous = listed
    raise SourceError(
        f"{what} kept changing while they were listed ({LISTING_ATTEMPTS} readings): nothing after the last "
        "checkpoint is kept and the next sync lists them again"
    )


def whole(
    client: WandbClient,
    document: str,
    variables: Mapping[str, Any],
    path: tuple[str, ...],
    what: str,
    per_page: int,
    first: dict | None = None,
) -> list[dict]:
    """The nodes of a listing's last, whole reading; `first` is its first page when it came with others."""
    nodes: list[dict] = []
    current = 0
    for reading, page in listing(client, document, variables, path, what, per_page, first):
        if reading != current:
            nodes, current = [], reading
        nodes.extend(page)
    return nodes


def wire_time(value: datetime) -> str:
    """W&B's own timestamp format (naive UTC, seconds), which its run filters compare against."""
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def created(node: dict, where: Where) -> datetime:
    """A run's `createdAt`, which W&B always sends."""
    return required_time(node.get("createdAt"), f"run {where.project_id}/{node.get('name')} createdAt")


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
        reader = Reader(self.client, self.document, ("project", "runs"), f"the runs of {self.where.project_id}")
        variables = self.variables()
        while True:
            page = reader.read(variables, first)
            first = None
            with expect_shape(reader.what):
                fresh = [n for n in page.nodes if not self._seen(n)]
                reader.budget.spend(len(fresh))
                self._full_page = max(self._full_page, len(page.nodes))
                anchored = self._block_step(fresh, page.more) if self.in_block else self._step(page, fresh)
            yield RunPage(fresh, self.position, tuple(sorted(self.boundary)))
            if anchored:
                variables = self.variables()
                reader.restart()
            elif page.more:
                self.crossed_hidden = True
                variables = {**variables, "cursor": reader.after(page)}
            else:
                return

    def _step(self, page: Page, fresh: list[dict]) -> bool:
        """Whether the next request starts from a new position: after new runs, from the newest; after a page as
        full as any seen holding only runs at the position (more runs in one second than a page holds), that
        second by the ids not yet read. A page short of runs not yet read (the rest hidden) is followed by the
        server's cursor."""
        if self._advance(fresh):
            return page.more
        self.in_block = page.more and bool(page.nodes) and len(page.nodes) >= self._full_page
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
