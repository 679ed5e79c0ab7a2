"""The local runner's own memory for N rows: a connector that only upserts run-shaped rows, no W&B at all.

`fivetran debug` keeps the warehouse in DuckDB inside the connector's process, and DuckDB's buffers grow with the
rows written; production Fivetran has no such destination in the process. Run as `python -m
benchmarks.tester_baseline N`: prints one JSON line with the peak RSS, so the benchmark can tell the connector's
share (wandb, wandb-core, fetching) from the local warehouse's.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime

import psutil
from fivetran_connector_sdk import Connector, Logging
from fivetran_connector_sdk import Operations as op
from fivetran_connector_sdk_cli import core_adapter

from wandb_connector.tables import declarations


def main() -> None:
    rows = int(sys.argv[1])
    peak = _sample_peak()
    Logging.LOG_LEVEL = Logging.Level.WARNING
    connector = Connector(update=lambda configuration, state: _emit(rows), schema=lambda configuration: declarations())
    started = time.monotonic()
    core_adapter.run(connector, tempfile.mkdtemp(), {}, {})
    elapsed = time.monotonic() - started
    print(json.dumps({"rows": rows, "peak_rss_mb": round(peak[0] / 2**20, 1), "rows_per_s": round(rows / elapsed)}))


def _emit(rows: int) -> None:
    now = datetime.now(UTC)
    for i in range(rows):
        op.upsert("run_fields", _row(i, now))
        if (i + 1) % 500 == 0:
            op.checkpoint({"rows": i + 1})
    op.checkpoint({"rows": rows})


def _row(i: int, now: datetime) -> dict:
    """About the size and shape of a run row from the demo dataset."""
    return {
        "project_id": f"acme-ml/project-{i % 50}",
        "run_id": f"{i:08x}",
        "storage_id": "UnVuOnYxOm" + "x" * 40,
        "name": f"exp-{i % 1000:03d}-train-2026-01-05T15-37-41Z",
        "state": "finished",
        "entity": "acme-ml",
        "project": f"project-{i % 50}",
        "path": f"acme-ml/project-{i % 50}/{i:08x}",
        "url": f"https://wandb.ai/acme-ml/project-{i % 50}/runs/{i:08x}",
        "user": "alice",
        "tags": ["nlp", "baseline"],
        "job_type": "train",
        "host": "gpu-node-3",
        "read_only": False,
        "created_at": now,
        "updated_at": now,
        "heartbeat_at": now,
        "runtime_seconds": 1234.0,
        "last_step": 9,
        "history_line_count": 10,
        "config": {
            "params": {"learning_rate": 0.0003, "batch_size": 32, "max_length": 256, "seed": i % 1000},
            "meta": {"task": "binary phishing detection", "labels": ["ham", "phishing"], "license": "MIT"},
        },
        "summary": {"_step": 9, "_runtime": 1234.0, "train/loss": 0.5, "eval/f1": 0.9, "eval": {"tp": 1, "fp": 2}},
        "system_metrics": {"system.gpu.0.gpu": 50.0, "system.cpu": 20.0},
        "synced_at": now,
    }


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
