"""Sweeps, per project: the listing rides in the project's first request, and a sweep that is new, open or changed
costs one more request, for its best run.

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
from typing import ClassVar

from . import queries
from .client import Gone, WandbClient, dig, expect_shape
from .convert import json_object, number, parse_time, required_time, yaml_object
from .optional import Lacking
from .state import WalkState
from .tables import SWEEPS, Table, Where
from .walker import CHANGE_SKEW, Fetch, LiveKey, Part, Walker

SWEEPS_PER_PAGE = 100
OPEN_STATES = ("RUNNING", "PENDING")
SWEEPS_PATH = ("project", "sweeps")


@dataclass
class SweepsState(WalkState):
    """Besides the cursor: a digest of the row of each sweep open at the last walk, so an open sweep read again
    is emitted only when its row changed; and the names of the sweeps it wrote (a project holds few), for the
    reconcile's sweep."""

    digests: dict[str, str] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)


class SweepWalker(Walker[SweepsState]):
    name: ClassVar[str] = "sweeps"
    tables: ClassVar[tuple[Table, ...]] = (SWEEPS,)
    state_type: ClassVar[type[WalkState]] = SweepsState

    def start(self, now: datetime, full: bool) -> Fetch:
        walk = self.state.begin(now, full)
        self.digests: dict[str, str] = {}
        since = None if walk.full or self.state.read_at is None else self.state.read_at - CHANGE_SKEW
        emitted, was_open = self.state.emitted, set(self.state.open.names)

        def fetch(first: dict | None) -> Iterator[dict]:
            what = f"the sweeps of {self.where.project_id}"
            variables = {"entity": self.where.entity, "project": self.where.project}
            for node in self.client.whole(queries.SWEEPS, variables, SWEEPS_PATH, what, SWEEPS_PER_PAGE, first):
                with expect_shape(what):
                    new = emitted.is_new(node["name"], _created(node, self.where))
                    wanted = since is None or new or node["name"] in was_open or _open(node) or _changed(node, since)
                if wanted:
                    yield {**node, "bestRun": self._best_run(node)}

        return fetch

    def first_page(self) -> Part:
        return Part(
            f"sweeps: sweeps(first: $sweeps_perPage) {{ {queries.SWEEPS_CONNECTION} }}",
            {"sweeps_perPage": ("Int", SWEEPS_PER_PAGE)},
            queries.SWEEP_FRAGMENT,
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
            runs = dig(self.client.execute(queries.SWEEP_BEST_RUN, variables, what), path, what)
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

    def apply(self, node: dict) -> None:
        with expect_shape(f"the sweeps of {self.where.project_id}"):
            name, created = node["name"], _created(node, self.where)
            digest = SWEEPS.digest(node, self.where)
            if _open(node):
                self.state.walk.open.add(name, created)
                self.digests[name] = digest
            self.state.walk.newest.saw(name, created)
        if self.state.walk.full or self.state.digests.get(name) != digest:
            new = name not in self.state.names
            self.emit(SWEEPS, node, self.where, new)
            self.emitted += 1
            if new:
                self.state.names.append(name)
        self.checkpoint()

    def finish(self) -> None:
        self.state.digests = self.digests
        super().finish()

    @classmethod
    def live_keys(cls, client: WandbClient, where: Where, state: SweepsState) -> Iterator[LiveKey]:
        what = f"the sweep ids of {where.project_id}"
        variables = {"entity": where.entity, "project": where.project}
        for node in client.whole(queries.SWEEP_KEYS, variables, SWEEPS_PATH, what, SWEEPS_PER_PAGE):
            with expect_shape(what):
                yield LiveKey(SWEEPS, {"project_id": where.project_id, "sweep_id": node["name"]})

    @classmethod
    def known_keys(cls, where: Where, state: SweepsState) -> Iterator[LiveKey]:
        for name in state.names:
            yield LiveKey(SWEEPS, {"project_id": where.project_id, "sweep_id": name})

    @classmethod
    def record(cls, where: Where, state: SweepsState, keys: list[LiveKey]) -> None:
        state.names = sorted({key.key["sweep_id"] for key in keys})


def _created(node: dict, where: Where) -> datetime:
    return required_time(node.get("createdAt"), f"sweep {where.project_id}/{node.get('name')} createdAt")


def _open(node: dict) -> bool:
    return node.get("state") in OPEN_STATES


def _changed(node: dict, since: datetime) -> bool:
    stamps = [parse_time(node.get(k), f"sweep {node['name']} {k}") for k in ("createdAt", "updatedAt", "heartbeatAt")]
    return max(s for s in stamps if s) >= since
