"""The bill before the first sync: how many rows a first sync writes to each table, and how many rows a typical
month then keeps active (what Fivetran bills: monthly active rows), read from W&B's listings without syncing.

What it reads, per project the configuration selects: the runs' lean listing (name, state, times and
`historyLineCount`: 1,000 runs a request), the config and summary of a sample of runs spread over that listing
and the system streams of a smaller sample (one request each: how many keys and samples a run holds, on average),
the artifact collections with each collection's version probe (version counts, creators, users: the same
request a sync starts with), and the sweep ids; for the entity, the projects and the members. Exact counts where
a listing says them; sampled averages times run counts where it cannot (flagged `sampled`).

A typical month is the last 30 days as W&B shows them. A reconcile (daily by default) re-reads every run, version,
sweep, member and project and writes each row again, so those tables are active whole every month; history,
system metrics, config and summary keys are written once and then only when they change, so their month is
what the runs active in the last 30 days logged (a run's history lines spread evenly over its active span).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import queries
from .artifacts import sequences
from .client import WandbClient, dig, expect_shape
from .convert import flatten, parse_time, summary_object, unwrap_config
from .runs import OPEN_STATES
from .settings import Settings
from .tables import Where
from .users import members

MONTH = timedelta(days=30)
SAMPLED_RUNS = 50
SAMPLED_STREAMS = 8
SYSTEM_SAMPLES = 500

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

SAMPLED_DOCUMENTS = """
query EstimateDocuments($project: String!, $entity: String!, $filters: JSONString, $perPage: Int) {
  project(name: $project, entityName: $entity) {
    runs(filters: $filters, first: $perPage) { edges { node { name config summaryMetrics } } }
  }
}
"""

# Which switches cut each table's rows, as the configuration names them.
SWITCHES = {
    "projects": "projects, exclude_projects",
    "run_fields": "projects, exclude_projects",
    "run_config": "run_config: false",
    "run_summary": "run_summary: false",
    "artifacts": "projects, exclude_projects",
    "sweeps": "projects, exclude_projects",
    "users": "(one row per member)",
    "run_history": "history: false, history_keys, history_max_steps",
    "run_system_metrics": "system_metrics: false",
    "artifact_lineage": "lineage: false",
}


@dataclass
class Tally:
    first_sync_rows: float = 0.0
    monthly_active_rows: float = 0.0
    sampled: bool = False

    def add(self, first: float, monthly: float, sampled: bool = False) -> None:
        self.first_sync_rows += first
        self.monthly_active_rows += monthly
        self.sampled |= sampled


@dataclass
class Estimate:
    """Per table: rows a first sync writes, monthly active rows of a typical month, and whether sampled."""

    tables: dict[str, Tally] = field(default_factory=lambda: {name: Tally() for name in SWITCHES})
    requests: int = 0

    def as_json(self) -> dict[str, dict[str, int]]:
        return {
            name: {"first_sync_rows": round(t.first_sync_rows), "monthly_active_rows": round(t.monthly_active_rows)}
            for name, t in self.tables.items()
        }


def estimate(client: WandbClient, settings: Settings, now: datetime) -> Estimate:
    """Read the entity's listings and estimate every table; nothing is written."""
    result = Estimate()
    where = Where(settings.entity, "", now)
    listed = client.projects()
    if not listed:
        client.check_access()
    selected = [name for name in listed if settings.wants(name)]
    settings.unmatched_globs(set(listed))
    settings.check_selection(list(listed), selected)
    result.tables["projects"].add(len(selected), len(selected))
    result.tables["users"].add(*[len(members(client, where, emails=False))] * 2)
    for name in selected:
        project = Where(settings.entity, "", now, name)
        _runs(client, settings, project, now, result)
        _artifacts(client, settings, project, now, result)
        _sweeps(client, project, result)
    return result


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


def _runs(client: WandbClient, settings: Settings, where: Where, now: datetime, result: Estimate) -> None:
    runs = list(_lean_runs(client, where))
    start = now - MONTH
    active = [run for run in runs if run.active_since(start)]
    result.tables["run_fields"].add(len(runs), len(runs))
    if settings.history:
        cap = settings.history_max_steps
        first = sum(min(run.lines, cap) for run in runs)
        monthly = sum(min(run.lines, cap) * run.share_of(start, now) for run in runs)
        result.tables["run_history"].add(first, monthly, sampled=bool(settings.history_keys))
    if not runs:
        return
    sample = _spread(runs, SAMPLED_RUNS)
    config, summary = _sampled_leaves(client, where, [run.name for run in sample])
    documents = (("run_config", config, settings.run_config), ("run_summary", summary, settings.run_summary))
    for name, per_run, on in documents:
        if on:
            result.tables[name].add(per_run * len(runs), per_run * len(active), sampled=len(sample) < len(runs))
    if settings.system_metrics:
        streams = _spread(runs, SAMPLED_STREAMS)
        per_run = _sampled_stream(client, where, [run.name for run in streams])
        result.tables["run_system_metrics"].add(
            per_run * len(runs), per_run * len(active), sampled=len(streams) < len(runs)
        )


def _lean_runs(client: WandbClient, where: Where) -> Iterator[LeanRun]:
    what = f"the runs of {where.project_id}"
    variables = {"entity": where.entity, "project": where.project}
    for page in client.pages(LEAN_RUNS, variables, ("project", "runs"), what, 1000):
        with expect_shape(what):
            for node in (node for node in page if node):
                created = parse_time(node["createdAt"], f"run {node['name']} createdAt")
                heartbeat = parse_time(node.get("heartbeatAt"), f"run {node['name']} heartbeatAt") or created
                lines = node.get("historyLineCount") or 0
                yield LeanRun(node["name"], node.get("state"), created, heartbeat, int(lines))


def _spread(items: list, count: int) -> list:
    """Up to `count` items evenly spread over `items` (first, last and between), so a sample is not all new."""
    if len(items) <= count:
        return list(items)
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def _sampled_leaves(client: WandbClient, where: Where, names: list[str]) -> tuple[float, float]:
    """The mean number of config and summary keys (flattened as run_config and run_summary flatten them)."""
    what = f"a sample of the runs of {where.project_id}"
    variables = {
        "entity": where.entity,
        "project": where.project,
        "filters": json.dumps({"name": {"$in": names}}),
        "perPage": len(names),
    }
    edges = dig(client.execute(SAMPLED_DOCUMENTS, variables, what), ("project", "runs"), what)
    config = summary = 0
    with expect_shape(what):
        nodes = [edge["node"] for edge in edges["edges"] if edge.get("node")]
        for node in nodes:
            config += sum(1 for _ in flatten(unwrap_config(node.get("config"), what)))
            summary += sum(1 for _ in flatten(summary_object(node.get("summaryMetrics"), what)))
    return (config / len(nodes), summary / len(nodes)) if nodes else (0.0, 0.0)


def _sampled_stream(client: WandbClient, where: Where, names: list[str]) -> float:
    """The mean number of system samples W&B serves a run (at most 500): one request for a handful of runs."""
    what = f"the system metrics of a sample of the runs of {where.project_id}"
    variables: dict[str, Any] = {"entity": where.entity, "project": where.project, "samples": SYSTEM_SAMPLES}
    variables |= {f"run{i}": name for i, name in enumerate(names)}
    project = dig(client.execute(queries.system_events(len(names)), variables, what), ("project",), what)
    with expect_shape(what):
        counts = [len(project[f"run{i}"]["events"]) for i in range(len(names)) if project.get(f"run{i}")]
    return sum(counts) / len(counts) if counts else 0.0


def _artifacts(client: WandbClient, settings: Settings, where: Where, now: datetime, result: Estimate) -> None:
    """Versions from each collection's probe count; edges from its probed versions (creator, user count), scaled
    to the collection's count when it holds more versions than the probe."""
    versions = edges = recent_edges = 0.0
    sampled = False
    for collection in sequences(client, where):
        with expect_shape(f"the artifact collections of {where.project_id}"):
            probe = collection["probe"]
            nodes = [edge["node"] for edge in probe["edges"] if edge.get("node")]
            total = probe.get("totalCount")
            total = len(nodes) if total is None else total
        scale = total / len(nodes) if nodes else 0.0
        sampled |= scale > 1
        versions += total
        for node in nodes:
            count = ((node.get("createdBy") or {}).get("__typename") == "Run") + _users(node)
            edges += count * scale
            created = parse_time(node.get("createdAt"), f"artifact {node.get('id')} createdAt")
            if created and created >= now - MONTH:
                recent_edges += count * scale
    result.tables["artifacts"].add(versions, versions, sampled=sampled)
    if settings.lineage:
        result.tables["artifact_lineage"].add(edges, recent_edges, sampled=sampled)


def _users(node: dict) -> int:
    count = (node.get("usedBy") or {}).get("totalCount")
    return int(count) if isinstance(count, int) and not isinstance(count, bool) else 0


def _sweeps(client: WandbClient, where: Where, result: Estimate) -> None:
    what = f"the sweep ids of {where.project_id}"
    variables = {"entity": where.entity, "project": where.project}
    sweeps = client.whole(queries.SWEEP_KEYS, variables, ("project", "sweeps"), what, 100)
    result.tables["sweeps"].add(len(sweeps), len(sweeps))


def rounded(value: float) -> str:
    """A count as people read an estimate: three significant figures."""
    if value < 1000:
        return f"{round(value):,}"
    digits = 2 - math.floor(math.log10(value))
    return f"{round(value, digits):,.0f}"
