"""`sweeps`: one row per hyperparameter sweep, per project: the listing rides in the project's first request, and a
sweep that is new, open or changed costs one more request, for its best run.

A project holds few sweeps (a page of 100 is the whole listing almost always), so every sync reads the listing and
emits a sweep only when it is new, was open when last read or is open now (its run count and best run move while
it runs), or any of its timestamps moved since the last walk began. W&B does not rank a sweep's runs in the
listing, so its best run is found as the client's `Sweep.best_run()` finds it: its runs ordered by the sweep's
metric, the first one. A server that cannot order a sweep's runs (`Sweep.runs(order:)`, `optional.py`) is not asked:
the best run stays empty.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..client import WandbClient
from ..convert import json_object, number, parse_time, required_time, yaml_object
from ..optional import Lacking
from ..paging import whole
from ..shapes import Gone, dig, expect_shape
from ..state import WalkState
from ..walker import CHANGE_SKEW, Cost, Departed, Fetch, Guess, LiveKey, Part, Table, Walker, Where

if TYPE_CHECKING:
    from ..survey import Survey

SWEEPS_PER_PAGE = 100


OPEN_STATES = ("RUNNING", "PENDING")


SWEEPS_PATH = ("project", "sweeps")


# The client's `SweepFragment` (what `api.sweep()` and `project.sweeps()` read) plus `heartbeatAt`, a Sweep field of
# the client's legacy sweep query; `config` is the sweep's YAML.
SWEEP_FRAGMENT = """
fragment SweepFragment on Sweep {
  id name displayName method state description bestLoss config createdAt updatedAt heartbeatAt runCount
  runCountExpected
}
"""


SWEEPS_CONNECTION = "pageInfo { endCursor hasNextPage } edges { node { ...SweepFragment } }"


SWEEPS_QUERY = (
    """
query GetSweeps($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50) {
  project(name: $project, entityName: $entity) {
    sweeps(after: $cursor, first: $perPage) { """
    + SWEEPS_CONNECTION
    + """ }
  }
}
"""
    + SWEEP_FRAGMENT
)


# A sweep's best run, as `Sweep.best_run()` finds it: its runs ordered by the metric, the first one. Unordered, the
# first run is no best run: a server without `Sweep.runs(order:)` is not asked.
SWEEP_BEST_RUN = """
query SweepBestRun($project: String!, $entity: String!, $sweep: String!, $order: String)
  @optional(name: "Sweep.runs(order:)") {
  project(name: $project, entityName: $entity) {
    sweep(sweepName: $sweep) { runs(first: 1, order: $order) { edges { node { name summaryMetrics } } } }
  }
}
"""


# The sweep ids only: the reconcile's sweep.
SWEEP_KEYS = """
query SweepKeys($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50) {
  project(name: $project, entityName: $entity) {
    sweeps(after: $cursor, first: $perPage) { pageInfo { endCursor hasNextPage } edges { node { id name createdAt } } }
  }
}
"""


def sweep_row(node: dict, where: Where) -> dict[str, Any]:
    """`bestRun` is not W&B's: the sweep walk adds the run its own listing ranks first by the sweep's metric."""
    sweep_id = node["name"]
    what = f"sweep {where.project_id}/{sweep_id}"
    config = yaml_object(node.get("config"), f"{what} config")
    metric = config.get("metric") if isinstance(config.get("metric"), dict) else {}
    best = node.get("bestRun") or {}
    best_summary = json_object(best.get("summaryMetrics"), f"{what} best run summaryMetrics") if best else {}
    return {
        "project_id": where.project_id,
        "sweep_id": sweep_id,
        "storage_id": node.get("id"),
        "entity": where.entity,
        "project": where.project,
        "url": f"{where.app_url}/{where.project_id}/sweeps/{sweep_id}",
        "name": node.get("displayName") or sweep_id,
        "display_name": node.get("displayName"),
        "state": node.get("state"),
        "method": node.get("method") or config.get("method"),
        "description": node.get("description") or None,
        "metric_name": metric.get("name"),
        "metric_goal": metric.get("goal"),
        "config": config,
        "best_run_id": best.get("name"),
        "best_metric_value": number(best_summary.get(metric.get("name"))) if best else None,
        "best_loss": number(node.get("bestLoss")),
        "run_count": node.get("runCount"),
        "expected_run_count": node.get("runCountExpected"),
        "created_at": parse_time(node.get("createdAt"), f"{what} createdAt"),
        "updated_at": parse_time(node.get("updatedAt"), f"{what} updatedAt"),
        "heartbeat_at": parse_time(node.get("heartbeatAt"), f"{what} heartbeatAt"),
    }


TABLE = Table(
    "sweeps",
    ("project_id", "sweep_id"),
    {
        "project_id": "STRING",
        "sweep_id": "STRING",
        "storage_id": "STRING",
        "entity": "STRING",
        "project": "STRING",
        "url": "STRING",
        "name": "STRING",
        "display_name": "STRING",
        "state": "STRING",
        "method": "STRING",
        "description": "STRING",
        "metric_name": "STRING",
        "metric_goal": "STRING",
        "config": "JSON",
        "best_run_id": "STRING",
        "best_metric_value": "DOUBLE",
        "best_loss": "DOUBLE",
        "run_count": "LONG",
        "expected_run_count": "LONG",
        "created_at": "UTC_DATETIME",
        "updated_at": "UTC_DATETIME",
        "heartbeat_at": "UTC_DATETIME",
        "synced_at": "UTC_DATETIME",
    },
    sweep_row,
)


@dataclass
class SweepsState(WalkState):
    """Besides the cursor: the names of the sweeps it wrote (a project holds few), and a digest of each one's row as
    last written, so a sweep read again (open, changed, or in a reconcile) is written only when its row changed.
    The listing is whole at every sync, so a sweep it no longer holds is deleted at once."""

    digests: dict[str, str] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    # Each sweep's run count when last written: a finished sweep whose count moved (a run of it deleted, or back)
    # is read again, its best run too.
    run_counts: dict[str, int] = field(default_factory=dict)


class SweepWalker(Walker[SweepsState]):
    name: ClassVar[str] = TABLE.name
    tables: ClassVar[tuple[Table, ...]] = (TABLE,)
    state_type: ClassVar[type[WalkState]] = SweepsState

    def start(self, now: datetime, full: bool) -> Fetch:
        walk = self.state.begin(now, full)
        since = None if walk.full or self.state.read_at is None else self.state.read_at - CHANGE_SKEW
        emitted, was_open, known = self.state.emitted, set(self.state.open.names), set(self.state.names)
        counts = dict(self.state.run_counts)

        def fetch(first: dict | None) -> Iterator[dict | Departed]:
            what = f"the sweeps of {self.where.project_id}"
            variables = {"entity": self.where.entity, "project": self.where.project}
            listed = set()
            for node in whole(self.client, SWEEPS_QUERY, variables, SWEEPS_PATH, what, SWEEPS_PER_PAGE, first):
                with expect_shape(what):
                    listed.add(node["name"])
                    new = emitted.is_new(node["name"], _created(node, self.where))
                    wanted = since is None or new or node["name"] in was_open or _open(node) or _changed(node, since)
                    wanted = wanted or counts.get(node["name"], node.get("runCount")) != node.get("runCount")
                if wanted:
                    yield {**node, "bestRun": self._best_run(node)}
            if known - listed:
                yield Departed([{"project_id": self.where.project_id, "sweep_id": n} for n in sorted(known - listed)])

        return fetch

    def first_page(self) -> Part:
        return Part(
            f"sweeps: sweeps(first: $sweeps_perPage) {{ {SWEEPS_CONNECTION} }}",
            {"sweeps_perPage": ("Int", SWEEPS_PER_PAGE)},
            SWEEP_FRAGMENT,
        )

    def _best_run(self, node: dict) -> dict | None:
        what = f"the best run of sweep {self.where.project_id}/{node['name']}"
        metric = yaml_object(node.get("config"), f"sweep {self.where.project_id}/{node['name']} config").get("metric")
        if not isinstance(metric, dict) or not metric.get("name") or not node.get("runCount"):
            return None
        order = ("-" if metric.get("goal") == "maximize" else "+") + f"summary_metrics.{metric['name']}"
        variables = {"entity": self.where.entity, "project": self.where.project, "sweep": node["name"], "order": order}
        try:
            path = ("project", "sweep", "runs")
            runs = dig(self.client.execute(SWEEP_BEST_RUN, variables, what), path, what)
        except Gone as gone:
            if gone.key == "project":
                raise
            return None  # deleted or hidden since the listing: its row is swept out like any deleted sweep's
        except Lacking:
            return None
        with expect_shape(what):
            edges = runs.get("edges") or []
            best = edges[0]["node"] if edges and edges[0].get("node") else None
            scored = best and number(json_object(best.get("summaryMetrics"), what).get(metric["name"]))
        return best if scored is not None and math.isfinite(scored) else None

    def apply(self, node: dict | Departed) -> None:
        if isinstance(node, Departed):
            gone = [key for key in node.gone if key["sweep_id"] in self.state.names]
            for key in gone:
                self.delete(TABLE, key)
                self.state.names.remove(key["sweep_id"])
                self.state.digests.pop(key["sweep_id"], None)
                self.state.run_counts.pop(key["sweep_id"], None)
            self.tally(TABLE, -len(gone))
            self.checkpoint()
            return
        with expect_shape(f"the sweeps of {self.where.project_id}"):
            name, created = node["name"], _created(node, self.where)
            digest = TABLE.digest(node, self.where)
            if _open(node):
                self.state.walk.open.add(name, created)
            self.state.walk.newest.saw(name, created)
        if isinstance(node.get("runCount"), int):
            self.state.run_counts[name] = node["runCount"]
        if self.state.digests.get(name) != digest:
            new = name not in self.state.names
            self.emit(TABLE, node, self.where, new)
            self.emitted += 1
            self.state.digests[name] = digest
            if new:
                self.state.names.append(name)
        self.checkpoint()

    @classmethod
    def live_keys(cls, client: WandbClient, where: Where, state: SweepsState) -> Iterator[LiveKey]:
        what = f"the sweep ids of {where.project_id}"
        variables = {"entity": where.entity, "project": where.project}
        for node in whole(client, SWEEP_KEYS, variables, SWEEPS_PATH, what, SWEEPS_PER_PAGE):
            with expect_shape(what):
                yield LiveKey(TABLE, {"project_id": where.project_id, "sweep_id": node["name"]})

    @classmethod
    def known_keys(cls, where: Where, state: SweepsState) -> Iterator[LiveKey]:
        for name in state.names:
            yield LiveKey(TABLE, {"project_id": where.project_id, "sweep_id": name})

    @classmethod
    def record(cls, where: Where, state: SweepsState, keys: list[LiveKey]) -> None:
        state.names = sorted({key.key["sweep_id"] for key in keys})
        state.digests = {name: digest for name, digest in state.digests.items() if name in state.names}
        state.run_counts = {name: count for name, count in state.run_counts.items() if name in state.names}


def _created(node: dict, where: Where) -> datetime:
    return required_time(node.get("createdAt"), f"sweep {where.project_id}/{node.get('name')} createdAt")


def _open(node: dict) -> bool:
    return node.get("state") in OPEN_STATES


def _changed(node: dict, since: datetime) -> bool:
    stamps = [parse_time(node.get(k), f"sweep {node['name']} {k}") for k in ("createdAt", "updatedAt", "heartbeatAt")]
    return max(s for s in stamps if s) >= since


WALKER = SweepWalker
OPTIONS = ()


COST = Cost(
    requests="0 extra (the listing rides in the same request); 1 per sweep that is new, changed or open (its best run)",
    rows="new and changed sweeps only (a digest of each is kept); deleted sweeps at the next sync",
    reconcile="re-reads every sweep, writes the changed ones; 1 request per project for ids; deletes the gone",
)


def estimate(survey: Survey) -> Guess:
    """Each sweep is a row, written again when it changes: at most every sweep in a month (their ids, one request
    per project)."""
    where = survey.where
    what = f"the sweep ids of {where.project_id}"
    variables = {"entity": where.entity, "project": where.project}
    count = len(whole(survey.client, SWEEP_KEYS, variables, SWEEPS_PATH, what, SWEEPS_PER_PAGE))
    return Guess(count, count)
