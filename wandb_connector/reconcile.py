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
from .client import WandbClient
from .runs import run_keys
from .state import SyncState
from .tables import ARTIFACTS, PROJECTS, RUN_FIELDS, Where


def sweep(client: WandbClient, entity: str, projects: list[str], state: SyncState, now: datetime) -> None:
    """Mark every row W&B still has; everything else this connector synced becomes `_fivetran_deleted`."""
    for table in (PROJECTS, RUN_FIELDS, ARTIFACTS):
        op.truncate(table.name)
    counts = {PROJECTS.name: 0, RUN_FIELDS.name: 0, ARTIFACTS.name: 0}
    for project in projects:
        where = Where(entity, "", now, project)
        cursors = state.project(project)
        op.update(PROJECTS.name, {"project_id": where.project_id})
        counts[PROJECTS.name] += 1
        for name, created in run_keys(client, where):
            op.update(RUN_FIELDS.name, {"project_id": where.project_id, "run_id": name})
            counts[RUN_FIELDS.name] += not cursors.runs.is_new(name, created)
        for artifact_id, created in artifact_keys(client, where):
            op.update(ARTIFACTS.name, {"artifact_id": artifact_id})
            counts[ARTIFACTS.name] += not cursors.artifacts.is_new(artifact_id, created)
    for name, count in counts.items():
        state.table(name).count = count
    state.projects = {name: state.project(name) for name in projects}
    log.info(f"reconciled entity '{entity}': W&B holds {counts}; rows it no longer has are marked deleted")
