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

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from fivetran_connector_sdk import Logging as log

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
from ..state import Cursor, WalkState
from ..walker import CHANGE_SKEW, Cost, Departed, Fetch, Guess, LiveKey, Part, Table, Walker, Where, row_digest
from .projects import UPDATED_FILTER

if TYPE_CHECKING:
    from ..survey import Survey


HEARTBEAT_WINDOW = timedelta(hours=1)

# The count of the runs up to the cursor, asked in the project's first request (its alias there).
COUNT = "run_fields_count"
DIGEST_BYTES = 4
# Whether a reconcile already said, this sync, that an edit moved no timestamp (`WandbClient.traits`; the projects
# listing keeps there whether the server filters runs by `updatedAt`, under `projects.UPDATED_FILTER`).
UNSIGNALLED = "unsignalled_edit"


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
    """Besides the cursor: `runs`, every run of the project this walk wrote and W&B has not deleted (what a count
    and a reconcile compare with W&B's listing to delete exactly what is gone), each with a 4-byte digest of its row
    as last written, in hex (a run read again is written only when its row changed; [] for a run written before
    digests); `uncounted`, how many runs W&B counts that it does not list to this key (hidden). The state packs
    the records of all the project's walks together (`state.RUNS`)."""

    runs: dict[str, list] = field(default_factory=dict)
    uncounted: int = 0


@dataclass(frozen=True)
class Recount(Departed):
    """The runs a count found gone (`gone`), and how many runs W&B counts but does not list (`uncounted`)."""

    uncounted: int = 0


class RunWalker(Walker[RunsState]):
    """One walk over one project's runs, emitting rows and moving the walk's position with every page."""

    name: ClassVar[str] = "run_fields"
    tables: ClassVar[tuple[Table, ...]] = (TABLE,)
    state_type: ClassVar[type[WalkState]] = RunsState

    def start(self, now: datetime, full: bool) -> Fetch:
        self.rows = self.state.runs
        resuming = self.state.walk is not None
        self.read_at = self.state.read_at
        self.walk = self.state.begin(now, full or self.state.emitted.created is None)
        self.pager = CreatedAtPager(
            self.client, RUNS, self.where, None if self.walk.full else self._filters(), RUNS_PER_PAGE
        )
        self.pager.position = self.walk.position.created
        self.pager.boundary = set(self.walk.position.ids)
        # Every run written so far was created at or before the cursor, once no walk is under way: a count of those
        # W&B holds that differs from theirs says some went (or came back) since.
        self.counted_until = None if resuming or self.walk.full else self.state.emitted.created
        known, uncounted = frozenset(self.rows), self.state.uncounted

        def fetch(first: dict | None) -> Iterator[RunPage | Recount]:
            read: set[str] = set()  # runs up to the cursor this walk read anyway (edited, or back since)
            for page in self.pager.pages(first):
                read.update(n["name"] for n in page.nodes if created(n, self.where) <= (self.counted_until or now))
                yield page
            counted, held = self.extras.get(COUNT), known | read
            if self.counted_until is not None and isinstance(counted, int) and counted != len(held) + uncounted:
                yield from self._recount(held, counted)

        return fetch

    def first_page(self) -> Part:
        variables = self.pager.variables()
        declared = {
            f"{self.name}_filters": ("JSONString", variables["filters"]),
            f"{self.name}_perPage": ("Int", variables["perPage"]),
            f"{self.name}_order": ("String", variables["order"]),
        }
        extras = {}
        if self.counted_until is not None:
            counted = json.dumps({"createdAt": {"$lte": wire_time(self.counted_until)}})
            declared[f"{self.name}_counted"] = ("JSONString", counted)
            extras[COUNT] = f"runCount(filters: ${self.name}_counted)"
        selection = f"{self.name}: runs(filters: ${self.name}_filters, first: ${self.name}_perPage, "
        selection += f"order: ${self.name}_order) {{ {RUNS_CONNECTION} }}"
        return Part(selection, declared, RUN_FRAGMENT, extras)

    def _recount(self, known: frozenset[str], counted: int) -> Iterator[RunPage | Recount]:
        """Worker: list the ids of the runs up to the cursor; read the ones come back (undeleted, moved here)
        whole, and say which are gone."""
        until = {"createdAt": {"$lte": wire_time(self.counted_until)}}
        listed = {name for name, _ in run_keys(self.client, self.where, until)}
        back = sorted(listed - known)
        position, boundary = self.pager.position, tuple(sorted(self.pager.boundary))
        for start in range(0, len(back), RUNS_PER_PAGE):
            names = back[start : start + RUNS_PER_PAGE]
            pager = CreatedAtPager(self.client, RUNS, self.where, {"name": {"$in": names}}, RUNS_PER_PAGE)
            for page in pager.pages():
                yield RunPage(page.nodes, position, boundary)
        gone = [{"project_id": self.where.project_id, "run_id": name} for name in sorted(known - listed)]
        yield Recount(gone, uncounted=max(0, counted - len(listed)))

    def apply(self, page: RunPage | Recount) -> None:
        if isinstance(page, Recount):
            self._depart(page)
            return
        with expect_shape(f"the runs of {self.where.project_id}"):
            self.emitted += sum(self._visit(node) for node in page.nodes)
        if page.position is not None:
            self.walk.position = Cursor(page.position, list(page.boundary))
        self.checkpoint()

    def _depart(self, recount: Recount) -> None:
        gone = [key for key in recount.gone if key["run_id"] in self.rows]
        for key in gone:
            self.delete(TABLE, key)
            self.rows.pop(key["run_id"], None)
        self.tally(TABLE, -len(gone))
        self.state.uncounted = recount.uncounted
        if gone:
            log.info(f"{len(gone)} run(s) of {self.where.project_id} are gone from W&B: their rows are marked deleted")
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
            if self.client.traits.get(UPDATED_FILTER) == "honoured":
                clauses.append({"updatedAt": {"$gte": wire_time(state.read_at - CHANGE_SKEW)}})
        return {"$or": clauses}

    def _visit(self, node: dict) -> int:
        """Write a run read now when its row is new or differs from the one last written (a digest of each is
        kept): an unchanged run costs no row, in a reconcile too."""
        walk, name, when = self.walk, node["name"], created(node, self.where)
        if node.get("state") in OPEN_STATES:
            walk.open.add(name, when)
        walk.newest.saw(name, when)
        row = TABLE.row(node, self.where)
        digest = [row_digest(row).hex()]
        before = self.rows.get(name)
        if before == digest:
            return 0
        if before and walk.full:
            self._unsignalled(node, row)
        self.write(TABLE, row, before is None)
        self.rows[name] = digest
        return 1

    def _unsignalled(self, node: dict, row: dict) -> None:
        """A reconcile found a run changed that no timestamp said had changed: edits like it wait for the
        reconcile. Said once a sync."""
        read_at, stamps = self.read_at, [row.get("updated_at"), row.get("heartbeat_at")]
        if read_at is None or self.client.traits.get(UNSIGNALLED):
            return
        if any(stamp and stamp >= read_at - CHANGE_SKEW for stamp in stamps):
            return
        self.client.traits[UNSIGNALLED] = True
        log.info(
            f"run {self.where.project_id}/{node['name']} changed since the last sync without W&B moving its "
            "updatedAt or heartbeatAt: edits like it (to a finished run's tags, notes, config or summary) reach the "
            "warehouse at each reconcile ('reconcile_interval_hours'), not at the next sync"
        )

    @classmethod
    def live_keys(cls, client: WandbClient, where: Where, state: RunsState) -> Iterator[LiveKey]:
        for name, _ in run_keys(client, where):
            yield LiveKey(TABLE, {"project_id": where.project_id, "run_id": name})

    @classmethod
    def known_keys(cls, where: Where, state: RunsState) -> Iterator[LiveKey]:
        for name in state.runs:
            yield LiveKey(TABLE, {"project_id": where.project_id, "run_id": name})

    @classmethod
    def record(cls, where: Where, state: RunsState, keys: list[LiveKey]) -> None:
        state.runs = {key.key["run_id"]: state.runs.get(key.key["run_id"], []) for key in keys}


def run_keys(client: WandbClient, where: Where, filters: dict | None = None) -> Iterator[tuple[str, datetime]]:
    """Every run id of a project (that `filters` match) with its `createdAt`, cheaply, for the sweep and a count
    that moved.

    A listing that crossed rows hidden from the key followed W&B's offset cursor there, and a run deleted
    meanwhile shifts those offsets: a live run could slip past unlisted and be swept out. So such a listing is read
    twice and the union is live (a run deleted between the two readings stays live until the next sweep)."""
    listed: dict[str, datetime] = {}
    for _ in range(2):
        pager = CreatedAtPager(client, RUN_KEYS, where, filters, KEYS_PER_PAGE)
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
    rows="new and changed runs only (a 4-byte digest of each row is kept); edits of finished runs at the next sync "
    "where the server filters by updatedAt, else at the reconcile; deleted runs at the next sync (a count rides in "
    "the first request; 1 request per 1,000 runs lists ids only when it moved)",
    reconcile="re-reads every run and writes only the changed ones; lists ids (1 request per 1,000 runs) and "
    "deletes exactly the runs W&B no longer has",
)


def estimate(survey: Survey) -> Guess:
    """Each run is a row, written again only when it changes: in a month, the runs active in it (an edit of an
    older run adds one row)."""
    return Guess(len(survey.runs), len(survey.active))
