"""The sync state: small, typed and versioned, loaded and dumped only here.

Fivetran stores it as one JSON object and hands it back at the next sync. Nothing in it grows with the number of
rows: per project there are cursors (timestamps), the few run ids that share the newest `createdAt` second, and the
open runs, capped at `OPEN_RUNS_CAP` with an overflow timestamp beyond that.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from .convert import iso, parse_time

STATE_VERSION = 2
OPEN_RUNS_CAP = 200


class StateError(ValueError):
    """The saved state cannot be read by this version of the connector."""


@dataclass
class TableProgress:
    """Rows the table holds (exact after each sweep, plus rows first synced since) and the newest `created_at`."""

    count: int = 0
    max_created_at: str | None = None

    def saw(self, created_at: datetime | None, new: bool) -> None:
        self.count += int(new)
        if created_at and (self.max_created_at is None or created_at > parse_time(self.max_created_at, "state")):
            self.max_created_at = iso(created_at)


@dataclass
class OpenRuns:
    """Runs last seen running or pending, re-read until they end; beyond the cap, a `createdAt` to re-read from."""

    names: list[str] = field(default_factory=list)
    overflow_since: str | None = None

    def add(self, name: str, created_at: datetime) -> None:
        if len(self.names) < OPEN_RUNS_CAP:
            self.names.append(name)
        elif self.overflow_since is None or created_at < parse_time(self.overflow_since, "state"):
            self.overflow_since = iso(created_at)


@dataclass
class RunWalk:
    """A walk over one project's runs in `createdAt` order, resumable at the committed `position`."""

    started_at: str
    full: bool
    position: str | None = None
    boundary: list[str] = field(default_factory=list)
    open: OpenRuns = field(default_factory=OpenRuns)
    newest: str | None = None
    newest_names: list[str] = field(default_factory=list)


def _after(cursor: str | None, boundary: list[str], key: str, created: datetime) -> bool:
    """Not yet emitted by a finished walk: after the cursor, or at its second and not among the ids read there."""
    known = parse_time(cursor, "state")
    return known is None or created > known or (created == known and key not in boundary)


@dataclass
class RunCursor:
    created: str | None = None
    boundary: list[str] = field(default_factory=list)
    open: OpenRuns = field(default_factory=OpenRuns)
    read_at: str | None = None
    walk: RunWalk | None = None

    def is_new(self, name: str, created: datetime) -> bool:
        return _after(self.created, self.boundary, name, created)


@dataclass
class ArtifactCursor:
    """When the last walk began, the newest version `createdAt` it emitted (with the ids at that second), and the
    walk under way, whose newest version becomes the cursor only once it is done (collections come unsorted)."""

    read_at: str | None = None
    created: str | None = None
    boundary: list[str] = field(default_factory=list)
    walk_started_at: str | None = None
    walk_full: bool = False
    walk_newest: str | None = None
    walk_newest_ids: list[str] = field(default_factory=list)

    def is_new(self, artifact_id: str, created: datetime) -> bool:
        return _after(self.created, self.boundary, artifact_id, created)

    def saw(self, artifact_id: str, created: datetime) -> None:
        newest = parse_time(self.walk_newest, "state")
        if newest is None or created > newest:
            self.walk_newest, self.walk_newest_ids = iso(created), [artifact_id]
        elif created == newest:
            self.walk_newest_ids.append(artifact_id)

    def finish(self) -> None:
        known, newest = parse_time(self.created, "state"), parse_time(self.walk_newest, "state")
        if newest and (known is None or newest > known):
            self.created, self.boundary = self.walk_newest, sorted(set(self.walk_newest_ids))
        elif newest and newest == known:
            self.boundary = sorted(set(self.boundary) | set(self.walk_newest_ids))
        self.read_at, self.walk_started_at, self.walk_full = self.walk_started_at, None, False
        self.walk_newest, self.walk_newest_ids = None, []


@dataclass
class ProjectState:
    runs: RunCursor = field(default_factory=RunCursor)
    artifacts: ArtifactCursor = field(default_factory=ArtifactCursor)


@dataclass
class SyncState:
    version: int = STATE_VERSION
    tables: dict[str, TableProgress] = field(default_factory=dict)
    projects: dict[str, ProjectState] = field(default_factory=dict)
    projects_read_at: str | None = None
    reconciled_at: str | None = None
    reconcile_started_at: str | None = None
    sync_started_at: str | None = None

    def table(self, name: str) -> TableProgress:
        return self.tables.setdefault(name, TableProgress())

    def project(self, name: str) -> ProjectState:
        return self.projects.setdefault(name, ProjectState())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict | None) -> SyncState:
        if not raw:
            return cls()
        version = raw.get("version")
        if version == 1:
            return cls(tables=_tables(raw))
        if version != STATE_VERSION:
            raise StateError(
                f"saved state has version {version!r}, this connector reads versions 1 and {STATE_VERSION}: "
                "re-sync the connection (Fivetran: Re-sync all historical data) to start from a fresh state"
            )
        try:
            return cls(
                tables=_tables(raw),
                projects={name: _project(p) for name, p in raw.get("projects", {}).items()},
                **{k: raw.get(k) for k in ("projects_read_at", "reconciled_at", "reconcile_started_at")},
                sync_started_at=raw.get("sync_started_at"),
            )
        except (TypeError, KeyError, AttributeError) as error:
            raise StateError(f"saved state is not in the expected shape ({error}): re-sync the connection") from error


def _tables(raw: dict) -> dict[str, TableProgress]:
    return {name: TableProgress(**progress) for name, progress in raw.get("tables", {}).items()}


def _project(raw: dict[str, Any]) -> ProjectState:
    runs = dict(raw["runs"])
    runs["open"] = OpenRuns(**runs.get("open", {}))
    if runs.get("walk"):
        walk = dict(runs["walk"])
        walk["open"] = OpenRuns(**walk.get("open", {}))
        runs["walk"] = RunWalk(**walk)
    return ProjectState(runs=RunCursor(**runs), artifacts=ArtifactCursor(**raw.get("artifacts", {})))
