"""The sweep: rows W&B no longer has become `_fivetran_deleted`, and nothing else does.

W&B offers no listing of deleted runs or versions, so a reconcile compares what W&B lists now with what the
connector wrote: each swept walk records in the state the keys of the rows it emitted (run names, version ids,
sweep names, usernames: `Walker.known_keys`), lists the keys W&B still holds (ids only: `Walker.live_keys`), and
deletes exactly the difference. A child walk's rows (history, config keys, edges) are not listed: each child
deletes the rows of its parent's keys that are gone (`prune`).

Only the projects the configuration selects are swept. A project the filters leave out keeps its rows as they
were (not deleted, no longer updated), as Fivetran treats a table deselected in its schema tab; a project W&B no
longer lists (deleted, renamed, hidden from the key) loses every row the connector wrote of it. So a filter never
deletes a row; only W&B does.

A state written before the walks recorded their keys (version 3 and older) is swept once by marking instead:
`op.truncate` soft-deletes every row of each swept table, then an `op.update` of the key of every row W&B still
lists marks it live again, in every project the warehouse holds (those the filters now leave out too), all
committed by one checkpoint, so the warehouse never shows a live row as deleted; what W&B listed becomes the
record. The table counts are exact after either sweep.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import replace

from fivetran_connector_sdk import Logging as log
from fivetran_connector_sdk import Operations as op

from .client import WandbClient
from .registry import WALKERS, swept_tables
from .shapes import Gone
from .state import SyncState
from .tables.projects import TABLE as PROJECTS
from .walker import Table, Walker, Where


def sweep(client: WandbClient, where: Where, wanted: list[str], listed: Collection[str], state: SyncState) -> None:
    """Delete every row of the `wanted` projects (and the entity) that W&B no longer holds, and every row of the
    projects it no longer lists at all; `listed` is every project W&B listed, whatever the filters."""
    marking = state.mark_sweep_due
    swept = [kind for kind in WALKERS if kind.swept and kind.parent is None]
    if marking:
        for name in swept_tables():
            op.truncate(name)
    for kind in (k for k in swept if k.scope == "entity"):
        _sweep(client, kind, where, state.walk(None, kind.name, kind.state_type), marking)
    projects = [name for name in state.projects if name in listed] if marking else wanted
    vanished = []
    for name in projects:
        if not _sweep_project(client, where, name, state, marking):
            vanished.append(name)
        state.seal(name)
    forget_projects(where, [name for name in state.projects if name not in listed or name in vanished], state)
    _recount(where, state)
    state.mark_sweep_due = False
    log.info(f"reconciled entity '{where.entity}': rows W&B no longer has are marked deleted")


def _sweep_project(client: WandbClient, where: Where, project: str, state: SyncState, marking: bool) -> bool:
    """Sweep one project's walks; False when the project vanished meanwhile (its rows go with the gone ones)."""
    at = replace(where, project=project)
    children = [kind for kind in WALKERS if kind.parent is not None]
    try:
        live = {
            kind.name: _sweep(client, kind, at, state.walk(project, kind.name, kind.state_type), marking)
            for kind in WALKERS
            if kind.swept and kind.parent is None and kind.scope == "project"
        }
        for kind in (k for k in children if k.parent in live):
            kind.prune(at, state.walk(project, kind.name, kind.state_type), live[kind.parent], _Pruning(state))
    except Gone as gone:
        if gone.key != "project":
            raise
        log.warning(f"project {at.project_id} vanished during the reconcile: its rows are marked deleted")
        return False
    if marking:
        op.update(PROJECTS.name, {"project_id": at.project_id})
    return True


def _sweep(client: WandbClient, kind: type[Walker], where: Where, walk_state: object, marking: bool) -> list[dict]:
    """Delete the walk's rows whose keys W&B no longer lists (marking: mark the ones it lists live), and keep the
    record of what is left; returns the live keys, for the walk's children to prune by."""
    live = list(kind.live_keys(client, where, walk_state))
    if marking:
        for key in live:
            op.update(key.table.name, key.key)
        kind.record(where, walk_state, live)
        return [key.key for key in live]
    alive = {key.ident for key in live}
    known = list(kind.known_keys(where, walk_state))
    for key in (key for key in known if key.ident not in alive):
        op.delete(key.table.name, key.key)
    kind.record(where, walk_state, [key for key in known if key.ident in alive])
    return [key.key for key in live]


def _recount(where: Where, state: SyncState) -> None:
    """The swept tables' counts, from the walks' records (every project the state holds: the ones the filters
    leave out keep their rows): exact after every sweep, whatever a crashed sync counted twice."""
    counts: Counter[str] = Counter({PROJECTS.name: len(state.projects)})
    for kind in (k for k in WALKERS if k.swept and k.parent is None):
        scopes = [None] if kind.scope == "entity" else list(state.projects)
        for project in scopes:
            with state.reading(project):
                at, walk_state = replace(where, project=project or ""), state.walk(project, kind.name, kind.state_type)
                counts.update(key.table.name for key in kind.known_keys(at, walk_state))
        for table in kind.tables:
            state.table(table.name).count = counts[table.name]
    state.table(PROJECTS.name).count = counts[PROJECTS.name]


def forget(where: Where, gone: list[str], state: SyncState) -> None:
    """Projects W&B no longer lists, found by a sync's listing: every row of them goes now, and the counts follow."""
    forget_projects(where, gone, state)
    _recount(where, state)


def forget_projects(where: Where, gone: list[str], state: SyncState) -> None:
    """Delete every row the connector wrote of projects W&B no longer lists, and forget them. A key another
    project's walk holds is not deleted: a renamed project's walk writes some of the old name's keys again (its
    artifact versions keep their ids; an edge between its version and a run of a third project keeps its key)."""
    if not gone:
        return
    present = [name for name in state.projects if name not in gone]
    for kind in (k for k in WALKERS if k.scope == "project" and (k.swept or k.parent is not None)):
        held = _held(where, kind, present, state)
        deletes = _Pruning(state, held)
        for project in gone:
            at, walk_state = replace(where, project=project), state.walk(project, kind.name, kind.state_type)
            if kind.parent is not None:
                kind.prune(at, walk_state, None, deletes)
                continue
            for key in kind.known_keys(at, walk_state):
                deletes.delete(key.table, key.key)
    for project in gone:
        op.delete(PROJECTS.name, {"project_id": replace(where, project=project).project_id})
        state.projects.pop(project, None)
        state.project_rows.pop(project, None)


def _held(where: Where, kind: type[Walker], present: list[str], state: SyncState) -> set[tuple]:
    """The keys of `kind`'s rows that the walks of `present` projects hold."""
    held: set[tuple] = set()
    for project in present:
        with state.reading(project):
            at, walk_state = replace(where, project=project), state.walk(project, kind.name, kind.state_type)
            if kind.parent is not None:
                keys = kind.held_keys(at, walk_state)
            else:
                keys = (key.key for key in kind.known_keys(at, walk_state))
            held.update(tuple(sorted(key.items())) for key in keys)
    return held


class _Pruning:
    """Where a child walk's prune deletes go: straight to the runner, committed with the sweep's checkpoint. A key
    in `held` is not deleted (another project's walk emitted its row too, and counted it again, so the count
    still moves)."""

    def __init__(self, state: SyncState, held: set[tuple] | frozenset = frozenset()):
        self.state = state
        self.held = held

    def delete(self, table: Table, key: dict) -> None:
        if tuple(sorted(key.items())) not in self.held:
            op.delete(table.name, key)

    def tally(self, table: Table, rows: int) -> None:
        self.state.table(table.name).count += rows
