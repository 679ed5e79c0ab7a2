"""The walker contract: what a table module provides, so that `sync.py` and `reconcile.py` drive every walk the same
way and name no table. A table module (`tables/`) holds a table's declaration (`Table`: name, key, column types and
the function that turns a W&B node into a row), its GraphQL documents, its walk (a `Walker`), its switches and its
cost note; `registry.py` lists the modules.

A walk belongs to a scope, the entity (users) or each project (runs, artifact versions, sweeps), and owns one
state in `SyncState` under its `name` (its table's name), of its own `state_type`. The driver, per project in
project order:

1. `start(now, full)` in the main thread, which owns the state: begin or resume the walk (`full` when a reconcile
   is under way and this walk has not been redone since it began); it returns what a worker fetches.
2. Optionally `first_page()`, also in the main thread: the walk's first request as a `Part` of one document that
   asks a project for every walk's first page at once, so a project with nothing new costs one request.
3. The fetch, in a worker thread: `fetch(first)` yields items (pages), reading only through the client; `first` is
   the walk's share of the shared first request (None when it asked for none). It touches no state.
4. `apply(item)` in the main thread, in order: emit rows (`emit`), move the walk's state, offer a checkpoint.
   An item that is a `Departed` says which of the walk's keys W&B no longer has (found at this sync, from a count
   or a whole listing): the walk deletes their rows, and the driver has its child walks prune theirs.
5. `finish()` once every item was applied: the walk's state is what the next walk starts from.

For the reconcile's sweep (`reconcile.py`), a swept walk records the keys of the rows it wrote in its state:
`known_keys` lists them, `live_keys` lists every key W&B still holds, cheaply, and `record` makes the record
exactly the keys given (the known ones W&B still holds, after the sweep deleted the rest).

A child walk (a run's history, its system metrics) names its `parent` walk and has no listing of its own: what
`start` returns is called, in the worker, with each of the parent's items, and yields the child's items for it,
which the driver applies before the parent's item (so the parent's position never passes a run whose history is
not committed yet). A child is not swept, since re-marking its rows would make every one of them billable again:
the sweep hands `prune` the parent's live keys instead, and the child deletes the rows of the ones that are gone.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from .client import WandbClient
from .settings import Option, Settings
from .state import WalkState


@dataclass(frozen=True)
class Where:
    """What a row builder needs beyond the node: whose data it is, the UI's address, and the sync's clock."""

    entity: str
    app_url: str
    synced_at: datetime
    project: str = ""

    @property
    def project_id(self) -> str:
        return f"{self.entity}/{self.project}"


@dataclass(frozen=True)
class Cost:
    """What a table costs, as its module's note says and the docs' table of costs repeats: the requests a sync with
    nothing new sends for it, the rows a sync writes, and what a reconcile reads and writes."""

    requests: str
    rows: str
    reconcile: str


@dataclass(frozen=True)
class Guess:
    """A table's estimate for one scope: rows a first sync writes, monthly active rows of a typical month, and
    whether either is a sampled average times a count (rather than a count a listing says)."""

    first: float
    monthly: float
    sampled: bool = False


@dataclass(frozen=True)
class Table:
    """A table's declaration: what `schema()` declares, and the function that turns a W&B node into its row."""

    name: str
    primary_key: tuple[str, ...]
    columns: dict[str, str]
    build: Callable[[dict, Where], dict[str, Any]]

    def declaration(self) -> dict:
        return {"table": self.name, "primary_key": list(self.primary_key), "columns": dict(self.columns)}

    def row(self, node: dict, where: Where) -> dict[str, Any]:
        return self.build(node, where) | {"synced_at": where.synced_at}

    def digest(self, node: dict, where: Where) -> str:
        """The digest of the row `node` makes, in hex: what a walk keeps to tell an unchanged row."""
        return row_digest(self.build(node, where)).hex()


def row_digest(row: dict) -> bytes:
    """4 bytes that change when the row does (`synced_at` aside): what a walk keeps of each row it wrote, to write
    a row read again only when it changed (a reconcile then writes nothing for what did not change). A collision
    would keep an edit out until the next change of that row: about one in four billion."""
    built = json.dumps({k: v for k, v in row.items() if k != "synced_at"}, sort_keys=True, default=str)
    return hashlib.blake2b(built.encode(), digest_size=4).digest()


# How far before the last walk began a timestamp still counts as "changed since": clock skew between W&B and
# here, and W&B's API showing a change minutes after it happened.
CHANGE_SKEW = timedelta(minutes=15)


class Deletes(Protocol):
    """What a prune needs: delete a row, and move a table's row count (a delete may name a row that never was)."""

    def delete(self, table: Table, key: dict) -> None: ...

    def tally(self, table: Table, rows: int) -> None: ...


class Sink(Deletes, Protocol):
    """Where a walk's rows go (the sync): `emit` builds a node's row and writes it, `write` writes a row built
    already, each counting it when `new`; `checkpoint` commits once enough wait."""

    def emit(self, table: Table, node: dict, where: Where, new: bool) -> None: ...

    def write(self, table: Table, row: dict, new: bool) -> None: ...

    def checkpoint(self, force: bool = False) -> None: ...


@dataclass(frozen=True)
class Departed:
    """Rows of a walk whose keys W&B no longer has, found at this sync (`gone`, keys of its own tables): the walk
    deletes them, then the driver has its child walks prune by the keys it still holds (`known_keys`)."""

    gone: list[dict]


StateT = TypeVar("StateT", bound=WalkState)
Fetch = Callable[[dict | None], Iterator[Any]]
# What a child walk's `start` returns: called in the worker with each of the parent's items.
Follow = Callable[[Any], Iterator[Any]]


@dataclass(frozen=True)
class Part:
    """One walk's field in a project's shared first request: `selection` is a field of `Project` (aliased to the
    walk's name) whose variables are named in `variables` as name → (GraphQL type, value)."""

    selection: str
    variables: dict[str, tuple[str, Any]] = field(default_factory=dict)
    fragments: str = ""
    # More `Project` fields the walk asks in the same request (alias → selection): counts, mostly. The worker
    # hands their answers to the walk (`Walker.extras`) before its fetch begins.
    extras: dict[str, str] = field(default_factory=dict)

    @property
    def field_name(self) -> str:
        """W&B's name of the field the selection asks for (after its alias)."""
        return self.selection.split(":", 1)[1].split("(", 1)[0].strip()


@dataclass(frozen=True)
class LiveKey:
    """The key of one row of `table`, for the sweep; `group` is where the walk's record files it (an artifact
    version's collection), and no part of its identity."""

    table: Table
    key: dict[str, Any]
    group: str = ""

    @property
    def ident(self) -> tuple:
        return self.table.name, *sorted(self.key.items())


class Walker(ABC, Generic[StateT]):
    """`name` is the walk's table's (its state's key); `switch` the option that turns it on or off (None: always
    on)."""

    name: ClassVar[str]
    scope: ClassVar[str] = "project"
    tables: ClassVar[tuple[Table, ...]]
    state_type: ClassVar[type[WalkState]] = WalkState
    swept: ClassVar[bool] = True
    parent: ClassVar[str | None] = None
    switch: ClassVar[Option | None] = None

    def __init__(self, client: WandbClient, where: Where, state: StateT, sink: Sink):
        self.client = client
        self.where = where
        self.state = state
        self.emit, self.write, self.delete, self.tally = sink.emit, sink.write, sink.delete, sink.tally
        self.checkpoint = sink.checkpoint
        self.emitted = 0
        self.extras: dict[str, Any] = {}  # the answers to its first page's `extras`, set in the worker

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        """Whether the configuration asks for this walk (a disabled walk keeps its state and its rows)."""
        return cls.switch is None or getattr(settings, cls.switch.key)

    @classmethod
    def needs_everything(cls, state: StateT, settings: Settings) -> bool:
        """A child walk: whether it must see every parent item this sync (it never walked, or what it keeps of each
        row depends on settings that changed); the parent then walks in full."""
        return state.read_at is None

    @abstractmethod
    def start(self, now: datetime, full: bool) -> Fetch | Follow:
        """Begin or resume the walk; returns what a worker fetches (a child walk: what it follows the parent
        with)."""

    def first_page(self) -> Part | None:
        """The walk's first request, to share with the project's other walks; None to send its own."""
        return None

    @abstractmethod
    def apply(self, item: Any) -> None:
        """Emit a fetched item and move the state with it."""

    def finish(self) -> None:
        """Close the walk; its state is committed with whatever follows."""
        self.state.end()
        self.checkpoint()

    @classmethod
    def live_keys(cls, client: WandbClient, where: Where, state: StateT) -> Iterator[LiveKey]:
        """Every key W&B still holds, for the sweep (walks whose rows W&B cannot delete set `swept` False)."""
        raise NotImplementedError(f"{cls.__name__} is swept but lists no live keys")

    @classmethod
    def known_keys(cls, where: Where, state: StateT) -> Iterator[LiveKey]:
        """A swept walk: the keys of the rows it wrote and has not deleted, from its record in the state."""
        raise NotImplementedError(f"{cls.__name__} is swept but keeps no record of its keys")

    @classmethod
    def record(cls, where: Where, state: StateT, keys: list[LiveKey]) -> None:
        """A swept walk: make its record of the keys it wrote exactly `keys` (what the sweep left live)."""
        raise NotImplementedError(f"{cls.__name__} is swept but keeps no record of its keys")

    @classmethod
    def held_keys(cls, where: Where, state: StateT) -> Iterator[dict]:
        """A child walk: the keys of its rows that another project's prune could also name (none, when every key
        names its own project)."""
        return iter(())

    @classmethod
    def prune(cls, where: Where, state: StateT, live: list[dict] | None, out: Deletes) -> None:
        """A child walk: delete the rows of the parent keys not in `live` (None: the whole project is gone)."""
        raise NotImplementedError(f"{cls.__name__} is a child walk that cannot prune")
