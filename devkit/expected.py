"""The oracle: the rows each table must hold for a `World`, derived from the dataset itself (not from GraphQL),
and the warehouse read back as the same Python values so the two compare column by column."""

from __future__ import annotations

import fnmatch
import itertools
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from devkit.wandb_double.dataset import ArtifactVersion, Collection, Project, Run, Sweep, World
from wandb_connector.registry import TABLES

SYSTEM_COLUMNS = {"_fivetran_synced", "_fivetran_deleted", "synced_at"}
SYSTEM_STREAM_COLUMNS = ("_runtime", "_timestamp", "_wandb")
T = TypeVar("T", Project, Run, Collection, ArtifactVersion, Sweep)


def finite(value: Any) -> Any:
    """The connector's documented convention: NaN and ±Infinity land as strings in JSON columns."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def seen(items: list[T]) -> list[T]:
    """What the key can see: the rows W&B hides from it are no rows of the warehouse."""
    return [item for item in items if not item.hidden]


def project_rows(world: World, app_url: str) -> dict[tuple, dict]:
    return {(f"{world.entity}/{p.name}",): _project(world, p, app_url) for p in seen(world.live_projects())}


def _project(world: World, project: Project, app_url: str) -> dict:
    return {
        "project_id": f"{world.entity}/{project.name}",
        "entity": world.entity,
        "name": project.name,
        "url": f"{app_url}/{world.entity}/{project.name}",
        "storage_id": project.id,
        "description": project.description,
        "created_at": project.created_at,
        "updated_at": project.updated_at,
        "is_benchmark": False,
        "owner": project.owner.username if project.owner else None,
    }


def run_rows(world: World, app_url: str) -> dict[tuple, dict]:
    rows = {}
    for project in seen(world.live_projects()):
        for run in seen(world.live_runs(project.name)):
            row = _run(world, run, app_url)
            rows[(row["project_id"], row["run_id"])] = row
    return rows


def _run(world: World, run: Run, app_url: str) -> dict:
    project_id = f"{world.entity}/{run.project}"
    runtime = (run.summary or {}).get("_runtime")
    info = run.run_info or {}
    return {
        "project_id": project_id,
        "run_id": run.name,
        "storage_id": run.id(world.entity),
        "name": run.display_name,
        "state": run.state,
        "entity": world.entity,
        "project": run.project,
        "path": f"{project_id}/{run.name}",
        "url": f"{app_url}/{project_id}/runs/{run.name}",
        "user": run.user.username if run.user else None,
        "tags": run.tags or [],
        "group": run.group,
        "job_type": run.job_type,
        "sweep_name": run.sweep_name,
        "notes": run.notes or None,
        "commit": run.commit,
        "host": run.host,
        "read_only": False,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "heartbeat_at": run.heartbeat_at,
        "ended_at": run.heartbeat_at if run.state in ("finished", "crashed", "failed", "killed", "preempted") else None,
        "runtime_seconds": runtime,
        "gpu_count": run.gpu_count,
        "gpu_hours": runtime * run.gpu_count / 3600 if runtime is not None else None,
        "gpu_type": info.get("gpu") if run.gpu_count else None,
        "cpu_count": info.get("cpuCount"),
        "os": info.get("os"),
        "python_version": info.get("python"),
        "program": info.get("program"),
        "code_path": info.get("codePath"),
        "args": info.get("args"),
        "executable": info.get("executable"),
        "git_remote": (info.get("git") or {}).get("remote"),
        "git_commit": run.commit,
        "last_step": run.last_step,
        "history_line_count": run.history_line_count,
        "config": finite(run.config or {}),
        "summary": finite(run.summary or {}),
        "system_metrics": finite(run.system_metrics),
    }


def leaves(document: dict, prefix: str = "", path: tuple[str, ...] = ()) -> Iterator[tuple[str, list[str], Any]]:
    """The documented flattening, written apart from the connector's: nested keys joined by dots, a dot or a
    backslash inside a key escaped with a backslash, W&B's media objects (`_type`) and empty objects kept whole."""
    for name, value in document.items():
        key = prefix + name.replace("\\", "\\\\").replace(".", "\\.")
        if isinstance(value, dict) and value and "_type" not in value:
            yield from leaves(value, key + ".", (*path, name))
        else:
            yield key, [*path, name], value


def typed(value: Any) -> dict[str, Any]:
    """A leaf's typed columns, as the README documents them."""
    row = {"number_value": None, "string_value": None, "boolean_value": None, "value_json": finite(value)}
    if value is None:
        return row | {"value_type": "null"}
    if isinstance(value, bool):
        return row | {"value_type": "boolean", "boolean_value": value}
    if isinstance(value, float) and not math.isfinite(value):
        return row | {"value_type": "number", "string_value": finite(value)}
    if isinstance(value, int | float):
        return row | {"value_type": "number", "number_value": float(value)}
    if isinstance(value, str):
        return row | {"value_type": "string", "string_value": value}
    return row | {"value_type": "list" if isinstance(value, list) else "object"}


def value_rows(world: World, document: str, configuration: dict | None = None) -> dict[tuple, dict]:
    """`run_config` (document "config") or `run_summary` ("summary"): every leaf of every run the key sees."""
    if not _on(configuration, f"run_{document}", True):
        return {}
    rows = {}
    for project in seen(world.live_projects()):
        for run in seen(world.live_runs(project.name)):
            project_id = f"{world.entity}/{run.project}"
            for key, path, value in leaves(getattr(run, document) or {}):
                rows[(project_id, run.name, key)] = {"project_id": project_id, "run_id": run.name, "key": key}
                rows[(project_id, run.name, key)] |= {"path": path} | typed(value)
    return rows


def visible_versions(world: World) -> Iterator[ArtifactVersion]:
    """Every version the key sees, in a project and a collection it sees."""
    for project in seen(world.live_projects()):
        for collection in seen(world.live_collections(project.name)):
            yield from seen(world.live_artifacts(collection))


def artifact_rows(world: World) -> dict[tuple, dict]:
    return {(version.id,): _artifact(world, version) for version in visible_versions(world)}


def _artifact(world: World, version: ArtifactVersion) -> dict:
    collection = version.collection
    project_id = f"{world.entity}/{collection.project}"
    creator = world.run(*version.created_by) if version.created_by else None
    return {
        "artifact_id": version.id,
        "entity": world.entity,
        "project_id": project_id,
        "source_project": collection.project,
        "collection": collection.name,
        "name": f"{collection.name}:v{version.version_index}",
        "type": collection.type,
        "version": f"v{version.version_index}",
        "version_index": version.version_index,
        "aliases": sorted(version.aliases),
        "tags": sorted(version.tags),
        "state": version.state,
        "size": version.size,
        "file_count": version.file_count,
        "digest": version.digest,
        "commit_hash": version.commit_hash,
        "description": version.description,
        "metadata": finite(version.metadata),
        "created_at": version.created_at,
        "updated_at": version.updated_at,
        "run_id": creator.name if creator else None,
        "run_project_id": f"{world.entity}/{creator.project}" if creator else None,
    }


def sweep_rows(world: World, app_url: str) -> dict[tuple, dict]:
    rows = {}
    for project in seen(world.live_projects()):
        for sweep in seen(world.live_sweeps(project.name)):
            row = _sweep(world, sweep, app_url)
            rows[(row["project_id"], row["sweep_id"])] = row
    return rows


def _sweep(world: World, sweep: Sweep, app_url: str) -> dict:
    project_id = f"{world.entity}/{sweep.project}"
    best = world.best_run(sweep)
    value = best.summary[sweep.metric["name"]] if best else None
    return {
        "project_id": project_id,
        "sweep_id": sweep.name,
        "storage_id": sweep.id,
        "entity": world.entity,
        "project": sweep.project,
        "url": f"{app_url}/{project_id}/sweeps/{sweep.name}",
        "name": sweep.display_name or sweep.name,
        "display_name": sweep.display_name,
        "state": sweep.state,
        "method": sweep.method,
        "description": sweep.description,
        "metric_name": sweep.metric.get("name"),
        "metric_goal": sweep.metric.get("goal"),
        "config": sweep.config,
        "best_run_id": best.name if best else None,
        "best_metric_value": value,
        "best_loss": value,
        "run_count": len(world.sweep_runs(sweep)),
        "expected_run_count": sweep.expected_runs,
        "created_at": sweep.created_at,
        "updated_at": sweep.updated_at,
        "heartbeat_at": sweep.heartbeat_at,
    }


def user_rows(world: World, include_emails: bool = False) -> dict[tuple, dict]:
    return {
        (user.username,): {
            "username": user.username,
            "entity": world.entity,
            "user_id": user.id,
            "name": user.name,
            "account_type": "service" if user.username.endswith("-bot") else "user",
            "admin": user.admin,
            "pending": False,
            "email": user.email if include_emails else None,
        }
        for user in world.users
    }


def _setting(configuration: dict | None, key: str, default: str) -> str:
    return ((configuration or {}).get(key) or default).strip().lower()


# A table's switch is named as the table; these older names are read too.
OLDER_NAMES = {"run_history": "history", "run_system_metrics": "system_metrics", "artifact_lineage": "lineage"}


def _on(configuration: dict | None, key: str, default: bool) -> bool:
    """Whether the switch `key` (or its older name) is on, as the README documents each one."""
    configuration = configuration or {}
    given = configuration.get(key) or configuration.get(OLDER_NAMES.get(key, ""))
    return ((given or ("true" if default else "false")).strip().lower()) in ("true", "yes", "on", "1")


def history_rows(world: World, configuration: dict | None = None) -> dict[tuple, dict]:
    """Every step of every run the key sees, the first `history_max_steps` of each, with the metrics
    `history_keys` names (steps logging none of them left out), as the README documents the table."""
    patterns = [p.strip() for p in ((configuration or {}).get("history_keys") or "").split(",") if p.strip()]
    cap = int(_setting(configuration, "history_max_steps", "100000"))
    rows = {}
    for project in seen(world.live_projects()):
        for run in seen(world.live_runs(project.name)):
            for step in run.history()[:cap]:
                metrics = {k: v for k, v in step.items() if k not in ("_step", "_runtime", "_timestamp")}
                if patterns:
                    metrics = {k: v for k, v in metrics.items() if any(fnmatch.fnmatchcase(k, p) for p in patterns)}
                    if not metrics:
                        continue
                key = (f"{world.entity}/{project.name}", run.name, step["_step"])
                rows[key] = {
                    "project_id": key[0],
                    "run_id": run.name,
                    "step": step["_step"],
                    "timestamp": datetime.fromtimestamp(step["_timestamp"], UTC),
                    "runtime_seconds": float(step["_runtime"]),
                    "metrics": finite(metrics),
                }
    return rows


def system_metric_rows(world: World, configuration: dict | None = None, samples: int = 500) -> dict[tuple, dict]:
    """Each run's system stream as W&B samples it (`samples` points), a row per sample, in time order; a sample
    stands for the seconds to the next one (the last, for the mean spacing)."""
    if not _on(configuration, "run_system_metrics", True):
        return {}
    rows = {}
    for project in seen(world.live_projects()):
        for run in seen(world.live_runs(project.name)):
            events = sorted(run.events(samples), key=lambda e: e["_timestamp"])
            gaps = [b["_timestamp"] - a["_timestamp"] for a, b in itertools.pairwise(events)]
            for index, event in enumerate(events):
                gpus = range(run.gpu_count)

                def each(metric: str, event: dict = event, gpus: range = gpus) -> list[float]:
                    return [float(event[f"system.gpu.{g}.{metric}"]) for g in gpus]

                key = (f"{world.entity}/{project.name}", run.name, index)
                rows[key] = {
                    "project_id": key[0],
                    "run_id": run.name,
                    "sample": index,
                    "timestamp": datetime.fromtimestamp(event["_timestamp"], UTC),
                    "runtime_seconds": float(event["_runtime"]),
                    "interval_seconds": gaps[index] if index < len(gaps) else (sum(gaps) / len(gaps) if gaps else None),
                    "gpu_count": run.gpu_count,
                    "gpu_utilization_percent": sum(each("gpu")) / len(gpus) if gpus else None,
                    "gpu_memory_allocated_percent": sum(each("memoryAllocated")) / len(gpus) if gpus else None,
                    "gpu_memory_allocated_bytes": int(sum(each("memoryAllocatedBytes"))) if gpus else None,
                    "gpu_power_watts": sum(each("powerWatts")) if gpus else None,
                    "gpu_temperature_c": max(each("temp")) if gpus else None,
                    "cpu_percent": float(event["system.cpu"]),
                    "memory_percent": float(event["system.memory"]),
                    "process_memory_mb": float(event["system.proc.memory.rssMB"]),
                    "disk_percent": float(event["system.disk./.usagePercent"]),
                    "network_sent_bytes": float(event["system.network.sent"]),
                    "network_recv_bytes": float(event["system.network.recv"]),
                    "metrics": finite({k: v for k, v in event.items() if k not in SYSTEM_STREAM_COLUMNS}),
                }
    return rows


def lineage_rows(world: World, configuration: dict | None = None) -> dict[tuple, dict]:
    """Every edge of every version the key sees: the run that logged it (`output`) and each run that used it
    (`input`), for runs W&B still has and the key sees, in whichever project they live."""
    if not _on(configuration, "artifact_lineage", True):
        return {}
    rows = {}
    for version in visible_versions(world):
        collection = version.collection
        ends = [("output", version.created_by)] if version.created_by else []
        for direction, (run_project, name) in ends + [("input", ref) for ref in version.used_by]:
            run = world.run(run_project, name)
            if run is None or run.hidden:
                continue
            key = (f"{world.entity}/{run.project}", run.name, version.id, direction)
            rows[key] = {
                "project_id": key[0],
                "run_id": run.name,
                "artifact_id": version.id,
                "direction": direction,
                "artifact_project_id": f"{world.entity}/{collection.project}",
                "artifact_name": f"{collection.name}:v{version.version_index}",
                "artifact_collection": collection.name,
                "artifact_version": f"v{version.version_index}",
                "artifact_type": collection.type,
            }
    return rows


def expected_rows(world: World, app_url: str, configuration: dict | None = None) -> dict[str, dict[tuple, dict]]:
    """The one place that says what each table must hold: every table the connector declares has its oracle
    here, or this fails naming the table that lacks one."""
    emails = (configuration or {}).get("include_emails", "").strip().lower() in ("true", "yes", "on", "1")
    oracles = {
        "projects": lambda: project_rows(world, app_url),
        "run_fields": lambda: run_rows(world, app_url),
        "run_config": lambda: value_rows(world, "config", configuration),
        "run_summary": lambda: value_rows(world, "summary", configuration),
        "artifacts": lambda: artifact_rows(world),
        "sweeps": lambda: sweep_rows(world, app_url),
        "users": lambda: user_rows(world, emails),
        "run_history": lambda: history_rows(world, configuration) if _on(configuration, "run_history", False) else {},
        "run_system_metrics": lambda: system_metric_rows(world, configuration),
        "artifact_lineage": lambda: lineage_rows(world, configuration),
    }
    missing = [t.name for t in TABLES if t.name not in oracles]
    assert not missing, f"no ground truth for {missing}: add an oracle to devkit/expected.py"
    return {table.name: oracles[table.name]() for table in TABLES}


def primary_keys() -> dict[str, tuple[str, ...]]:
    return {table.name: table.primary_key for table in TABLES}


def warehouse_rows(database: Path, table: str, key: tuple[str, ...], live_only: bool = True) -> dict[tuple, dict]:
    """A table as {key: row}, JSON decoded and timestamps as aware UTC datetimes; system columns dropped."""
    with duckdb.connect(str(database), read_only=True) as con:
        columns = [
            (name, kind)
            for name, kind in con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'tester' and table_name = ? order by ordinal_position",
                [table],
            ).fetchall()
        ]
        # A table no upsert reached yet has no system columns.
        where = " where not _fivetran_deleted" if live_only and ("_fivetran_deleted", "BOOLEAN") in columns else ""
        selected = ", ".join(f'"{name}"::varchar' for name, _ in columns)
        raw = con.execute(f"select {selected} from tester.{table}{where}").fetchall()
    rows = {}
    for values in raw:
        row = {name: _decode(kind, value) for (name, kind), value in zip(columns, values, strict=True)}
        rows[tuple(row[k] for k in key)] = {k: v for k, v in row.items() if k not in SYSTEM_COLUMNS}
    return rows


def column_types(database: Path, table: str) -> dict[str, str]:
    with duckdb.connect(str(database), read_only=True) as con:
        return dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'tester' and table_name = ?",
                [table],
            ).fetchall()
        )


def _decode(kind: str, value: str | None) -> Any:
    if value is None:
        return None
    if kind == "JSON":
        return json.loads(value)
    if kind == "TIMESTAMP WITH TIME ZONE":
        return datetime.fromisoformat(value).astimezone(UTC)
    if kind in ("BIGINT", "INTEGER", "SMALLINT"):
        return int(value)
    if kind in ("DOUBLE", "FLOAT"):
        return float(value)
    if kind == "BOOLEAN":
        return value == "true"
    return value
