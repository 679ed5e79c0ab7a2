"""`make estimate`'s figures beside what a first sync then writes, on the double's datasets.

For each dataset: the estimate (its requests and seconds), then a first sync through the SDK's own runner with the
same configuration (every table on, history included), and per table the estimated rows, the rows the warehouse then
holds, and their ratio. The last line printed is one JSON object (`estimate_<dataset>_*` keys).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from fivetran_connector_sdk import Logging
from fivetran_connector_sdk_cli import core_adapter

import connector
from benchmarks.bench_sync import UNLIMITED
from devkit.expected import primary_keys, warehouse_rows
from devkit.wandb_double import DEFAULT_API_KEY, WandbDouble, build_world
from devkit.wandb_double.dataset import DATASETS
from wandb_connector.client import WandbClient, prepare_environment
from wandb_connector.estimate import estimate
from wandb_connector.registry import TABLES, validate_configuration


def measure(dataset: str, seed: int) -> dict:
    world = build_world(seed=seed, **DATASETS[dataset])
    with WandbDouble(world, page_cap=1000) as double, tempfile.TemporaryDirectory() as tmp:
        configuration = {
            "api_key": DEFAULT_API_KEY,
            "entity": world.entity,
            "base_url": double.base_url,
            "requests_per_minute": UNLIMITED,
            "history": "true",
        }
        settings = validate_configuration(configuration)
        prepare_environment(Path(tmp) / "scratch")
        started = time.monotonic()
        guessed = estimate(WandbClient(settings), settings, datetime.now(UTC)).as_json()
        seconds, requests = time.monotonic() - started, double.count()
        double.reset_log()
        Logging.LOG_LEVEL = Logging.Level.WARNING
        started = time.monotonic()
        core_adapter.run(connector.connector, tmp, configuration, {})
        synced_s, sync_requests = time.monotonic() - started, double.count()
        keys = primary_keys()
        database = Path(tmp) / "files" / "warehouse.db"
        written = {t.name: len(warehouse_rows(database, t.name, keys[t.name])) for t in TABLES}
    report = {"requests": requests, "seconds": round(seconds, 1), "sync_requests": sync_requests}
    report["sync_seconds"] = round(synced_s, 1)
    for table, rows in written.items():
        guess = guessed[table]["first_sync_rows"]
        report[f"{table}_estimated"] = guess
        report[f"{table}_synced"] = rows
        report[f"{table}_ratio"] = round(guess / rows, 3) if rows else None
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default="demo,medium", help="comma-separated names from the double's DATASETS")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    report: dict = {}
    for name in [n.strip() for n in args.datasets.split(",") if n.strip()]:
        result = measure(name, args.seed)
        print(f"{name}: {json.dumps(result)}", flush=True)
        report |= {f"estimate_{name}_{key}": value for key, value in result.items()}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
