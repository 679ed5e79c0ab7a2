"""`run_fields`: one row per run. A per-project cursor on `createdAt`, open runs re-read until they end, recently
active runs re-read.

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

The listing brings each run's config, summary, system metrics and hardware (`runInfo`), so no run costs a request of
its own, and the child walks (`run_config`, `run_summary`, `run_history`, `run_system_metrics`) read what they need
of each page of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from ..client import WandbClient
from ..convert import (
    FINAL_STATES,
    GPU_KEY,
    OPEN_STATES,
    SUMMARY_INTERNAL_KEYS,
    first_whole,
    json_object,
    number,
    parse_time,
    unwrap_config,
)
from ..paging import CreatedAtPager, RunPage, created, wire_time
from ..shapes import expect_shape
from ..state import Cursor, WalkState, pack, unpack
from ..walker import CHANGE_SKEW, Cost, Fetch, Guess, LiveKey, Part, Table, Walker, Where

if TYPE_CHECKING:
    from ..survey import Survey


HEARTBEAT_WINDOW = timedelta(hours=1)


RUNS_PER_PAGE = 500


KEYS_PER_PAGE = 1000


# The client's `Runs` query with `RunFragment` (what `api.runs(..., lazy=False)` sends): config, summary and
# system metrics arrive with the listing, so no run costs a request of its own. `updatedAt` and `host` are added
# (Run fields the client's ordering code and other W&B exporters read); `runCount` is dropped (a second database
# query per page, and W&B rate-limits by database time). `runInfo` is the hardware and environment W&B parsed from
# the run's `wandb-metadata.json` (the fields of the client's internal `RunInfo` query; W&B's web app reads it in
# its runs listing), so GPU counts cost no request per run. All three are optional.
RUN_INFO = (
    'runInfo @optional(name: "Run.runInfo") '
    "{ program args os python colab executable codeSaved cpuCount gpuCount gpu codePath git { remote commit } }"
)


RUN_FRAGMENT = f"""
fragment RunFragment on Run {{
  id tags name displayName sweepName state config group jobType commit readOnly createdAt
  updatedAt @optional(name: "Run.updatedAt") heartbeatAt host @optional(name: "Run.host")
  description notes systemMetrics summaryMetrics historyLineCount user {{ name username }} historyKeys
  {RUN_INFO}
}}
"""


RUNS_CONNECTION = "edges { node { ...RunFragment } cursor } pageInfo { endCursor hasNextPage }"


RUNS = (
    """
query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50, $order: String,
           $filters: JSONString) {
  project(name: $project, entityName: $entity) {
    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) { """
    + RUNS_CONNECTION
    + """ }
  }
}
"""
    + RUN_FRAGMENT
)


# The same listing with nothing but what identifies and orders a run: the reconcile's sweep.
RUN_KEYS = """
query RunKeys($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50, $order: String,
              $filters: JSONString) {
  project(name: $project, entityName: $entity) {
    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
      edges { node { name createdAt } cursor }
      pageInfo { endCursor hasNextPage }
    }
  }
}
"""


def run_row(node: dict, where: Where) -> dict[str, Any]:
    run_id = node["name"]
    what = f"run {where.project_id}/{run_id}"
    everything = json_object(node.get("summaryMetrics"), f"{what} summaryMetrics")
    summary = {k: v for k, v in everything.items() if k not in SUMMARY_INTERNAL_KEYS}
    system = json_object(node.get("systemMetrics"), f"{what} systemMetrics")
    history_keys = node.get("historyKeys") or {}
    info = node.get("runInfo") or {}
    git = info.get("git") or {}
    wandb_internal = everything.get("_wandb")
    runtime = number(summary.get("_runtime"))
    if runtime is None and isinstance(wandb_internal, dict):
        runtime = number(wandb_internal.get("runtime"))
    gpus = info.get("gpuCount")
    if gpus is None and system:
        gpus = len({match[1] for key in system if (match := GPU_KEY.match(key))})
    heartbeat = parse_time(node.get("heartbeatAt"), f"{what} heartbeatAt")
    return {
        "project_id": where.project_id,
        "run_id": run_id,
        "storage_id": node.get("id"),
        "name": node.get("displayName"),
        "state": node.get("state"),
        "entity": where.entity,
        "project": where.project,
        "path": f"{where.project_id}/{run_id}",
        "url": f"{where.app_url}/{where.project_id}/runs/{run_id}",
        "user": (node.get("user") or {}).get("username"),
        "tags": node.get("tags") or [],
        "group": node.get("group"),
        "job_type": node.get("jobType"),
        "sweep_name": node.get("sweepName"),
        "notes": node.get("notes") or None,
        "commit": node.get("commit"),
        "host": node.get("host"),
        "read_only": node.get("readOnly"),
        "created_at": parse_time(node.get("createdAt"), f"{what} createdAt"),
        "updated_at": parse_time(node.get("updatedAt"), f"{what} updatedAt"),
        "heartbeat_at": heartbeat,
        "ended_at": heartbeat if node.get("state") in FINAL_STATES else None,
        "runtime_seconds": runtime,
        "gpu_count": gpus,
        "gpu_hours": runtime * gpus / 3600 if runtime is not None and gpus is not None else None,
        "gpu_type": info.get("gpu") or None,
        "cpu_count": info.get("cpuCount"),
        "os": info.get("os") or None,
        "python_version": info.get("python") or None,
        "program": info.get("program") or None,
        "code_path": info.get("codePath") or None,
        "args": info.get("args"),
        "executable": info.get("executable") or None,
        "git_remote": git.get("remote") or None,
        "git_commit": git.get("commit") or node.get("commit") or None,
        "last_step": first_whole(history_keys.get("lastStep"), summary.get("_step")),
        "history_line_count": node.get("historyLineCount"),
        "config": unwrap_config(node.get("config"), f"{what} config"),
        "summary": summary,
        "system_metrics": system,
    }


TABLE = Table(
    "run_fields",
    ("project_id", "run_id"),
    {
        "project_id": "STRING",
        "run_id": "STRING",
        "storage_id": "STRING",
        "name": "STRING",
        "state": "STRING",
        "entity": "STRING",
        "project": "STRING",
        "path": "STRING",
        "url": "STRING",
        "user": "STRING",
        "tags": "JSON",
        "group": "STRING",
        "job_type": "STRING",
        "sweep_name": "STRING",
        "notes": "STRING",
        "commit": "STRING",
        "host": "STRING",
        "read_only": "BOOLEAN",
        "created_at": "UTC_DATETIME",
        "updated_at": "UTC_DATETIME",
        "heartbeat_at": "UTC_DATETIME",
        "ended_at": "UTC_DATETIME",
        "runtime_seconds": "DOUBLE",
        "gpu_count": "LONG",
        "gpu_hours": "DOUBLE",
        "gpu_type": "STRING",
        "cpu_count": "LONG",
        "os": "STRING",
        "python_version": "STRING",
        "program": "STRING",
        "code_path": "STRING",
        "args": "JSON",
        "executable": "STRING",
        "git_remote": "STRING",
        "git_commit": "STRING",
        "last_step": "LONG",
        "history_line_count": "LONG",
        "config": "JSON",
        "summary": "JSON",
        "system_metrics": "JSON",
        "synced_at": "UTC_DATETIME",
    },
    run_row,
)


@dataclass
class RunsState(WalkState):
    """Besides the cursor: `names`, every run of the project this walk wrote and the sweep has not deleted,
    packed (a few bytes a run): what a reconcile compares with W&B's listing to delete exactly what is gone."""

    names: str = ""


class RunWalker(Walker[RunsState]):
    """One walk over one project's runs, emitting rows and moving the walk's position with every page."""

    name: ClassVar[str] = "run_fields"
    tables: ClassVar[tuple[Table, ...]] = (TABLE,)
    state_type: ClassVar[type[WalkState]] = RunsState

    def start(self, now: datetime, full: bool) -> Fetch:
        self.names = set(unpack(self.state.names))
        self.walk = self.state.begin(now, full or self.state.emitted.created is None)
        self.pager = CreatedAtPager(
            self.client, RUNS, self.where, None if self.walk.full else self._filters(), RUNS_PER_PAGE
        )
        self.pager.position = self.walk.position.created
        self.pager.boundary = set(self.walk.position.ids)
        return self.pager.pages

    def first_page(self) -> Part:
        variables = self.pager.variables()
        return Part(
            f"{self.name}: runs(filters: ${self.name}_filters, first: ${self.name}_perPage, "
            f"order: ${self.name}_order) {{ {RUNS_CONNECTION} }}",
            {
                f"{self.name}_filters": ("JSONString", variables["filters"]),
                f"{self.name}_perPage": ("Int", variables["perPage"]),
                f"{self.name}_order": ("String", variables["order"]),
            },
            RUN_FRAGMENT,
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
            self.emit(TABLE, node, self.where, name not in self.names)
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
            yield LiveKey(TABLE, {"project_id": where.project_id, "run_id": name})

    @classmethod
    def known_keys(cls, where: Where, state: RunsState) -> Iterator[LiveKey]:
        for name in unpack(state.names):
            yield LiveKey(TABLE, {"project_id": where.project_id, "run_id": name})

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
        pager = CreatedAtPager(client, RUN_KEYS, where, None, KEYS_PER_PAGE)
        for page in pager.pages():
            for node in page.nodes:
                if node["name"] not in listed:
                    listed[node["name"]] = created(node, where)
                    yield node["name"], listed[node["name"]]
        if not pager.crossed_hidden:
            return


WALKER = RunWalker
OPTIONS = ()


COST = Cost(
    requests="0 extra: its first page rides in each project's one first request",
    rows="new runs, open runs whose state or data moved, runs active within the heartbeat window",
    reconcile="re-reads and writes every run; lists ids, 1 request per 1,000 runs, and deletes the runs W&B no "
    "longer has",
)


def estimate(survey: Survey) -> Guess:
    """Each run is a row, written again at every reconcile."""
    return Guess(len(survey.runs), len(survey.runs))
