"""The sweep: find what W&B deleted without keeping every id in the state.

W&B offers no listing of deleted runs or versions, and the state may not grow with the number of rows, so deletes
are found by mark and sweep: `op.truncate` soft-deletes every row synced before it, and an `op.update` of just the
key of every row W&B still lists marks that row alive again (restoring a row an earlier sweep deleted, when W&B
restored the run). Truncate and marks are committed by one checkpoint, so the warehouse never shows a live row as
deleted, even when the sync fails half-way. The listing reads ids only (one small page per 1,000 runs), and the
counts it yields replace the running ones, so the state's counts are exact after every sweep: a row counts when its
project's cursor says a walk already emitted it, so a run or version created during the sweep counts once, when
the next walk emits it as new.
"""

from __future__ import annotations

from datetime import datetime

from fivetran_connector_sdk import Logging as log
from fivetran_connector_sdk import Operations as op

from .artifacts import artifact_keys
from .client import Gone, WandbClient
from .runs import run_keys
from .state import SyncState
from .tables import ARTIFACTS, PROJECTS, RUN_FIELDS, Where


def sweep(client: WandbClient, entity: str, projects: list[str], state: SyncState, now: datetime) -> None:
    """Mark every row W&B still has; everything else this connector synced becomes `_fivetran_deleted`."""
    for table in (PROJECTS, RUN_FIELDS, ARTIFACTS):
        op.truncate(table.name)
    counts = {PROJECTS.name: 0, RUN_FIELDS.name: 0, ARTIFACTS.name: 0}
    vanished = []
    for project in projects:
        try:
            runs, versions = _mark(client, Where(entity, "", now, project), state)
        except Gone as gone:
            if gone.key != "project":
                raise
            vanished.append(project)
            log.warning(
                f"project {entity}/{project} vanished during the reconcile: its rows are marked deleted "
                "(any this sweep had already marked, by the next reconcile)"
            )
            continue
        op.update(PROJECTS.name, {"project_id": f"{entity}/{project}"})
        counts[PROJECTS.name] += 1
        counts[RUN_FIELDS.name] += runs
        counts[ARTIFACTS.name] += versions
    for name, count in counts.items():
        state.table(name).count = count
    state.projects = {name: state.project(name) for name in projects if name not in vanished}
    log.info(f"reconciled entity '{entity}': W&B holds {counts}; rows it no longer has are marked deleted")


def _mark(client: WandbClient, where: Where, state: SyncState) -> tuple[int, int]:
    """Mark a project's live runs and versions; return how many of each a walk already emitted."""
    cursors = state.project(where.project)
    runs = versions = 0
    for name, created in run_keys(client, where):
        op.update(RUN_FIELDS.name, {"project_id": where.project_id, "run_id": name})
        runs += not cursors.runs.is_new(name, created)
    for artifact_id, created in artifact_keys(client, where):
        op.update(ARTIFACTS.name, {"artifact_id": artifact_id})
        versions += not cursors.artifacts.is_new(artifact_id, created)
    return runs, versions
