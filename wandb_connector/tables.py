"""The table registry: each table's name, key, column types and the function that turns a W&B node into a row.

`schema()` and every upsert read from here, so a table is defined in one place and a test can check that every
emitted column is declared. Row builders take the raw GraphQL node (a dict) so they are testable without W&B.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .convert import (
    SUMMARY_INTERNAL_KEYS,
    MalformedValue,
    NonFinite,
    finite_json,
    json_object,
    number,
    parse_time,
    unwrap_config,
    yaml_object,
)


@dataclass(frozen=True)
class Where:
    """What a row builder needs beyond the node: whose data it is, the UI's address, and the sync's clock."""

    entity: str
    app_url: str
    synced_at: datetime
    project: str = ""

    @property
    def project_id(self) -> str:
        return f"{self.entity}/{self.project}"


@dataclass(frozen=True)
class Table:
    name: str
    primary_key: tuple[str, ...]
    columns: dict[str, str]
    build: Callable[[dict, Where], dict[str, Any]]

    def declaration(self) -> dict:
        return {"table": self.name, "primary_key": list(self.primary_key), "columns": dict(self.columns)}

    def row(self, node: dict, where: Where) -> dict[str, Any]:
        return self.build(node, where) | {"synced_at": where.synced_at}

    def digest(self, node: dict, where: Where) -> str:
        """A short digest of the row `node` makes, `synced_at` aside: what a walk keeps to tell an unchanged row
        when W&B offers no timestamp that says so."""
        built = json.dumps(self.build(node, where), sort_keys=True, default=str)
        return hashlib.sha256(built.encode()).hexdigest()[:16]


def project_row(node: dict, where: Where) -> dict[str, Any]:
    entity = node.get("entityName") or where.entity
    name = node["name"]
    return {
        "project_id": f"{entity}/{name}",
        "entity": entity,
        "name": name,
        "url": f"{where.app_url}/{entity}/{name}",
        "storage_id": node.get("id"),
        "description": node.get("description") or None,
        "created_at": parse_time(node.get("createdAt"), f"project {name} createdAt"),
        "updated_at": parse_time(node.get("updatedAt"), f"project {name} updatedAt"),
        "is_benchmark": node.get("isBenchmark"),
        "owner": (node.get("user") or {}).get("username"),
    }


FINAL_STATES = ("finished", "crashed", "failed", "killed", "preempted")


def run_row(node: dict, where: Where) -> dict[str, Any]:
    run_id = node["name"]
    what = f"run {where.project_id}/{run_id}"
    everything = json_object(node.get("summaryMetrics"), f"{what} summaryMetrics")
    summary = {k: v for k, v in everything.items() if k not in SUMMARY_INTERNAL_KEYS}
    system = json_object(node.get("systemMetrics"), f"{what} systemMetrics")
    history_keys = node.get("historyKeys") or {}
    info = node.get("runInfo") or {}
    git = info.get("git") or {}
    wandb_internal = everything.get("_wandb")
    runtime = number(summary.get("_runtime"))
    if runtime is None and isinstance(wandb_internal, dict):
        runtime = number(wandb_internal.get("runtime"))
    gpus = info.get("gpuCount")
    if gpus is None and system:
        gpus = len({match[1] for key in system if (match := GPU_KEY.match(key))})
    heartbeat = parse_time(node.get("heartbeatAt"), f"{what} heartbeatAt")
    return {
        "project_id": where.project_id,
        "run_id": run_id,
        "storage_id": node.get("id"),
        "name": node.get("displayName"),
        "state": node.get("state"),
        "entity": where.entity,
        "project": where.project,
        "path": f"{where.project_id}/{run_id}",
        "url": f"{where.app_url}/{where.project_id}/runs/{run_id}",
        "user": (node.get("user") or {}).get("username"),
        "tags": node.get("tags") or [],
        "group": node.get("group"),
        "job_type": node.get("jobType"),
        "sweep_name": node.get("sweepName"),
        "notes": node.get("notes") or None,
        "commit": node.get("commit"),
        "host": node.get("host"),
        "read_only": node.get("readOnly"),
        "created_at": parse_time(node.get("createdAt"), f"{what} createdAt"),
        "updated_at": parse_time(node.get("updatedAt"), f"{what} updatedAt"),
        "heartbeat_at": heartbeat,
        "ended_at": heartbeat if node.get("state") in FINAL_STATES else None,
        "runtime_seconds": runtime,
        "gpu_count": gpus,
        "gpu_hours": runtime * gpus / 3600 if runtime is not None and gpus is not None else None,
        "gpu_type": info.get("gpu") or None,
        "cpu_count": info.get("cpuCount"),
        "os": info.get("os") or None,
        "python_version": info.get("python") or None,
        "program": info.get("program") or None,
        "code_path": info.get("codePath") or None,
        "args": info.get("args"),
        "executable": info.get("executable") or None,
        "git_remote": git.get("remote") or None,
        "git_commit": git.get("commit") or node.get("commit") or None,
        "last_step": _step(history_keys.get("lastStep"), summary.get("_step")),
        "history_line_count": node.get("historyLineCount"),
        "config": unwrap_config(node.get("config"), f"{what} config"),
        "summary": summary,
        "system_metrics": system,
    }


def value_row(node: dict, where: Where) -> dict[str, Any]:
    """One flattened config or summary key of run `node["run"]`: the value typed for SQL (a number, a text, a
    boolean) beside its raw JSON; `value_type` says which, and a number that is NaN or ±Infinity (no DOUBLE column
    carries those) is a `number` whose text says which."""
    value = node["value"]
    kind, text, flag, amount = "string", None, None, None
    if value is None:
        kind = "null"
    elif isinstance(value, bool):
        kind, flag = "boolean", value
    elif isinstance(value, int | float):
        kind, amount = "number", float(value)
    elif isinstance(value, NonFinite):
        kind, text = "number", str(value)
    elif isinstance(value, str):
        text = value
    elif isinstance(value, list):
        kind = "list"
    elif isinstance(value, dict):
        kind = "object"
    else:
        raise MalformedValue(f"run {where.project_id}/{node['run']} {node['key']} is not a JSON value")
    return {
        "project_id": where.project_id,
        "run_id": node["run"],
        "key": node["key"],
        "path": node["path"],
        "value_type": kind,
        "number_value": amount,
        "string_value": text,
        "boolean_value": flag,
        "value_json": finite_json(value),
    }


VERSION_ALIAS = re.compile(r"^v\d+$")


def artifact_row(node: dict, where: Where) -> dict[str, Any]:
    collection = node["artifactSequence"]["name"]
    version = f"v{node['versionIndex']}"
    what = f"artifact {where.project_id}/{collection}:{version}"
    creator = node.get("createdBy") or {}
    creator_project = creator.get("project") or {}
    return {
        "artifact_id": node["id"],
        "entity": where.entity,
        "project_id": where.project_id,
        "source_project": where.project,
        "collection": collection,
        "name": f"{collection}:{version}",
        "type": (node.get("artifactType") or {}).get("name"),
        "version": version,
        "version_index": node.get("versionIndex"),
        "aliases": sorted(
            a["alias"]
            for a in node.get("aliases") or []
            if (a.get("artifactCollection") or {}).get("name") == collection and not VERSION_ALIAS.match(a["alias"])
        ),
        "tags": sorted(t["name"] for t in node.get("tags") or []),
        "state": node.get("state"),
        "size": node.get("size"),
        "file_count": node.get("fileCount"),
        "digest": node.get("digest"),
        "commit_hash": node.get("commitHash"),
        "description": node.get("description"),
        "metadata": json_object(node.get("metadata"), f"{what} metadata"),
        "created_at": parse_time(node.get("createdAt"), f"{what} createdAt"),
        "updated_at": parse_time(node.get("updatedAt"), f"{what} updatedAt"),
        "run_id": creator.get("name") if creator.get("__typename") == "Run" else None,
        "run_project_id": _project_id(creator_project) if creator.get("__typename") == "Run" else None,
    }


def lineage_row(node: dict, where: Where) -> dict[str, Any]:
    """An edge between a run and an artifact version: `input` when the run used it, `output` when it logged it.
    `node` is the version, with the edge's `direction` and the run's `run_project_id` and `run_id`."""
    collection = node["artifactSequence"]["name"]
    version = f"v{node['versionIndex']}"
    return {
        "project_id": node["run_project_id"],
        "run_id": node["run_id"],
        "artifact_id": node["id"],
        "direction": node["direction"],
        "artifact_project_id": where.project_id,
        "artifact_name": f"{collection}:{version}",
        "artifact_collection": collection,
        "artifact_version": version,
        "artifact_type": (node.get("artifactType") or {}).get("name"),
    }


def user_row(node: dict, where: Where) -> dict[str, Any]:
    account = (node.get("accountType") or "").upper()
    return {
        "username": node["username"],
        "entity": where.entity,
        "user_id": node.get("id"),
        "name": node.get("name") or None,
        "account_type": {"USER": "user", "SERVICE": "service"}.get(account, account.lower() or None),
        "admin": node.get("admin"),
        "pending": node.get("pending"),
        "email": node.get("email") or None,
    }


def sweep_row(node: dict, where: Where) -> dict[str, Any]:
    """`bestRun` is not W&B's: the sweep walk adds the run its own listing ranks first by the sweep's metric."""
    sweep_id = node["name"]
    what = f"sweep {where.project_id}/{sweep_id}"
    config = yaml_object(node.get("config"), f"{what} config")
    metric = config.get("metric") if isinstance(config.get("metric"), dict) else {}
    best = node.get("bestRun") or {}
    best_summary = json_object(best.get("summaryMetrics"), f"{what} best run summaryMetrics") if best else {}
    return {
        "project_id": where.project_id,
        "sweep_id": sweep_id,
        "storage_id": node.get("id"),
        "entity": where.entity,
        "project": where.project,
        "url": f"{where.app_url}/{where.project_id}/sweeps/{sweep_id}",
        "name": node.get("displayName") or sweep_id,
        "display_name": node.get("displayName"),
        "state": node.get("state"),
        "method": node.get("method") or config.get("method"),
        "description": node.get("description") or None,
        "metric_name": metric.get("name"),
        "metric_goal": metric.get("goal"),
        "config": config,
        "best_run_id": best.get("name"),
        "best_metric_value": number(best_summary.get(metric.get("name"))) if best else None,
        "best_loss": number(node.get("bestLoss")),
        "run_count": node.get("runCount"),
        "expected_run_count": node.get("runCountExpected"),
        "created_at": parse_time(node.get("createdAt"), f"{what} createdAt"),
        "updated_at": parse_time(node.get("updatedAt"), f"{what} updatedAt"),
        "heartbeat_at": parse_time(node.get("heartbeatAt"), f"{what} heartbeatAt"),
    }


HISTORY_COLUMNS = ("_step", "_runtime", "_timestamp")


def history_row(node: dict, where: Where) -> dict[str, Any]:
    """`node` is one history row of run `node["run"]` as W&B logged it (keys `history_keys` leaves out already
    dropped): the step, its time and runtime become columns, every other key is a metric in `metrics`."""
    row, run_id = node["row"], node["run"]
    what = f"a history step of run {where.project_id}/{run_id}"
    return {
        "project_id": where.project_id,
        "run_id": run_id,
        "step": _whole(row.get("_step"), f"{what} _step"),
        "timestamp": epoch_time(row.get("_timestamp"), f"{what} _timestamp"),
        "runtime_seconds": number(row.get("_runtime")),
        "metrics": {key: value for key, value in row.items() if key not in HISTORY_COLUMNS},
    }


# The system stream's keys (per GPU `system.gpu.<i>.<metric>`) behind the columns an analyst aggregates.
SYSTEM_KEYS = {
    "cpu_percent": "system.cpu",
    "memory_percent": "system.memory",
    "process_memory_mb": "system.proc.memory.rssMB",
    "disk_percent": "system.disk./.usagePercent",
    "network_sent_bytes": "system.network.sent",
    "network_recv_bytes": "system.network.recv",
}
GPU_KEY = re.compile(r"^system\.gpu\.(\d+)\.(.+)$")


def system_metrics_row(node: dict, where: Where) -> dict[str, Any]:
    """`node` is one sample of run `node["run"]`'s system stream: `sample` is its place among the run's samples,
    `interval` the seconds it stands for (to the next sample), so time-weighted averages and GPU hours are sums."""
    event, run_id = node["event"], node["run"]
    what = f"a system metrics sample of run {where.project_id}/{run_id}"
    gpus: dict[int, dict[str, Any]] = {}
    for key, value in event.items():
        match = GPU_KEY.match(key)
        if match:
            gpus.setdefault(int(match[1]), {})[match[2]] = value

    def per_gpu(metric: str) -> list[float]:
        return [v for gpu in gpus.values() if (v := number(gpu.get(metric))) is not None]

    utilization, memory, allocated = per_gpu("gpu"), per_gpu("memoryAllocated"), per_gpu("memoryAllocatedBytes")
    power, temperature = per_gpu("powerWatts"), per_gpu("temp")
    return {
        "project_id": where.project_id,
        "run_id": run_id,
        "sample": node["sample"],
        "timestamp": epoch_time(event.get("_timestamp"), f"{what} _timestamp"),
        "runtime_seconds": number(event.get("_runtime")),
        "interval_seconds": node["interval"],
        "gpu_count": len(gpus),
        "gpu_utilization_percent": _mean(utilization),
        "gpu_memory_allocated_percent": _mean(memory),
        "gpu_memory_allocated_bytes": int(sum(allocated)) if allocated else None,
        "gpu_power_watts": sum(power) if power else None,
        "gpu_temperature_c": max(temperature) if temperature else None,
        **{column: number(event.get(key)) for column, key in SYSTEM_KEYS.items()},
        "metrics": {key: value for key, value in event.items() if key not in ("_runtime", "_timestamp", "_wandb")},
    }


def epoch_time(value: Any, what: str) -> datetime | None:
    """W&B's `_timestamp`: seconds since the epoch, as a float."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedValue(f"{what} should be seconds since the epoch, got {str(value)[:40]!r}")
    return datetime.fromtimestamp(value, UTC)


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise MalformedValue(f"{what} should be a whole number, got {str(value)[:40]!r}")
    return int(value)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _project_id(project: dict) -> str | None:
    entity = (project.get("entity") or {}).get("name")
    return f"{entity}/{project['name']}" if entity and project.get("name") else None


def _step(*candidates: Any) -> int | None:
    return next((int(c) for c in candidates if isinstance(c, int | float) and not isinstance(c, bool)), None)


PROJECTS = Table(
    "projects",
    ("project_id",),
    {
        "project_id": "STRING",
        "entity": "STRING",
        "name": "STRING",
        "url": "STRING",
        "storage_id": "STRING",
        "description": "STRING",
        "created_at": "UTC_DATETIME",
        "updated_at": "UTC_DATETIME",
        "is_benchmark": "BOOLEAN",
        "owner": "STRING",
        "synced_at": "UTC_DATETIME",
    },
    project_row,
)

RUN_FIELDS = Table(
    "run_fields",
    ("project_id", "run_id"),
    {
        "project_id": "STRING",
        "run_id": "STRING",
        "storage_id": "STRING",
        "name": "STRING",
        "state": "STRING",
        "entity": "STRING",
        "project": "STRING",
        "path": "STRING",
        "url": "STRING",
        "user": "STRING",
        "tags": "JSON",
        "group": "STRING",
        "job_type": "STRING",
        "sweep_name": "STRING",
        "notes": "STRING",
        "commit": "STRING",
        "host": "STRING",
        "read_only": "BOOLEAN",
        "created_at": "UTC_DATETIME",
        "updated_at": "UTC_DATETIME",
        "heartbeat_at": "UTC_DATETIME",
        "ended_at": "UTC_DATETIME",
        "runtime_seconds": "DOUBLE",
        "gpu_count": "LONG",
        "gpu_hours": "DOUBLE",
        "gpu_type": "STRING",
        "cpu_count": "LONG",
        "os": "STRING",
        "python_version": "STRING",
        "program": "STRING",
        "code_path": "STRING",
        "args": "JSON",
        "executable": "STRING",
        "git_remote": "STRING",
        "git_commit": "STRING",
        "last_step": "LONG",
        "history_line_count": "LONG",
        "config": "JSON",
        "summary": "JSON",
        "system_metrics": "JSON",
        "synced_at": "UTC_DATETIME",
    },
    run_row,
)

ARTIFACTS = Table(
    "artifacts",
    ("artifact_id",),
    {
        "artifact_id": "STRING",
        "entity": "STRING",
        "project_id": "STRING",
        "source_project": "STRING",
        "collection": "STRING",
        "name": "STRING",
        "type": "STRING",
        "version": "STRING",
        "version_index": "LONG",
        "aliases": "JSON",
        "tags": "JSON",
        "state": "STRING",
        "size": "LONG",
        "file_count": "LONG",
        "digest": "STRING",
        "commit_hash": "STRING",
        "description": "STRING",
        "metadata": "JSON",
        "created_at": "UTC_DATETIME",
        "updated_at": "UTC_DATETIME",
        "run_id": "STRING",
        "run_project_id": "STRING",
        "synced_at": "UTC_DATETIME",
    },
    artifact_row,
)

ARTIFACT_LINEAGE = Table(
    "artifact_lineage",
    ("project_id", "run_id", "artifact_id", "direction"),
    {
        "project_id": "STRING",
        "run_id": "STRING",
        "artifact_id": "STRING",
        "direction": "STRING",
        "artifact_project_id": "STRING",
        "artifact_name": "STRING",
        "artifact_collection": "STRING",
        "artifact_version": "STRING",
        "artifact_type": "STRING",
        "synced_at": "UTC_DATETIME",
    },
    lineage_row,
)

USERS = Table(
    "users",
    ("username",),
    {
        "username": "STRING",
        "entity": "STRING",
        "user_id": "STRING",
        "name": "STRING",
        "account_type": "STRING",
        "admin": "BOOLEAN",
        "pending": "BOOLEAN",
        "email": "STRING",
        "synced_at": "UTC_DATETIME",
    },
    user_row,
)

SWEEPS = Table(
    "sweeps",
    ("project_id", "sweep_id"),
    {
        "project_id": "STRING",
        "sweep_id": "STRING",
        "storage_id": "STRING",
        "entity": "STRING",
        "project": "STRING",
        "url": "STRING",
        "name": "STRING",
        "display_name": "STRING",
        "state": "STRING",
        "method": "STRING",
        "description": "STRING",
        "metric_name": "STRING",
        "metric_goal": "STRING",
        "config": "JSON",
        "best_run_id": "STRING",
        "best_metric_value": "DOUBLE",
        "best_loss": "DOUBLE",
        "run_count": "LONG",
        "expected_run_count": "LONG",
        "created_at": "UTC_DATETIME",
        "updated_at": "UTC_DATETIME",
        "heartbeat_at": "UTC_DATETIME",
        "synced_at": "UTC_DATETIME",
    },
    sweep_row,
)

RUN_HISTORY = Table(
    "run_history",
    ("project_id", "run_id", "step"),
    {
        "project_id": "STRING",
        "run_id": "STRING",
        "step": "LONG",
        "timestamp": "UTC_DATETIME",
        "runtime_seconds": "DOUBLE",
        "metrics": "JSON",
        "synced_at": "UTC_DATETIME",
    },
    history_row,
)

RUN_SYSTEM_METRICS = Table(
    "run_system_metrics",
    ("project_id", "run_id", "sample"),
    {
        "project_id": "STRING",
        "run_id": "STRING",
        "sample": "LONG",
        "timestamp": "UTC_DATETIME",
        "runtime_seconds": "DOUBLE",
        "interval_seconds": "DOUBLE",
        "gpu_count": "LONG",
        "gpu_utilization_percent": "DOUBLE",
        "gpu_memory_allocated_percent": "DOUBLE",
        "gpu_memory_allocated_bytes": "LONG",
        "gpu_power_watts": "DOUBLE",
        "gpu_temperature_c": "DOUBLE",
        "cpu_percent": "DOUBLE",
        "memory_percent": "DOUBLE",
        "process_memory_mb": "DOUBLE",
        "disk_percent": "DOUBLE",
        "network_sent_bytes": "DOUBLE",
        "network_recv_bytes": "DOUBLE",
        "metrics": "JSON",
        "synced_at": "UTC_DATETIME",
    },
    system_metrics_row,
)

VALUE_COLUMNS = {
    "project_id": "STRING",
    "run_id": "STRING",
    "key": "STRING",
    "path": "JSON",
    "value_type": "STRING",
    "number_value": "DOUBLE",
    "string_value": "STRING",
    "boolean_value": "BOOLEAN",
    "value_json": "JSON",
    "synced_at": "UTC_DATETIME",
}
RUN_CONFIG = Table("run_config", ("project_id", "run_id", "key"), dict(VALUE_COLUMNS), value_row)
RUN_SUMMARY = Table("run_summary", ("project_id", "run_id", "key"), dict(VALUE_COLUMNS), value_row)

TABLES = (
    PROJECTS,
    RUN_FIELDS,
    RUN_CONFIG,
    RUN_SUMMARY,
    ARTIFACTS,
    SWEEPS,
    USERS,
    RUN_HISTORY,
    RUN_SYSTEM_METRICS,
    ARTIFACT_LINEAGE,
)


def declarations() -> list[dict]:
    return [table.declaration() for table in TABLES]
