"""The sync state: small, typed and versioned, loaded and dumped only here.

Fivetran stores it as one JSON object and hands it back at the next sync. In memory it is dataclasses holding
datetimes; on the wire, ISO strings. Loading is derived from the dataclasses' own type hints, so a walk that adds a
field to its state adds nothing here. Per project and walk there is a `Cursor` (the newest `createdAt` emitted and
the few ids at that second), when the last walk began, the walk under way, and the rows last seen open, capped at
`OPEN_CAP` with an overflow timestamp beyond that. What grows with the runs, each walk's records per run (`RUNS`),
is saved packed, one record per run for all the project's walks (`run_records.py`: a few dozen bytes a run), and a
project no walk is using is kept in that saved form (`SyncState.seal`), so memory and each checkpoint's encoding
stay small whatever the entity's size.
"""

from __future__ import annotations

import base64
import contextlib
import json
import types
import typing
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any, TypeVar

from .convert import MalformedValue, iso, parse_time
from .run_records import pack_records, unpack_records

STATE_VERSION = 6
OPEN_CAP = 200

T = TypeVar("T")

# A walk state's field of per-run records (`dict[run name, list of JSON atoms]`): saved packed, one record per run
# for all the project's walks (`run_records.py`), under this key of the project's saved state; the rows a walk last
# saw open go there too, as `<walk>/open`.
RUNS = "runs"
RUN_RECORDS = "run_records"


class StateError(ValueError):
    """The saved state cannot be read by this version of the connector."""


def pack(names: Iterable[str]) -> str:
    """A list of names in a few bytes each: names of one project share prefixes and alphabets, which zlib folds."""
    names = list(names)
    return base64.b64encode(zlib.compress(json.dumps(names).encode(), 6)).decode() if names else ""


def unpack(packed: str) -> list[str]:
    return json.loads(zlib.decompress(base64.b64decode(packed))) if packed else []


@dataclass
class Cursor:
    """The newest `createdAt` seen and the ids at exactly that second: with a closed start boundary (`>=`), the
    ids tell which rows at that second were already read."""

    created: datetime | None = None
    ids: list[str] = field(default_factory=list)

    def is_new(self, key: str, created: datetime) -> bool:
        """After the cursor, or at its second and not among the ids read there."""
        return self.created is None or created > self.created or (created == self.created and key not in self.ids)

    def saw(self, key: str, created: datetime) -> None:
        if self.created is None or created > self.created:
            self.created, self.ids = created, [key]
        elif created == self.created and key not in self.ids:
            self.ids.append(key)

    def merge(self, other: Cursor) -> None:
        """Fold in what a finished walk saw (a running maximum becomes the cursor only once its walk is done)."""
        if other.created is None:
            return
        if self.created is None or other.created > self.created:
            self.created, self.ids = other.created, sorted(set(other.ids))
        elif other.created == self.created:
            self.ids = sorted(set(self.ids) | set(other.ids))


@dataclass
class OpenKeys:
    """Rows last seen open (a running run, a running sweep), re-read until they end; beyond the cap, a
    `createdAt` to re-read everything from."""

    names: list[str] = field(default_factory=list)
    overflow_since: datetime | None = None

    def add(self, name: str, created_at: datetime) -> None:
        if len(self.names) < OPEN_CAP:
            self.names.append(name)
        elif self.overflow_since is None or created_at < self.overflow_since:
            self.overflow_since = created_at

    def holds(self, name: str, created_at: datetime) -> bool:
        return name in self.names or (self.overflow_since is not None and created_at >= self.overflow_since)


@dataclass
class Walk:
    """A walk under way: when it began, whether it reads everything, what it emitted so far (`newest`), where it
    resumes (`position`, for walks read in `createdAt` order), and the rows it found open."""

    started_at: datetime
    full: bool
    newest: Cursor = field(default_factory=Cursor)
    position: Cursor = field(default_factory=Cursor)
    open: OpenKeys = field(default_factory=OpenKeys)


@dataclass
class WalkState:
    """One walk's state in one project (or the entity): what finished walks emitted, when the last one began, the
    rows it left open, and the walk under way."""

    emitted: Cursor = field(default_factory=Cursor)
    read_at: datetime | None = None
    open: OpenKeys = field(default_factory=OpenKeys)
    walk: Walk | None = None

    def begin(self, now: datetime, full: bool) -> Walk:
        """Resume the walk under way, or begin one (a full walk when asked, or when nothing was ever read)."""
        if self.walk is None or (full and not self.walk.full):
            self.walk = Walk(started_at=now, full=full or self.read_at is None)
        return self.walk

    def end(self) -> None:
        walk = self.walk
        self.emitted.merge(walk.newest)
        self.open, self.read_at, self.walk = walk.open, walk.started_at, None


@dataclass
class TableProgress:
    """Rows the table holds (exact after each sweep, plus rows first synced since) and the newest `created_at`."""

    count: int = 0
    max_created_at: datetime | None = None

    def saw(self, created_at: datetime | None, new: bool) -> None:
        self.count += int(new)
        if created_at and (self.max_created_at is None or created_at > self.max_created_at):
            self.max_created_at = created_at


@dataclass
class SyncState:
    """`projects` and `entity` hold each walk's state under the walk's name; what type that is, the walk says
    (`walker.Walker.state_type`), so the state module names no table. `source_entity` and `source_server` are the
    account the rows came from: a state is never carried over to another. `mark_sweep_due`: the walks' records of
    the keys they wrote are incomplete (a state from before they kept them), so the next reconcile sweeps by
    marking (`reconcile.py`)."""

    version: int = STATE_VERSION
    source_entity: str | None = None
    source_server: str | None = None
    mark_sweep_due: bool = False
    tables: dict[str, TableProgress] = field(default_factory=dict)
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    entity: dict[str, Any] = field(default_factory=dict)
    projects_read_at: datetime | None = None
    reconciled_at: datetime | None = None
    reconcile_started_at: datetime | None = None
    sync_started_at: datetime | None = None
    # The optional fields and arguments the server lacked (`optional.py`), until the next reconcile asks again.
    server_lacks: list[str] = field(default_factory=list)
    # Whether the server filters runs by `updatedAt` ("honoured", "ignored", "refused"; None: ask), until the next
    # reconcile asks again; and a digest of each project's row as last written.
    updated_filter: str | None = None
    project_rows: dict[str, str] = field(default_factory=dict)

    def table(self, name: str) -> TableProgress:
        return self.tables.setdefault(name, TableProgress())

    def project(self, name: str) -> dict[str, Any]:
        walks = self.projects.setdefault(name, {})
        if RUN_RECORDS in walks:
            try:
                records = unpack_records(walks.pop(RUN_RECORDS))
            except ValueError as error:
                raise StateError(
                    f"saved state of project {name} is not in the expected shape ({error}): re-sync"
                ) from error
            for key, runs in records.items():
                walk, _, part = key.partition("/")
                raw = walks[walk] = dict(walks.get(walk) or {})  # the saved form stays as it was (`reading`)
                if part:
                    raw["open"] = {**(raw.get("open") or {}), "names": list(runs)}
                else:
                    raw[RUNS] = runs
        return walks

    @contextlib.contextmanager
    def reading(self, project: str | None) -> Iterator[None]:
        """Read a project's walks (or the entity's: nothing to put back) without changing them: a saved project is
        put back as it was, not packed again (packing is most of what reading a large project costs, and a
        reconcile reads every project twice)."""
        saved = self.projects.get(project)
        kept = dict(saved) if isinstance(saved, dict) and RUN_RECORDS in saved else None
        try:
            yield
        finally:
            if kept is not None:
                self.projects[project] = kept

    def seal(self, project: str) -> None:
        """Keep a project no walk is using as its saved form: a few dozen bytes a run instead of Python objects,
        and nothing to encode again at each checkpoint."""
        if project in self.projects:
            self.projects[project] = _dump_project(self.projects[project])

    def walk(self, project: str | None, name: str, kind: type[T]) -> T:
        """The state of walk `name` in `project` (or the entity), of the walk's own type: saved states stay JSON
        until their walk asks for them."""
        walks = self.entity if project is None else self.project(project)
        found = walks.get(name)
        if not isinstance(found, kind):
            try:
                found = walks[name] = kind() if found is None else load(kind, found)
            except (TypeError, KeyError, AttributeError, ValueError, MalformedValue) as error:
                raise StateError(f"saved state of {name} is not in the expected shape ({error}): re-sync") from error
        return found

    def to_dict(self) -> dict:
        saved = {f.name: dump(getattr(self, f.name)) for f in fields(self) if f.name != "projects"}
        return saved | {"projects": {name: _dump_project(walks) for name, walks in self.projects.items()}}

    @classmethod
    def from_dict(cls, raw: dict | None) -> SyncState:
        """Read a saved state, upgrading one of an earlier version step by step."""
        if not raw:
            return cls()
        try:
            while raw.get("version") != STATE_VERSION:
                upgrade = UPGRADES.get(raw.get("version"))
                if upgrade is None:
                    raise StateError(
                        f"saved state has version {raw.get('version')!r}, this connector reads versions "
                        f"{sorted(UPGRADES)} and {STATE_VERSION}: re-sync the connection (Fivetran: Re-sync all "
                        "historical data; fivetran debug: delete its files/ folder) to start from a fresh state"
                    )
                raw = upgrade(raw)
            return load(cls, raw)
        except (TypeError, KeyError, AttributeError, ValueError, MalformedValue) as error:
            if isinstance(error, StateError):
                raise
            raise StateError(f"saved state is not in the expected shape ({error}): re-sync the connection") from error


def dump(value: Any) -> Any:
    if is_dataclass(value):
        return {f.name: dump(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {key: dump(item) for key, item in value.items()}
    if isinstance(value, list):
        return [dump(item) for item in value]
    return value


def _dump_project(walks: dict[str, Any]) -> dict[str, Any]:
    """A project's walks as saved: their per-run records and open rows packed together (`RUN_RECORDS`)."""
    if RUN_RECORDS in walks:
        return walks
    saved, records = {}, {}
    for name, walk_state in walks.items():
        saved[name] = raw = dump(walk_state)
        if isinstance(raw, dict) and isinstance(raw.get(RUNS), dict):
            records[name] = raw.pop(RUNS)
        opened = raw.get("open") if isinstance(raw, dict) else None
        if isinstance(opened, dict) and opened.get("names"):
            records[f"{name}/open"] = {key: [] for key in opened["names"]}
            opened["names"] = []
    if any(records.values()):
        saved[RUN_RECORDS] = pack_records(records)
    return saved


def load(kind: Any, raw: Any) -> Any:
    """Build `kind` from its JSON form, by its type hints: dataclasses, datetimes, optionals, lists and dicts."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if raw is None:
            return None
        kind = next(arg for arg in args if arg is not type(None))
        origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is datetime:
        return parse_time(raw, "state")
    if is_dataclass(kind):
        if not isinstance(raw, dict):
            raise TypeError(f"{kind.__name__} is not an object")
        hints = typing.get_type_hints(kind)
        return kind(**{f.name: load(hints[f.name], raw[f.name]) for f in fields(kind) if f.name in raw})
    if origin is list:
        return [load(args[0], item) for item in raw]
    if origin is dict:
        return {key: load(args[1], item) for key, item in raw.items()}
    return raw


def _from_v1(raw: dict) -> dict:
    """Version 1 kept per-table counts only: they carry over, and the next sync reconciles."""
    return {"version": 3, "tables": raw.get("tables", {})}


def _from_v2(raw: dict) -> dict:
    """Version 2 kept a run cursor and an artifact cursor per project, each in its own shape. Their cursors carry
    over; a walk under way is dropped, so it starts again from the cursor (which only moves when a walk ends)."""
    projects = {}
    for name, walks in raw.get("projects", {}).items():
        runs, artifacts = walks.get("runs", {}), walks.get("artifacts", {})
        projects[name] = {
            "runs": {
                "emitted": {"created": runs.get("created"), "ids": runs.get("boundary", [])},
                "read_at": runs.get("read_at"),
                "open": runs.get("open", {}),
            },
            "artifacts": {
                "emitted": {"created": artifacts.get("created"), "ids": artifacts.get("boundary", [])},
                "read_at": artifacts.get("read_at"),
            },
        }
    keep = ("tables", "projects_read_at", "reconciled_at", "reconcile_started_at", "sync_started_at")
    return {**{key: raw.get(key) for key in keep}, "version": 3, "projects": projects}


def _from_v3(raw: dict) -> dict:
    """Version 3 did not record the keys each walk wrote, nor the account: the account is adopted at the next
    sync, and the next reconcile sweeps by marking once, which records the keys."""
    return {**raw, "version": 4, "mark_sweep_due": True}


# Version 5 names each walk's state as its table; the names before.
RENAMED_WALKS = {"runs": "run_fields", "history": "run_history", "system_metrics": "run_system_metrics"}
RENAMED_WALKS |= {"lineage": "artifact_lineage"}


def _from_v4(raw: dict) -> dict:
    """Version 4 named some walks' states apart from their tables (`runs` for `run_fields`, `history` for
    `run_history`): the same states under the tables' names."""
    projects = {
        name: {RENAMED_WALKS.get(walk, walk): walk_state for walk, walk_state in walks.items()}
        for name, walks in raw.get("projects", {}).items()
    }
    return {**raw, "version": 5, "projects": projects}


def _from_v5(raw: dict) -> dict:
    """Version 5 kept the runs `run_fields` wrote as packed names beside their 4-byte row digests in base64: the
    same as per-run records (`RUNS`: name → [digest in hex], or [] for a run written before digests)."""
    projects = {}
    for name, walks in raw.get("projects", {}).items():
        walks = dict(walks)
        runs = walks.get("run_fields")
        if isinstance(runs, dict) and ("names" in runs or "rows" in runs):
            names, digests = unpack(runs.get("names", "")), base64.b64decode(runs.get("rows") or "")
            whole = len(digests) == 4 * len(names)
            records = {n: [digests[4 * i : 4 * i + 4].hex()] if whole else [] for i, n in enumerate(names)}
            kept = {key: value for key, value in runs.items() if key not in ("names", "rows")}
            walks["run_fields"] = kept | {RUNS: records}
        projects[name] = walks
    return {**raw, "version": 6, "projects": projects}


UPGRADES = {1: _from_v1, 2: _from_v2, 3: _from_v3, 4: _from_v4, 5: _from_v5}
