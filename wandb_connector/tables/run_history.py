"""`run_history`: every step every run logged, one row per run and step; a child walk of the runs, read only for runs
whose history moved.

The run listing already says how much history each run holds (`historyLineCount`, `historyKeys.lastStep`). The walk
keeps, per run it has synced, what it read (a `Ledger`, `step_ledger.py`): a run whose counts match needs no
request, so a finished run's history is read once and a sync with nothing new sends no history request. A run that
logged more is continued from its last synced step. The step read last is read again: if it comes back as it was
synced (same `_timestamp`), the run only appended; if not, a resume rewrote steps, and the run is re-read with only
the steps logged after the last sync emitted (their `_timestamp` is later) and the steps it no longer has deleted.

Steps are read with wandb-core's own `HistoryPage` field (every step, never the sampled `history()`), many runs per
request: each request asks for up to `ROWS_PER_REQUEST` steps across the page's runs, each run's step window sized
by how densely it logs. The worker reads ahead while the main thread emits, and each request's steps are committed
with the ledger, so a 100,000-step run checkpoints as it pages and a killed sync resumes at the step it committed.

The ledger costs the state about 30 bytes per run with history (not per step): W&B lists no deleted runs, so without
it a deleted run's history could only be found by truncating `run_history` and re-marking every live row, which
would bill every row again at every reconcile. With it, the reconcile hands each walk the runs W&B still has
(`prune`) and the walk deletes exactly the rows of the others.
"""

from __future__ import annotations

import fnmatch
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from fivetran_connector_sdk import Logging as log

from ..convert import MalformedValue, decode_json, epoch_time, number, parse_time, whole
from ..paging import RunPage
from ..settings import Option, Settings, patterns, switch, whole_number
from ..shapes import dig, expect_shape
from ..shapes import field as read_field
from ..state import WalkState
from ..step_ledger import Ledger, add_step, all_steps, missing, span
from ..walker import CHANGE_SKEW, Cost, Deletes, Follow, Guess, Table, Walker, Where

if TYPE_CHECKING:
    from ..survey import Survey

# One request reads about this many steps (about 4 MB of JSON) across at most `RUNS_PER_REQUEST` runs.
ROWS_PER_REQUEST = 10_000
# The rows of an answer a worker hands the main thread at a time.
ROWS_PER_ITEM = 2_000


RUNS_PER_REQUEST = 100


# GraphQL's Int: the largest `samples` a request can ask for.
MAX_INT = 2**31 - 1


MAX_SPARE_DELETES = 1_000_000


# `run_history` is off until asked for: it is the one table without a bound per run, often most of the rows a sync
# writes, so a team turns it on having seen `make estimate`. A run's history beyond `history_max_steps` is left out
# (with a warning naming the run): a sync streams history in pages, so memory does not depend on it, but every step
# is a row the user pays for.
DEFAULT_HISTORY_MAX_STEPS = 100_000
MAX_HISTORY_MAX_STEPS = 100_000_000
SWITCH = Option(
    "run_history",
    "Sync run history",
    "Whether run_history holds every step each run logged (one row per run and step: usually most of the rows, and "
    "of the bill; `make estimate` says how many). Default false.",
    switch(False),
    placeholder="false",
    aliases=("history",),
    doc="`true` to sync `run_history`, every step of every run (default `false`: see [What it costs](#what-it-costs)); "
    "`history`, its older name, is accepted too",
)
HISTORY_KEYS = Option(
    "history_keys",
    "History metrics",
    "Comma-separated metric names or globs to keep in run_history, like train/*, eval/f1. Empty keeps every metric; "
    "steps that log none of them are left out.",
    patterns,
    placeholder="train/*, eval/*",
    doc="comma-separated metric names or globs to keep in `run_history` (`train/*, eval/f1`); empty keeps every "
    "metric; steps that log none of them are left out",
)
HISTORY_MAX_STEPS = Option(
    "history_max_steps",
    "History steps per run",
    "The most history steps synced per run; a run with more is cut there, with a warning naming it. "
    f"Default {DEFAULT_HISTORY_MAX_STEPS}.",
    whole_number(
        DEFAULT_HISTORY_MAX_STEPS,
        1,
        MAX_HISTORY_MAX_STEPS,
        f"the most history steps synced per run (default {DEFAULT_HISTORY_MAX_STEPS})",
    ),
    placeholder=str(DEFAULT_HISTORY_MAX_STEPS),
    doc=f"the most history steps synced per run (default `{DEFAULT_HISTORY_MAX_STEPS}`); a longer run is cut there, "
    "with a warning naming it",
)


def history_pages(runs: int) -> str:
    """wandb-core's `HistoryPage` (what `scan_history` pages live steps with: the full, unsampled steps in
    [minStep, maxStep)) for several runs of a project in one document, each run under its own alias: one request
    reads the steps of many runs."""
    declared = ", ".join(f"$run{i}: String!, $min{i}: Int64!, $max{i}: Int64!, $size{i}: Int!" for i in range(runs))
    fields = "\n    ".join(
        f"run{i}: run(name: $run{i}) {{ history(minStep: $min{i}, maxStep: $max{i}, samples: $size{i}) }}"
        for i in range(runs)
    )
    return (
        f"query HistoryPages($entity: String!, $project: String!, {declared}) {{\n"
        f"  project(name: $project, entityName: $entity) {{\n    {fields}\n  }}\n}}\n"
    )


HISTORY_COLUMNS = ("_step", "_runtime", "_timestamp")


def history_row(node: dict, where: Where) -> dict[str, Any]:
    """`node` is one history row of run `node["run"]` as W&B logged it (keys `history_keys` leaves out already
    dropped): the step, its time and runtime become columns, every other key is a metric in `metrics`."""
    row, run_id = node["row"], node["run"]
    what = f"a history step of run {where.project_id}/{run_id}"
    return {
        "project_id": where.project_id,
        "run_id": run_id,
        "step": whole(row.get("_step"), f"{what} _step"),
        "timestamp": epoch_time(row.get("_timestamp"), f"{what} _timestamp"),
        "runtime_seconds": number(row.get("_runtime")),
        "metrics": {key: value for key, value in row.items() if key not in HISTORY_COLUMNS},
    }


TABLE = Table(
    "run_history",
    ("project_id", "run_id", "step"),
    {
        "project_id": "STRING",
        "run_id": "STRING",
        "step": "LONG",
        "timestamp": "UTC_DATETIME",
        "runtime_seconds": "DOUBLE",
        "metrics": "JSON",
        "synced_at": "UTC_DATETIME",
    },
    history_row,
)


def wants_metric(settings: Settings, key: str) -> bool:
    """Whether a history key is synced: it matches `history_keys` (every key when empty)."""
    return not settings.history_keys or any(fnmatch.fnmatchcase(key, p) for p in settings.history_keys)


@dataclass
class HistoryState(WalkState):
    """Per run synced, its `Ledger` in its compact list form; and the settings the rows were kept by."""

    runs: dict[str, list] = field(default_factory=dict)
    kept_by: str = ""


class Mode(Enum):
    """How a run is read: `FRESH` (no ledger), `APPEND` (check the last synced step, then read on), `PROBE` (only
    check it), `REREAD` (from the first step)."""

    FRESH = "fresh"
    APPEND = "append"
    PROBE = "probe"
    REREAD = "reread"


@dataclass
class RunRead:
    """One run's read in this sync, owned by the worker: the listing's counts, the next step to ask for, the
    ledger it continues, and how: `append` (check the last synced step, then read on), `probe` (only check it),
    `reread` (from the first step, emitting the steps logged since the last one synced, or every step when the
    settings that keep rows changed), or a fresh read (no ledger)."""

    name: str
    last: int
    lines: int
    next: int
    entry: Ledger | None
    mode: Mode = Mode.FRESH
    everything: bool = False
    checked: bool = False
    read: int = 0
    done: bool = False
    width: int | None = None
    kept: Ledger = field(default_factory=Ledger)
    last_row: dict | None = None

    def counted(self) -> int:
        """Steps this run has synced, towards the cap: the ledger's and this read's (a re-read starts over)."""
        return self.read + (self.entry.lines if self.entry and self.mode is Mode.APPEND else 0)


@dataclass
class RunSteps:
    """A run's share of one request, for the main thread: rows to emit, and how its ledger moves: appended to
    (`read` lines, the last of them, the listing's count once `complete`), or, at the end of a re-read,
    `replaced` (the steps the old ledger has and this one lacks are deleted)."""

    name: str
    rows: list[dict]
    read: int = 0
    last_row: dict | None = None
    complete: int | None = None
    capped: bool = False
    rereading: bool = False
    replaced: Ledger | None = None


def listed_history(node: dict) -> tuple[int, int]:
    """The history W&B says a listed run holds: its line count and last step (-1: none)."""
    keys = node.get("historyKeys") or {}
    last = keys.get("lastStep") if isinstance(keys, dict) else None
    lines = node.get("historyLineCount")
    last = int(last) if isinstance(last, int | float) and not isinstance(last, bool) else -1
    return (int(lines) if isinstance(lines, int) and not isinstance(lines, bool) else 0), last


def kept_by(settings: Settings) -> str:
    """The settings that decide which rows and metrics `run_history` keeps: a change re-reads every run."""
    return f"{','.join(settings.history_keys)}|{settings.history_max_steps}"


class HistoryWalker(Walker[HistoryState]):
    """`run_history`: every step of every run, read for the runs of each page of the run walk."""

    name: ClassVar[str] = TABLE.name
    parent: ClassVar[str] = "run_fields"
    swept: ClassVar[bool] = False
    tables: ClassVar[tuple[Table, ...]] = (TABLE,)
    state_type: ClassVar[type[WalkState]] = HistoryState
    switch: ClassVar[Option] = SWITCH

    @classmethod
    def needs_everything(cls, state: HistoryState, settings: Settings) -> bool:
        return state.read_at is None or (bool(state.runs) and state.kept_by != kept_by(settings))

    def start(self, now: datetime, full: bool) -> Follow:
        self.walk = self.state.begin(now, full)
        settings = self.client.settings
        self.cap = settings.history_max_steps
        self.wants = (lambda key: wants_metric(settings, key)) if settings.history_keys else None
        self.rekeep = bool(self.state.runs) and self.state.kept_by != kept_by(settings)
        self.kept_by = kept_by(settings)
        read_at = self.state.read_at
        self.since = read_at - CHANGE_SKEW if read_at else None
        self.ledgers = dict(self.state.runs)  # the worker's copy: the main thread moves the state meanwhile
        return self.follow

    def finish(self) -> None:
        self.state.kept_by = self.kept_by
        super().finish()

    def follow(self, page: RunPage) -> Iterator[list[RunSteps]]:
        """Worker: the history requests for one page of runs, each answer handed over `ROWS_PER_ITEM` rows at a
        time, so the items waiting for the main thread hold a fraction of an answer, not several answers."""
        reads = [read for node in page.nodes if (read := self._plan(node)) is not None]
        while reads:
            pending = deque(self._request(self._pack(reads)))
            reads = [read for read in reads if not read.done]
            item: list[RunSteps] = []
            rows = 0
            while pending:
                item.append(steps := pending.popleft())
                rows += len(steps.rows)
                if rows >= ROWS_PER_ITEM or not pending:
                    yield item
                    item, rows = [], 0

    def _request(self, batch: list[tuple[RunRead, int, int, int]]) -> list[RunSteps]:
        what = f"the history of {len(batch)} run(s) of {self.where.project_id}"
        variables: dict[str, Any] = {"entity": self.where.entity, "project": self.where.project}
        for i, (read, low, high, size) in enumerate(batch):
            variables |= {f"run{i}": read.name, f"min{i}": low, f"max{i}": high, f"size{i}": size}
        answer = self.client.execute(history_pages(len(batch)), variables, what)
        project = dig(answer, ("project",), what)
        item: list[RunSteps] = []
        for i, (read, low, high, size) in enumerate(batch):
            run = read_field(project, f"run{i}", what)
            if run is None:  # deleted since the listing: the reconcile deletes what was synced of it
                read.done = True
                continue
            with expect_shape(f"the history of run {self.where.project_id}/{read.name}"):
                rows = [decode_json(line, f"a history line of run {read.name}") for line in run["history"]]
                if len(rows) >= size < high - low:  # as many as asked for: W&B may have sampled the window
                    read.width = size
                    continue
                item.extend(self._take(read, high, rows))
        return item

    def _plan(self, node: dict) -> RunRead | None:
        """Whether a listed run needs reading, and how: a run whose counts match its ledger (or that the cap cut)
        needs nothing, unless its heartbeat moved (then its last synced step is checked: a resume may have
        rewritten steps without changing the counts); one that grew continues at its last synced step; any
        other change, or settings that keep other rows, re-read it."""
        name = node["name"]
        with expect_shape(f"run {self.where.project_id}/{name} historyKeys"):
            lines, last = listed_history(node)
        raw = self.ledgers.get(name)
        entry = Ledger.load(raw) if raw is not None else None
        if entry is None:
            return RunRead(name, last, lines, 0, None) if last >= 0 else None
        if self.rekeep:
            return RunRead(name, last, lines, 0, entry, Mode.REREAD, everything=True)
        if (entry.lines, entry.last) == (lines, last) or (entry.capped and last >= entry.last):
            if entry.last < 0 or not self._moved(node):
                return None
            return RunRead(name, last, lines, entry.last, entry, Mode.PROBE)
        if last >= entry.last >= 0 and lines >= entry.lines:
            return RunRead(name, last, lines, entry.last, entry, Mode.APPEND)
        return RunRead(name, last, lines, 0, entry, Mode.REREAD)

    def _moved(self, node: dict) -> bool:
        if self.since is None:
            return True
        stamps = [parse_time(node.get(k), f"run {node['name']} {k}") for k in ("heartbeatAt", "updatedAt")]
        return any(stamp and stamp >= self.since for stamp in stamps)

    def _pack(self, reads: list[RunRead]) -> list[tuple[RunRead, int, int, int]]:
        """Step windows for one request: about `ROWS_PER_REQUEST` steps in all, each run's window as wide as its
        density (lines per step, from the listing) says holds its share, and `samples` a little above that share.
        An answer holding all the samples asked for may have been sampled down by W&B: it is dropped and the
        window asked again no wider than those samples, which can hold no more (a step is one row)."""
        batch, budget = [], ROWS_PER_REQUEST
        for read in reads[:RUNS_PER_REQUEST]:
            if read.mode is Mode.PROBE:
                batch.append((read, read.next, read.next + 1, 1))
                budget -= 1
                continue
            want = min(budget, max(1, read.lines - read.counted()) + 1, max(1, self.cap - read.counted() + 1))
            density = min(1.0, max(read.lines, 1) / max(read.last + 1, 1))
            width = max(1, min(read.last + 1 - read.next, math.ceil(want / density), read.width or MAX_INT))
            batch.append((read, read.next, read.next + width, min(width, 2 * want + 100)))
            budget -= want
            if budget <= 0:
                break
        return batch

    def _take(self, read: RunRead, high: int, rows: list[Any]) -> list[RunSteps]:
        """Fold one window's rows into the run's read; what the main thread emits now, in parts of at most
        `ROWS_PER_ITEM` lines, each moving the ledger by its own lines."""
        rows = sorted((r for r in rows if isinstance(r, dict)), key=_step_of)
        if read.mode in (Mode.APPEND, Mode.PROBE) and not read.checked:
            rows = self._check(read, rows)
            if rows is None:
                return []
        read.next = high
        room = max(0, self.cap - read.counted())
        taken, capped = rows[:room], len(rows) > room or (high <= read.last and read.counted() + len(rows) >= self.cap)
        read.read += len(taken)
        read.done = capped or high > read.last
        read.last_row = taken[-1] if taken else read.last_row
        self._warn(read, capped)
        complete = read.lines if read.done else None
        if read.mode is Mode.REREAD:
            return [self._reread(read, taken, complete, capped)]
        parts = []
        for start in range(0, max(1, len(taken)), ROWS_PER_ITEM):
            part, end = taken[start : start + ROWS_PER_ITEM], start + ROWS_PER_ITEM >= len(taken)
            kept = [row for row in map(self._keep, part) if row is not None]
            last = part[-1] if part else read.last_row
            parts.append(RunSteps(read.name, kept, len(part), last, complete if end else None, capped and end))
        return parts

    @staticmethod
    def _check(read: RunRead, rows: list[dict]) -> list[dict] | None:
        """The last synced step, read again: as it was synced (same `_timestamp`), the run only appended, and the
        rows after it are new (None for a probe, which is then done); otherwise a resume rewrote steps, and the run
        is read again from its first step (None: nothing of this window is kept)."""
        read.checked = True
        entry = read.entry
        overlap = next((r for r in rows if _step_of(r) == entry.last), None)
        if overlap is None or overlap.get("_timestamp") != entry.tail:
            read.mode, read.next, read.width = Mode.REREAD, 0, None
            return None
        if read.mode is Mode.PROBE:
            read.done = True
            return None
        return [r for r in rows if _step_of(r) > entry.last]

    def _warn(self, read: RunRead, capped: bool) -> None:
        if capped:
            log.warning(
                f"run {self.where.project_id}/{read.name} has {read.lines} history steps: synced the first "
                f"{self.cap} ('history_max_steps')"
            )
        elif read.done and read.counted() < read.lines:
            log.warning(
                f"W&B lists {read.lines} history lines for run {self.where.project_id}/{read.name} but served "
                f"{read.counted()}: synced what it served"
            )

    def _reread(self, read: RunRead, taken: list[dict], complete: int | None, capped: bool) -> RunSteps:
        """A run read again from its first step: the steps logged after the last step synced (a later
        `_timestamp`, less `CHANGE_SKEW` for the clocks of the machines that logged them; every step when the
        settings changed) are emitted as they come; the ledger is replaced when the run is read to its end, with
        the deletes of the steps it no longer keeps."""
        tail = read.entry.tail
        threshold = -math.inf if read.everything or tail is None else tail - CHANGE_SKEW.total_seconds()
        emit = []
        for row in taken:
            kept = self._keep(row)
            if kept is None:
                continue
            add_step(read.kept.steps, _step_of(row))
            read.kept.emitted += 1
            stamp = row.get("_timestamp")
            if not isinstance(stamp, int | float) or stamp > threshold:
                emit.append(kept)
        if not read.done:
            return RunSteps(read.name, emit, rereading=True)
        replaced = read.kept
        replaced.lines, replaced.capped = complete or read.read, capped
        if read.last_row is not None:
            replaced.last, replaced.tail = _step_of(read.last_row), read.last_row.get("_timestamp")
        return RunSteps(read.name, emit, read.read, read.last_row, complete, capped, True, replaced)

    def _keep(self, row: dict) -> dict | None:
        """The row with only the metrics `history_keys` asks for; None when it logs none of them."""
        if self.wants is None:
            return row
        kept = {k: v for k, v in row.items() if k in HISTORY_COLUMNS or self.wants(k)}
        return kept if len(kept) > len([k for k in HISTORY_COLUMNS if k in row]) else None

    def apply(self, item: list[RunSteps]) -> None:
        for steps in item:
            raw = self.state.runs.get(steps.name)
            entry = Ledger.load(raw) if raw is not None else Ledger()
            held = entry.emitted
            for row in steps.rows:
                self.emit(TABLE, {"run": steps.name, "row": row}, self.where, False)
            if steps.rereading:
                if steps.replaced is None:
                    continue  # the ledger moves when the re-read ends
                if span(entry.steps) - entry.emitted <= MAX_SPARE_DELETES:
                    self._delete(self.where, steps.name, missing(entry.steps, steps.replaced.steps), self)
                entry = steps.replaced
            else:
                for row in steps.rows:
                    add_step(entry.steps, _step_of(row))
                entry.emitted += len(steps.rows)
                entry.lines = steps.complete if steps.complete is not None else entry.lines + steps.read
                if steps.last_row is not None:
                    entry.last, entry.tail = _step_of(steps.last_row), steps.last_row.get("_timestamp")
                entry.capped = entry.capped or steps.capped
            self.tally(TABLE, entry.emitted - held)
            self.emitted += len(steps.rows)
            self.state.runs[steps.name] = entry.dump()
        self.checkpoint()

    @staticmethod
    def _delete(where: Where, run: str, steps: Iterator[int], out: Deletes) -> None:
        for step in steps:
            out.delete(TABLE, {"project_id": where.project_id, "run_id": run, "step": step})

    @classmethod
    def prune(cls, where: Where, state: HistoryState, live: list[dict] | None, out: Deletes) -> None:
        alive = {key["run_id"] for key in live or ()}
        for name in [n for n in state.runs if n not in alive]:
            entry = Ledger.load(state.runs.pop(name))
            if span(entry.steps) - entry.emitted > MAX_SPARE_DELETES:
                log.warning(
                    f"run {where.project_id}/{name} is gone from W&B, but its {entry.emitted} history rows are "
                    f"spread over {span(entry.steps)} steps at irregular intervals, too many to delete one by one: "
                    "they stay in run_history (re-sync the table to drop them)"
                )
                continue
            cls._delete(where, name, all_steps(entry.steps), out)
            out.tally(TABLE, -entry.emitted)


def _step_of(row: dict) -> int:
    step = row.get("_step")
    if isinstance(step, bool) or not isinstance(step, int | float):
        raise MalformedValue(f"a history line has no whole _step: {str(row)[:80]}")
    return int(step)


WALKER = HistoryWalker
OPTIONS = (SWITCH, HISTORY_KEYS, HISTORY_MAX_STEPS)


COST = Cost(
    requests="0: the run listing says how much history each run holds (`historyLineCount`, "
    "`historyKeys.lastStep`), so a run whose counts did not move costs nothing",
    rows="the new steps of runs that logged more (a finished run's history once); after a resume that rewrote "
    "steps, the steps logged since the last sync, and deletes of the steps it lost",
    reconcile="reads nothing; deletes the rows of deleted runs only",
)


def estimate(survey: Survey) -> Guess:
    """Every history line up to the cap (the listing counts them); a month holds the lines logged in it, a run's
    lines spread evenly over its active span. Sampled when `history_keys` may leave steps out."""
    cap = survey.settings.history_max_steps
    start, now = survey.month_start, survey.now
    first = sum(min(run.lines, cap) for run in survey.runs)
    monthly = sum(min(run.lines, cap) * run.share_of(start, now) for run in survey.runs)
    return Guess(first, monthly, sampled=bool(survey.settings.history_keys))
