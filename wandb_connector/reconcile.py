"""The sweep: find what W&B deleted without keeping every id in the state.

W&B offers no listing of deleted runs or versions, and the state may not grow with the number of rows, so deletes
are found by mark and sweep: `op.truncate` soft-deletes every row synced before it, and an `op.update` of just the
key of every row W&B still lists marks that row alive again (restoring a row an earlier sweep deleted, when W&B
restored the run). Truncate and marks are committed by one checkpoint, so the warehouse never shows a live row as
deleted, even when the sync fails half-way. Which tables are swept and how their live keys are listed, each walk
says (`Walker.live_keys`); the sweep walks the registry. The counts it yields replace the running ones, so the
state's counts are exact after every sweep: a row counts when a finished walk already emitted it, so a row created
during the sweep counts once, when the next walk emits it as new.
"""

from __future__ import annotations

from dataclasses import replace

from fivetran_connector_sdk import Logging as log
from fivetran_connector_sdk import Operations as op

from .client import Gone, WandbClient
from .registry import WALKERS
from .state import SyncState
from .tables import PROJECTS, Table, Where
from .walker import Walker


def sweep(client: WandbClient, where: Where, projects: list[str], state: SyncState) -> None:
    """Mark every row W&B still has; everything else this connector synced becomes `_fivetran_deleted`. A child
    walk's rows are not marked: each child deletes the rows of its parent's keys that are gone (`prune`)."""
    swept = [kind for kind in WALKERS if kind.swept and kind.parent is None]
    children = [kind for kind in WALKERS if kind.parent is not None]
    tables = [PROJECTS, *(table for kind in swept for table in kind.tables)]
    for table in tables:
        op.truncate(table.name)
    counts = dict.fromkeys((table.name for table in tables), 0)
    delete = _Pruning(state)
    for kind in (k for k in swept if k.scope == "entity"):
        _mark(client, kind, where, state.walk(None, kind.name, kind.state_type), counts)
    vanished = []
    for project in projects:
        at = replace(where, project=project)
        try:
            live = {
                kind.name: _mark(client, kind, at, state.walk(project, kind.name, kind.state_type), counts)
                for kind in swept
                if kind.scope == "project"
            }
            for kind in (k for k in children if k.parent in live):
                kind.prune(at, state.walk(project, kind.name, kind.state_type), live[kind.parent], delete)
        except Gone as gone:
            if gone.key != "project":
                raise
            vanished.append(project)
            log.warning(
                f"project {at.project_id} vanished during the reconcile: its rows are marked deleted "
                "(any this sweep had already marked, by the next reconcile)"
            )
            continue
        op.update(PROJECTS.name, {"project_id": at.project_id})
        counts[PROJECTS.name] += 1
    for name, count in counts.items():
        state.table(name).count = count
    forget_projects(where, [name for name in state.projects if name not in projects or name in vanished], state)
    log.info(f"reconciled entity '{where.entity}': W&B holds {counts}; rows it no longer has are marked deleted")


def forget_projects(where: Where, gone: list[str], state: SyncState) -> None:
    """Delete the child walks' rows of projects W&B no longer lists (or the configuration leaves out), and forget
    the projects. A key another project's walk holds is not deleted: a renamed project's walk writes some of the
    old project's keys again (an edge between its version and a run of a third project keeps its key)."""
    if not gone:
        return
    children = [k for k in WALKERS if k.parent is not None and k.scope == "project"]
    present = [name for name in state.projects if name not in gone]
    for kind in children:
        held = {
            tuple(sorted(key.items()))
            for name in present
            for key in kind.held_keys(replace(where, project=name), state.walk(name, kind.name, kind.state_type))
        }
        delete = _Pruning(state, held)
        for project in gone:
            kind.prune(replace(where, project=project), state.walk(project, kind.name, kind.state_type), None, delete)
    for project in gone:
        state.projects.pop(project, None)


def _mark(
    client: WandbClient, kind: type[Walker], where: Where, walk_state: object, counts: dict[str, int]
) -> list[dict]:
    """Mark the walk's live keys; returns them, for its child walks to prune by."""
    keys = []
    for live in kind.live_keys(client, where, walk_state):
        op.update(live.table.name, live.key)
        counts[live.table.name] += live.counted
        keys.append(live.key)
    return keys


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
