"""What writing to an Iceberg lakehouse costs beside `fivetran debug`'s DuckDB file, on the same data, in one run.

`make bench-lakehouse` (or `python -m benchmarks.bench_lakehouse`) serves two datasets with injected latency and
syncs each twice, first through the real `fivetran debug` and then through the real `fivetran run` into `weed mini`
(S3 and an Iceberg REST catalog on 127.0.0.1, `devkit/lakehouse.py`):

- `medium` (20 projects of 500 runs, 1,000 artifact versions), every table on;
- `history`: one project of 50 finished runs x 4,000 steps (`bench_history.history_world`), history only, as
  `make bench-history` measures it.

For each sync: the runner's own elapsed time and rows per second, wall time, requests, and the peak RSS of the CLI
and all its children (wandb-core and DuckDB included) sampled every 20 ms; for the lakehouse also the peak RSS of
`weed mini` (the lakehouse itself, not what the connector needs). Then PyIceberg reads the lakehouse back and its
live rows per table must equal the DuckDB warehouse's. The last line printed is one JSON object (`lakehouse_*`
keys, `<dataset>_{debug,run}_*`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import duckdb

from benchmarks.bench_history import history_world
from benchmarks.bench_sync import UNLIMITED, VALUES_OFF, PeakRss, measure_sync
from devkit.expected import column_types
from devkit.fivetran_cli import connector_project
from devkit.lakehouse import BIN, CREDENTIALS, Lakehouse
from devkit.wandb_double import DEFAULT_API_KEY, WandbDouble, build_world
from devkit.wandb_double.dataset import DATASETS, World
from wandb_connector.registry import TABLES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every response")
    parser.add_argument("--datasets", default="medium,history", help="comma-separated: medium, history")
    parser.add_argument("--history-runs", type=int, default=50)
    parser.add_argument("--history-steps", type=int, default=4_000)
    args = parser.parse_args()
    report: dict = {"lakehouse_latency_s": args.latency}
    for name in [n.strip() for n in args.datasets.split(",") if n.strip()]:
        if name == "medium":
            world, settings = build_world(seed=7, **DATASETS["medium"]), {"history": "true"}
        elif name == "history":
            world = history_world(args.history_runs, args.history_steps)
            settings = {"history": "true", "system_metrics": "false", **VALUES_OFF}
        else:
            raise SystemExit(f"unknown dataset {name!r}: medium or history")
        result = measure(world, settings, args.latency)
        print(f"{name}: {json.dumps(result)}", flush=True)
        report |= {f"lakehouse_{name}_{key}": value for key, value in result.items()}
    print(json.dumps(report))


def measure(world: World, settings: dict, latency: float) -> dict:
    with (
        WandbDouble(world, page_cap=1000, latency=latency) as double,
        tempfile.TemporaryDirectory(prefix="bench-lakehouse-") as scratch,
    ):
        tmp = Path(scratch)
        configuration = {
            "api_key": DEFAULT_API_KEY,
            "entity": world.entity,
            "base_url": double.base_url,
            "requests_per_minute": UNLIMITED,
            **settings,
        }
        debug_project = connector_project(tmp / "debug")
        debug = measure_sync(double, debug_project, configuration, tmp / "home-debug")
        with Lakehouse(tmp / "lakehouse") as lake:
            project = connector_project(tmp / "run")
            lake.prepare(project, tmp / "home-run")
            weed = PeakRss(lake.process.pid)
            run = measure_sync(double, project, configuration, tmp / "home-run", "run", BIN, CREDENTIALS)
            weed.stop()
            read = lake.read(counts=True)["tables"]
        warehouse = _live_counts(debug_project / "files" / "warehouse.db")
    lakehouse = {table: read.get(table, {"rows": 0})["rows"] for table in warehouse}
    if lakehouse != warehouse:
        raise SystemExit(f"the lakehouse differs from the warehouse: {lakehouse} != {warehouse}")
    result = {"rows": run["upserts"], "tables": len(lakehouse)}
    for label, sync in (("debug", debug), ("run", run)):
        result |= {
            f"{label}_rows_per_s": round(sync["upserts"] / sync["sync_s"], 1),
            f"{label}_sync_s": round(sync["sync_s"], 2),
            f"{label}_wall_s": sync["wall_s"],
            f"{label}_requests": sync["requests"],
            f"{label}_peak_rss_mb": sync["peak_rss_mb"],
        }
    result["run_over_debug_rows_per_s"] = round(result["run_rows_per_s"] / result["debug_rows_per_s"], 3)
    result["weed_peak_rss_mb"] = round(weed.value / 2**20, 1)
    return result


def _live_counts(database: Path) -> dict[str, int]:
    """Live rows per table of the DuckDB warehouse (a table no upsert reached has no `_fivetran_deleted`)."""
    counts = {}
    with duckdb.connect(str(database), read_only=True) as con:
        for table in TABLES:
            live = "_fivetran_deleted" in column_types(database, table.name)
            where = " where not _fivetran_deleted" if live else ""
            counts[table.name] = con.execute(f"select count(*) from tester.{table.name}{where}").fetchone()[0]
    return counts


if __name__ == "__main__":
    main()
