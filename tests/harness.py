"""Sync the connector through the SDK's own runner, in this process, as many times as a test needs.

`fivetran debug` runs this same runner (`core_adapter.run`) after its CLI checks; calling it directly keeps a test
that syncs twenty times fast, and leaves `files/warehouse.db` and `files/state.json` to assert on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from fivetran_connector_sdk import Logging
from fivetran_connector_sdk_cli import core_adapter

import connector
from tests.expected import artifact_rows, project_rows, run_rows, warehouse_rows
from tests.wandb_double import WandbDouble

KEYS = {"projects": ("project_id",), "run_fields": ("project_id", "run_id"), "artifacts": ("artifact_id",)}


@dataclass
class Harness:
    directory: Path
    configuration: dict
    double: WandbDouble
    results: list[dict] = field(default_factory=list)

    def sync(self) -> dict:
        """One sync; returns the runner's counts (Upserts, Deletes, Checkpoints…) and raises what the sync raised."""
        Logging.LOG_LEVEL = Logging.Level.WARNING
        counts = core_adapter.run(connector.connector, str(self.directory), self.configuration, self.state)
        self.results.append(counts)
        return counts

    @property
    def state(self) -> dict:
        path = self.directory / "files" / "state.json"
        return json.loads(path.read_text()) if path.exists() else {}

    @property
    def database(self) -> Path:
        return self.directory / "files" / "warehouse.db"

    def rows(self, table: str, live_only: bool = True) -> dict[tuple, dict]:
        return warehouse_rows(self.database, table, KEYS[table], live_only=live_only)

    def deleted(self, table: str) -> set[tuple]:
        everything = self.rows(table, live_only=False)
        return set(everything) - set(self.rows(table))

    def expected(self) -> dict[str, dict[tuple, dict]]:
        """The double's ground truth, table by table: the rows the warehouse must hold live."""
        world, app_url = self.double.world, self.double.base_url
        return {
            "projects": project_rows(world, app_url),
            "run_fields": run_rows(world, app_url),
            "artifacts": artifact_rows(world),
        }

    def assert_matches_world(self) -> None:
        """Every live row equals the double's ground truth, column by column, and nothing else is live."""
        for table, rows in self.expected().items():
            assert self.rows(table) == rows, table

    def assert_counts_match_world(self) -> None:
        world = self.double.world
        tables = self.state["tables"]
        assert tables["projects"]["count"] == len(project_rows(world, ""))
        assert tables["run_fields"]["count"] == len(run_rows(world, ""))
        assert tables["artifacts"]["count"] == len(artifact_rows(world))
