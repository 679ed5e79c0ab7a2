"""Run history and system metrics: child walks of the runs, read only for runs whose history moved.

The run listing already says how much history each run holds (`historyLineCount`, `historyKeys.lastStep`). Each
walk keeps, per run it has synced, what it read (a `Ledger`): a run whose counts match needs no request, so a
finished run's history is read once and a sync with nothing new sends no history request. A run that logged more
is continued from its last synced step. The step read last is read again: if it comes back as it was synced (same
`_timestamp`), the run only appended; if not, a resume rewrote steps, and the run is re-read with only the steps
logged after the last sync emitted (their `_timestamp` is later) and the steps it no longer has deleted.

Steps are read with wandb-core's own `HistoryPage` field (every step, never the sampled `history()`), many runs
per request: each request asks for up to `ROWS_PER_REQUEST` steps across the page's runs, each run's step window
sized by how densely it logs. The worker reads ahead while the main thread emits, and each request's steps are
committed with the ledger, so a 100,000-step run checkpoints as it pages and a killed sync resumes at the step it
committed.

The ledger costs the state about 30 bytes per run with history (not per step): W&B lists no deleted runs, so
without it a deleted run's history could only be found by truncating `run_history` and re-marking every live row,
which would bill every row again at every reconcile. With it, the reconcile hands each walk the runs W&B still
has (`prune`) and the walk deletes exactly the rows of the others.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from fivetran_connector_sdk import Logging as log

from . import queries
from .client import dig, expect_shape
from .client import field as read_field
from .convert import MalformedValue, decode_json, json_object, parse_time
from .runs import RunPage
from .settings import Settings
from .state import WalkState
from .tables import HISTORY_COLUMNS, RUN_HISTORY, RUN_SYSTEM_METRICS, Table, Where
from .walker import CHANGE_SKEW, Deletes, Follow, Walker

# One request reads about this many steps (about 4 MB of JSON) across at most `RUNS_PER_REQUEST` runs.
ROWS_PER_REQUEST = 10_000
RUNS_PER_REQUEST = 100
# GraphQL's Int: the largest `samples` a request can ask for.
MAX_INT = 2**31 - 1
# The ledger keeps a run's synced steps as arithmetic progressions; a run whose steps need more is kept as one
# range from its first to its last step (a delete then also names steps it never had, which deletes nothing), and
# such a range is deleted only while it is at most `MAX_SPARE_DELETES` steps more than the rows it holds.
MAX_PROGRESSIONS = 64
MAX_SPARE_DELETES = 1_000_000
# W&B serves the system stream only sampled; `run.history(stream="system")` asks for W&B's default of 500.
SYSTEM_SAMPLES = 500
# wandb samples the system every 15 seconds: how a run's runtime says how many samples it has, to fill requests.
SYSTEM_INTERVAL_S = 15


def add_step(steps: list[int], step: int) -> None:
    """Add `step` (larger than any before) to `steps`, a flat list of progressions [start, stride, count, ...]."""
    if steps:
        start, stride, count = steps[-3:]
        if count == 1:
            steps[-2:] = [step - start, 2]
            return
        if step == start + stride * count:
            steps[-1] += 1
            return
    steps += [step, 1, 1]
    if len(steps) > 3 * MAX_PROGRESSIONS:
        first, last = steps[0], steps[-3] + steps[-2] * (steps[-1] - 1)
        steps[:] = [first, 1, last - first + 1]


def all_steps(steps: list[int]) -> Iterator[int]:
    for i in range(0, len(steps), 3):
        start, stride, count = steps[i : i + 3]
        yield from range(start, start + stride * count, stride)


def span(steps: list[int]) -> int:
    return sum(steps[i + 2] for i in range(0, len(steps), 3))


def missing(before: list[int], after: list[int]) -> Iterator[int]:
    """The steps of `before` not in `after` (both progressions in step order), without building either set."""
    now = all_steps(after)
    current = next(now, None)
    for step in all_steps(before):
        while current is not None and current < step:
            current = next(now, None)
        if current != step:
            yield step


@dataclass
class Ledger:
    """What a walk synced of one run's history: how many lines it read (the listing's count once read to the end)
    and the last of them (`last`, with its `_timestamp` in `tail`), the rows it holds (`emitted`) at the steps
    `steps` names (progressions), and whether the step cap cut it."""

    lines: int = 0
    last: int = -1
    tail: float | None = None
    capped: bool = False
    emitted: int = 0
    steps: list[int] = field(default_factory=list)

    def dump(self) -> list:
        return [self.lines, self.last, self.tail, int(self.capped), self.emitted, *self.steps]

    @classmethod
    def load(cls, raw: list) -> Ledger:
        lines, last, tail, capped, emitted, *steps = raw
        return cls(lines, last, tail, bool(capped), emitted, list(steps))


@dataclass
class HistoryState(WalkState):
    """Per run synced, its `Ledger` in its compact list form; and the settings the rows were kept by."""

    runs: dict[str, list] = field(default_factory=dict)
    kept_by: str = ""


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
    mode: str = "fresh"
    everything: bool = False
    checked: bool = False
    read: int = 0
    done: bool = False
    width: int | None = None
    kept: Ledger = field(default_factory=Ledger)
    last_row: dict | None = None

    def counted(self) -> int:
        """Steps this run has synced, towards the cap: the ledger's and this read's (a re-read starts over)."""
        return self.read + (self.entry.lines if self.entry and self.mode == "append" else 0)


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

    name: ClassVar[str] = "history"
    parent: ClassVar[str] = "runs"
    swept: ClassVar[bool] = False
    tables: ClassVar[tuple[Table, ...]] = (RUN_HISTORY,)
    state_type: ClassVar[type[WalkState]] = HistoryState

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.history

    @classmethod
    def needs_everything(cls, state: HistoryState, settings: Settings) -> bool:
        return state.read_at is None or (bool(state.runs) and state.kept_by != kept_by(settings))

    def start(self, now: datetime, full: bool) -> Follow:
        self.walk = self.state.begin(now, full)
        settings = self.client.settings
        self.cap = settings.history_max_steps
        self.wants = settings.wants_metric if settings.history_keys else None
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
        """Worker: the history requests for one page of runs, each answer as one item."""
        reads = [read for node in page.nodes if (read := self._plan(node)) is not None]
        while reads:
            batch = self._pack(reads)
            what = f"the history of {len(batch)} run(s) of {self.where.project_id}"
            variables: dict[str, Any] = {"entity": self.where.entity, "project": self.where.project}
            for i, (read, low, high, size) in enumerate(batch):
                variables |= {f"run{i}": read.name, f"min{i}": low, f"max{i}": high, f"size{i}": size}
            answer = self.client.execute(queries.history_pages(len(batch)), variables, what)
            project = dig(answer, ("project",), what)
            item = []
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
                    steps = self._take(read, high, rows)
                if steps is not None:
                    item.append(steps)
            reads = [read for read in reads if not read.done]
            yield item

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
            return RunRead(name, last, lines, 0, entry, "reread", everything=True)
        if (entry.lines, entry.last) == (lines, last) or (entry.capped and last >= entry.last):
            if entry.last < 0 or not self._moved(node):
                return None
            return RunRead(name, last, lines, entry.last, entry, "probe")
        if last >= entry.last >= 0 and lines >= entry.lines:
            return RunRead(name, last, lines, entry.last, entry, "append")
        return RunRead(name, last, lines, 0, entry, "reread")

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
            if read.mode == "probe":
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

    def _take(self, read: RunRead, high: int, rows: list[Any]) -> RunSteps | None:
        """Fold one window's rows into the run's read; what the main thread emits now, if anything."""
        rows = sorted((r for r in rows if isinstance(r, dict)), key=_step_of)
        entry = read.entry
        if read.mode in ("append", "probe") and not read.checked:
            read.checked = True
            overlap = next((r for r in rows if _step_of(r) == entry.last), None)
            if overlap is None or overlap.get("_timestamp") != entry.tail:
                read.mode, read.next, read.width = "reread", 0, None  # a resume rewrote steps: read it all again
                return None
            if read.mode == "probe":
                read.done = True
                return None
            rows = [r for r in rows if _step_of(r) > entry.last]
        read.next = high
        room = max(0, self.cap - read.counted())
        taken, capped = rows[:room], len(rows) > room or (high <= read.last and read.counted() + len(rows) >= self.cap)
        read.read += len(taken)
        read.done = capped or high > read.last
        read.last_row = taken[-1] if taken else read.last_row
        if capped:
            log.warning(
                f"run {self.where.project_id}/{read.name} has {read.lines} history steps: synced the first "
                f"{self.cap} ('history_max_steps')"
            )
        complete = read.lines if read.done else None
        if read.done and not capped and read.counted() < read.lines:
            log.warning(
                f"W&B lists {read.lines} history lines for run {self.where.project_id}/{read.name} but served "
                f"{read.counted()}: synced what it served"
            )
        if read.mode == "reread":
            return self._reread(read, taken, complete, capped)
        kept = [row for row in map(self._keep, taken) if row is not None]
        return RunSteps(read.name, kept, len(taken), read.last_row, complete, capped)

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
                self.emit(RUN_HISTORY, {"run": steps.name, "row": row}, self.where, False)
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
            self.tally(RUN_HISTORY, entry.emitted - held)
            self.emitted += len(steps.rows)
            self.state.runs[steps.name] = entry.dump()
        self.checkpoint()

    @staticmethod
    def _delete(where: Where, run: str, steps: Iterator[int], out: Deletes) -> None:
        for step in steps:
            out.delete(RUN_HISTORY, {"project_id": where.project_id, "run_id": run, "step": step})

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
            out.tally(RUN_HISTORY, -entry.emitted)


def _step_of(row: dict) -> int:
    step = row.get("_step")
    if isinstance(step, bool) or not isinstance(step, int | float):
        raise MalformedValue(f"a history line has no whole _step: {str(row)[:80]}")
    return int(step)


@dataclass
class SystemState(WalkState):
    """Per run synced: how many samples its rows hold and the heartbeat they were read at."""

    runs: dict[str, list] = field(default_factory=dict)


class SystemMetricsWalker(Walker[SystemState]):
    """`run_system_metrics`: each run's sampled system stream, read again only when the run's heartbeat moved (the
    stream grows while a run runs) and replaced whole, sample by sample."""

    name: ClassVar[str] = "system_metrics"
    parent: ClassVar[str] = "runs"
    swept: ClassVar[bool] = False
    tables: ClassVar[tuple[Table, ...]] = (RUN_SYSTEM_METRICS,)
    state_type: ClassVar[type[WalkState]] = SystemState

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.system_metrics

    def start(self, now: datetime, full: bool) -> Follow:
        self.walk = self.state.begin(now, full)
        self.ledgers = dict(self.state.runs)
        return self.follow

    def follow(self, page: RunPage) -> Iterator[list[tuple[str, str, list[dict]]]]:
        """Worker: the runs whose stream moved, as many a request as fill about `ROWS_PER_REQUEST` samples."""
        todo = [node for node in page.nodes if self._due(node)]
        while todo:
            nodes, budget = [], ROWS_PER_REQUEST
            while todo and budget > 0 and len(nodes) < RUNS_PER_REQUEST:
                nodes.append(todo.pop(0))
                budget -= _samples(nodes[-1])
            what = f"the system metrics of {len(nodes)} run(s) of {self.where.project_id}"
            variables = {"entity": self.where.entity, "project": self.where.project, "samples": SYSTEM_SAMPLES}
            variables |= {f"run{i}": node["name"] for i, node in enumerate(nodes)}
            project = dig(self.client.execute(queries.system_events(len(nodes)), variables, what), ("project",), what)
            item = []
            for i, node in enumerate(nodes):
                run = read_field(project, f"run{i}", what)
                if run is not None:
                    with expect_shape(f"the system metrics of run {self.where.project_id}/{node['name']}"):
                        what_event = f"a system metrics sample of run {node['name']}"
                        events = [decode_json(event, what_event) for event in run["events"]]
                    item.append((node["name"], node.get("heartbeatAt") or "", _with_intervals(events)))
            yield item

    def _due(self, node: dict) -> bool:
        raw = self.ledgers.get(node["name"])
        if raw is not None:
            return raw[1] != (node.get("heartbeatAt") or "")
        return bool(json_object(node.get("systemMetrics"), f"run {node['name']} systemMetrics"))

    def apply(self, item: list[tuple[str, str, list[dict]]]) -> None:
        for name, heartbeat, samples in item:
            before = (self.state.runs.get(name) or [0, ""])[0]
            for sample in samples:
                node = {"run": name, **sample}
                self.emit(RUN_SYSTEM_METRICS, node, self.where, sample["sample"] >= before)
            for index in range(len(samples), before):
                self.delete(RUN_SYSTEM_METRICS, {"project_id": self.where.project_id, "run_id": name, "sample": index})
            self.tally(RUN_SYSTEM_METRICS, -max(0, before - len(samples)))
            self.state.runs[name] = [len(samples), heartbeat]
            self.emitted += len(samples)
        self.checkpoint()

    @classmethod
    def prune(cls, where: Where, state: SystemState, live: list[dict] | None, out: Deletes) -> None:
        alive = {key["run_id"] for key in live or ()}
        for name in [n for n in state.runs if n not in alive]:
            samples = state.runs.pop(name)[0]
            for index in range(samples):
                out.delete(RUN_SYSTEM_METRICS, {"project_id": where.project_id, "run_id": name, "sample": index})
            out.tally(RUN_SYSTEM_METRICS, -samples)


def _samples(node: dict) -> int:
    """About how many samples W&B will send for a run: its runtime over wandb's sampling interval."""
    try:
        summary = json_object(node.get("summaryMetrics"), "summaryMetrics")
    except MalformedValue:
        summary = {}
    runtime = summary.get("_runtime")
    if isinstance(runtime, bool) or not isinstance(runtime, int | float) or not math.isfinite(runtime):
        return SYSTEM_SAMPLES
    return max(1, min(SYSTEM_SAMPLES, int(runtime // SYSTEM_INTERVAL_S) + 1))


def _with_intervals(events: list[Any]) -> list[dict]:
    """The samples in time order, each with the seconds it stands for: to the next sample, and for the last one
    the mean spacing of the others (none for a lone sample)."""
    samples = sorted((e for e in events if isinstance(e, dict)), key=lambda e: _seconds(e.get("_timestamp")))
    times = [_seconds(e.get("_timestamp")) for e in samples]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    last = sum(gaps) / len(gaps) if gaps else None
    return [
        {"sample": i, "event": event, "interval": gaps[i] if i < len(gaps) else last} for i, event in enumerate(samples)
    ]


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedValue(f"a system metrics sample has no numeric _timestamp: {str(value)[:40]!r}")
    return float(value)
