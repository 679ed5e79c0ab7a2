"""What `make estimate` reads of a project before any sync, shared by the tables that estimate from it: the runs'
lean listing (name, state, times, `historyLineCount`: 1,000 runs a request), and whatever else a table module asks
for once and its siblings reuse (`memo`: the sample of config and summary documents both value tables count, the
artifact collections both artifact tables count). Each table module's `estimate(survey)` turns these into its
`Guess`; `estimate.py` adds them up.

A typical month is the last 30 days as W&B shows them. Every table writes a row again only when it changed (a
reconcile too), so a month is the runs active in the last 30 days and what they logged; versions, sweeps, members
and projects are counted whole (at most all of them change in a month; they are few beside the runs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, TypeVar

from .client import WandbClient
from .convert import OPEN_STATES, parse_time
from .paging import pages
from .settings import Settings
from .shapes import expect_shape
from .walker import Guess, Where

MONTH = timedelta(days=30)
T = TypeVar("T")

LEAN_RUNS = """
query EstimateRuns($project: String!, $entity: String!, $cursor: String, $perPage: Int = 1000) {
  project(name: $project, entityName: $entity) {
    runs(after: $cursor, first: $perPage, order: "+created_at") {
      edges { node { name state createdAt heartbeatAt historyLineCount } cursor }
      pageInfo { endCursor hasNextPage }
    }
  }
}
"""


@dataclass
class LeanRun:
    name: str
    state: str | None
    created: datetime
    heartbeat: datetime
    lines: int

    def share_of(self, start: datetime, end: datetime) -> float:
        """The part of the run's active span inside [start, end]: where its rows of that window come from."""
        span = (self.heartbeat - self.created).total_seconds()
        inside = (min(self.heartbeat, end) - max(self.created, start)).total_seconds()
        if span <= 0:
            return 1.0 if start <= self.created <= end else 0.0
        return max(0.0, min(1.0, inside / span))

    def active_since(self, start: datetime) -> bool:
        return self.heartbeat >= start or self.created >= start or self.state in OPEN_STATES


@dataclass
class Survey:
    """One scope's reads for the estimate (a project's, or the entity's when `where.project` is empty), each read
    at most once whichever tables ask."""

    client: WandbClient
    settings: Settings
    where: Where
    now: datetime
    _memo: dict[str, Any] = field(default_factory=dict)

    @property
    def month_start(self) -> datetime:
        return self.now - MONTH

    @cached_property
    def runs(self) -> list[LeanRun]:
        return list(self._lean_runs())

    @cached_property
    def active(self) -> list[LeanRun]:
        """The runs that logged in the last 30 days, or are still open."""
        return [run for run in self.runs if run.active_since(self.month_start)]

    def memo(self, key: str, read: Callable[[], T]) -> T:
        """`read()`'s answer, read once per survey: how two tables share a request."""
        if key not in self._memo:
            self._memo[key] = read()
        return self._memo[key]

    def sample(self, count: int) -> list[LeanRun]:
        """Up to `count` runs evenly spread over the listing (first, last and between), so a sample is not all new."""
        runs = self.runs
        if len(runs) <= count:
            return list(runs)
        step = (len(runs) - 1) / (count - 1)
        return [runs[round(i * step)] for i in range(count)]

    def per_run(self, mean: float, sampled: bool) -> Guess:
        """A mean number of rows per run, times the runs (first sync) and the runs active this month."""
        return Guess(mean * len(self.runs), mean * len(self.active), sampled)

    def _lean_runs(self) -> Iterator[LeanRun]:
        where = self.where
        what = f"the runs of {where.project_id}"
        variables = {"entity": where.entity, "project": where.project}
        for page in pages(self.client, LEAN_RUNS, variables, ("project", "runs"), what, 1000):
            with expect_shape(what):
                for node in (node for node in page if node):
                    created = parse_time(node["createdAt"], f"run {node['name']} createdAt")
                    heartbeat = parse_time(node.get("heartbeatAt"), f"run {node['name']} heartbeatAt") or created
                    lines = node.get("historyLineCount") or 0
                    yield LeanRun(node["name"], node.get("state"), created, heartbeat, int(lines))
