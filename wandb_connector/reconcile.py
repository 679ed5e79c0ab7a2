"""The sweep: find what W&B deleted without keeping every id in the state.

W&B offers no listing of deleted runs or versions, and the state may not grow with the number of rows, so deletes
are found by mark and sweep: `op.truncate` soft-deletes every row synced before it, and an `op.update` of just the
key of every row W&B still lists marks that row alive again (restoring a row an earlier sweep deleted, when W&B
restored the run). Truncate and marks are committed by one checkpoint, so the warehouse never shows a live row as
deleted, even when the sync fails half-way. The listing reads ids only (one small page per 1,000 runs), and the
counts it yields replace the running ones, so the state's counts are exact after every sweep.
"""

from __future__ import annotations

from datetime import datetime

from fivetran_connector_sdk import Logging as log
from fivetran_connector_sdk import Operations as op

from .artifacts import artifact_keys
from .client import WandbClient
from .convert import parse_time
from .runs import run_keys
from .state import SyncState
from .tables import ARTIFACTS, PROJECTS, RUN_FIELDS, Where


def sweep(client: WandbClient, entity: str, projects: list[str], state: SyncState, now: datetime) -> None:
    """Mark every row W&B still has; everything else this connector synced becomes `_fivetran_deleted`."""
    for table in (PROJECTS, RUN_FIELDS, ARTIFACTS):
        op.truncate(table.name)
    newest_artifact = parse_time(state.table(ARTIFACTS.name).max_created_at, "state")
    counts = {PROJECTS.name: 0, RUN_FIELDS.name: 0, ARTIFACTS.name: 0}
    for project in projects:
        where = Where(entity, "", now, project)
        op.update(PROJECTS.name, {"project_id": where.project_id})
        counts[PROJECTS.name] += 1
        synced_up_to = parse_time(state.project(project).runs.created, "state")
        for name, created in run_keys(client, where):
            op.update(RUN_FIELDS.name, {"project_id": where.project_id, "run_id": name})
            counts[RUN_FIELDS.name] += synced_up_to is not None and created <= synced_up_to
        for artifact_id, created in artifact_keys(client, where):
            op.update(ARTIFACTS.name, {"artifact_id": artifact_id})
            counts[ARTIFACTS.name] += newest_artifact is not None and created is not None and created <= newest_artifact
    for name, count in counts.items():
        state.table(name).count = count
    state.projects = {name: state.project(name) for name in projects}
    log.info(f"reconciled entity '{entity}': W&B holds {counts}; rows it no longer has are marked deleted")
