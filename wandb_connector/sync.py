"""The sync: entity → projects → runs and artifact versions, a checkpoint after every page.

Fivetran commits rows and state together at a checkpoint and drops whatever came after the last one when a sync
fails, so checkpointing per page bounds both the memory the runner holds and the work a failure throws away.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from fivetran_connector_sdk import Logging as log
from fivetran_connector_sdk import Operations as op

from . import queries
from .client import WandbClient, prepare_environment
from .settings import Settings
from .state import SyncState
from .tables import ARTIFACTS, PROJECTS, RUN_FIELDS, Table, Where

PROJECTS_PER_PAGE = 500
RUNS_PER_PAGE = 500
COLLECTIONS_PER_PAGE = 500
ARTIFACTS_PER_PAGE = 500
COMMITTED_ONLY = json.dumps({"state": "COMMITTED"})


def sync(settings: Settings, raw_state: dict) -> None:
    """One sync of the whole entity; wandb's scratch files live and die with it."""
    state = SyncState.from_dict(raw_state)
    with tempfile.TemporaryDirectory(prefix="wandb-connector-", ignore_cleanup_errors=True) as scratch:
        prepare_environment(Path(scratch))
        client = WandbClient(settings)
        Walk(client, settings, state).run()


class Walk:
    def __init__(self, client: WandbClient, settings: Settings, state: SyncState):
        self.client = client
        self.state = state
        self.entity = settings.entity
        self.where = Where(settings.entity, client.app_url, datetime.now(UTC))

    def run(self) -> None:
        self.client.check_access()
        for table in (PROJECTS, RUN_FIELDS, ARTIFACTS):
            self.state.table(table.name).count = 0
        projects = self.projects()
        for project in projects:
            runs = self.runs(project)
            versions = self.artifacts(project)
            log.info(f"project {self.entity}/{project}: {runs} runs, {versions} artifact versions")
        self.checkpoint()
        counts = {name: progress.count for name, progress in self.state.tables.items()}
        log.info(f"synced entity '{self.entity}': {counts}")

    def projects(self) -> list[str]:
        names = []
        what = f"the projects of entity '{self.entity}'"
        for page in self.client.pages(queries.PROJECTS, {"entity": self.entity}, ("models",), what, PROJECTS_PER_PAGE):
            for node in page:
                self.emit(PROJECTS, node, self.where)
                names.append(node["name"])
        self.checkpoint()
        return names

    def runs(self, project: str) -> int:
        where = replace(self.where, project=project)
        variables = {"entity": self.entity, "project": project, "order": "+created_at", "filters": None}
        what = f"the runs of {where.project_id}"
        count = 0
        for page in self.client.pages(queries.RUNS, variables, ("project", "runs"), what, RUNS_PER_PAGE):
            for node in page:
                self.emit(RUN_FIELDS, node, where)
            count += len(page)
            self.checkpoint()
        return count

    def artifacts(self, project: str) -> int:
        where = replace(self.where, project=project)
        variables = {"entity": self.entity, "project": project}
        what = f"the artifact collections of {where.project_id}"
        count = 0
        path = ("project", "artifactCollections")
        for page in self.client.pages(queries.COLLECTIONS, variables, path, what, COLLECTIONS_PER_PAGE):
            for collection in page:
                if collection.get("__typename") == "ArtifactSequence":
                    count += self.versions(where, collection)
        return count

    def versions(self, where: Where, collection: dict) -> int:
        variables = {
            "entity": self.entity,
            "project": where.project,
            "type": collection["type"]["name"],
            "collection": collection["name"],
            "filters": COMMITTED_ONLY,
        }
        what = f"the versions of artifact {where.project_id}/{collection['name']}"
        path = ("project", "artifactType", "artifactCollection", "artifacts")
        count = 0
        for page in self.client.pages(queries.ARTIFACTS, variables, path, what, ARTIFACTS_PER_PAGE):
            for node in page:
                self.emit(ARTIFACTS, node, where)
            count += len(page)
            self.checkpoint()
        return count

    def emit(self, table: Table, node: dict, where: Where) -> None:
        row = table.row(node, where)
        op.upsert(table.name, row)
        self.state.table(table.name).saw(row.get("created_at"))

    def checkpoint(self) -> None:
        op.checkpoint(self.state.to_dict())
