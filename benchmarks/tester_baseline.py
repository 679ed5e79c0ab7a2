"""The local runner's own memory and speed for the very rows a sync wrote, with no W&B at all.

`fivetran debug` keeps the warehouse in DuckDB inside the connector's process, and DuckDB's buffers grow with the
rows written; production Fivetran has no such destination in the process. `python -m benchmarks.tester_baseline
ROWS.jsonl` upserts the rows of the file (one `{"table": …, "row": …}` per line, as `export_rows` writes them) with
checkpoints when the connector's own `Cadence` would take them (timestamps as datetimes, as the connector passes
them), and prints one JSON line with its peak RSS and rows
per second, so the benchmark can tell the connector's share (wandb, wandb-core, fetching) from the local warehouse's.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
from fivetran_connector_sdk import Connector, Logging
from fivetran_connector_sdk import Operations as op
from fivetran_connector_sdk_cli import core_adapter

from wandb_connector.registry import TABLES
from wandb_connector.sync import Cadence
from wandb_connector.walker import Where


def main() -> None:
    path = Path(sys.argv[1])
    peak = _sample_peak()
    Logging.LOG_LEVEL = Logging.Level.WARNING
    with path.open() as lines:  # only the tables the file writes: the runner re-checks every empty declared table
        written = {json.loads(line)["table"] for line in lines}
    declared = [table.declaration() for table in TABLES if table.name in written]
    connector = Connector(update=lambda configuration, state: _emit(path), schema=lambda configuration: declared)
    started = time.monotonic()
    counts = core_adapter.run(connector, tempfile.mkdtemp(), {}, {})
    elapsed = time.monotonic() - started
    rows = counts["Upserts"]
    print(json.dumps({"rows": rows, "peak_rss_mb": round(peak[0] / 2**20, 1), "rows_per_s": round(rows / elapsed)}))


def _emit(path: Path) -> None:
    """Upsert the file's rows as the connector does: timestamps as datetimes (the file holds them as ISO text)."""
    times = {t.name: [c for c, kind in t.columns.items() if kind == "UTC_DATETIME"] for t in TABLES}
    cadence = Cadence()
    with path.open() as lines:
        for number, line in enumerate(lines, 1):
            record = json.loads(line)
            row = record["row"]
            for column in times[record["table"]]:
                if column in row:
                    row[column] = datetime.fromisoformat(row[column])
            op.upsert(record["table"], row)
            cadence.add()
            if cadence.due():
                with cadence.committing():
                    op.checkpoint({"rows": number})
    op.checkpoint({"done": True})


def export_rows(double, path: Path) -> int:
    """Write the rows a full sync of the double's world produces (built in-process, without wandb) to `path`."""
    world = double.world
    where = Where(world.entity, double.base_url, datetime.now(UTC))
    written = 0
    with path.open("w") as out:
        for table, document, variables, nodes_path in _listings(world):
            for node in _nodes(double, document, variables, nodes_path):
                row = table.row(node, Where(where.entity, where.app_url, where.synced_at, variables.get("project", "")))
                cells = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if v is not None}
                out.write(json.dumps({"table": table.name, "row": cells}) + "\n")
                written += 1
    return written


def _listings(world):
    """Each listing's table, document (as sent: the optional markers stripped), variables and path to its nodes."""
    from wandb_connector.optional import strip
    from wandb_connector.tables import artifacts, projects, run_fields

    def sent(document: str) -> str:
        return strip(document, frozenset()).text

    yield projects.TABLE, sent(projects.PROJECTS_QUERY), {"entity": world.entity}, ("models",)
    for project in world.live_projects():
        base = {"entity": world.entity, "project": project.name}
        runs = {**base, "order": "+created_at", "filters": None}
        yield run_fields.TABLE, sent(run_fields.RUNS), runs, ("project", "runs")
        for collection in world.live_collections(project.name):
            versions = {**base, "type": collection.type, "collection": collection.name}
            path = ("project", "artifactType", "artifactCollection", "artifacts")
            yield artifacts.TABLE, sent(artifacts.VERSIONS), versions, path


def _nodes(double, document: str, variables: dict, path: tuple[str, ...]):
    cursor = None
    while True:
        _, payload = double.answer({"query": document, "variables": {**variables, "cursor": cursor, "perPage": 1000}})
        connection = payload["data"]
        for key in path:
            connection = connection[key]
        yield from (edge["node"] for edge in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            return
        cursor = connection["edges"][-1].get("cursor") or connection["pageInfo"]["endCursor"]


def _sample_peak() -> list[int]:
    peak = [0]
    process = psutil.Process()

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()
    return peak


if __name__ == "__main__":
    main()
