"""The answers every mart of the dbt package (dbt/) must give for a `World`, computed from the dataset itself in
plain Python: the definitions of issue 27's contract (and dbt/models/wandb.yml), never the package's SQL.

`expected_marts(world, Settings(as_of=...))` gives each mart as rows; `write_expected` puts them in a warehouse's
`wandb_expected` schema, where the integration tests' data tests (dbt/integration_tests/tests/) compare them with
the marts. What the connector lands is the other oracle's business (devkit/expected.py): this one reads the same
dataset, through the same notion of what the key can see.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import Any

import duckdb
import pyarrow

from devkit.expected import finite, leaves, seen, visible_versions
from devkit.wandb_double.dataset import ArtifactVersion, Run, Sweep, World

FINAL = ("finished", "crashed", "failed", "killed", "preempted")
FAILED = ("failed", "crashed")
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Settings:
    """The package's vars, as a test sets them (defaults: dbt/dbt_project.yml)."""

    as_of: datetime
    accuracy_metric: str = "eval/accuracy"
    loss_metric: str = "train/loss"
    curve_metrics: tuple[str, ...] = ("train/loss", "eval/f1")
    target_metric: str = "eval/f1"
    target_goal: str = "maximize"
    model_type: str = "model"
    config_prefixes: tuple[str, ...] = ("params",)
    history: bool = True
    system_metrics: bool = True

    @property
    def window_start(self) -> datetime:
        return self.as_of - WEEK

    def in_window(self, when: datetime | None) -> bool:
        return when is not None and self.window_start < when <= self.as_of

    def dbt_vars(self) -> dict[str, Any]:
        return {
            "wandb__as_of": self.as_of.strftime("%Y-%m-%d %H:%M:%S"),
            "wandb__accuracy_metric": self.accuracy_metric,
            "wandb__loss_metric": self.loss_metric,
            "wandb__curve_metrics": list(self.curve_metrics),
            "wandb__target_metric": self.target_metric,
            "wandb__target_goal": self.target_goal,
            "wandb__model_type": self.model_type,
            "wandb__config_prefixes": list(self.config_prefixes),
        }


def number(value: Any) -> float | None:
    """A finite number, else None (NaN and ±Infinity are no metric value; neither is a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def live_runs(world: World) -> list[Run]:
    return [r for p in seen(world.live_projects()) for r in seen(world.live_runs(p.name))]


def project_id(world: World, project: str) -> str:
    return f"{world.entity}/{project}"


def ended_at(run: Run) -> datetime | None:
    return run.heartbeat_at if run.state in FINAL else None


def summary(run: Run, metric: str) -> float | None:
    return number((run.summary or {}).get(metric))


def runtime_hours(run: Run) -> float | None:
    seconds = summary(run, "_runtime")
    return None if seconds is None else seconds / 3600


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        return hours(self.start, self.end)

    def inside(self, start: datetime, end: datetime) -> float:
        """Hours of this span within [start, end)."""
        low, high = max(self.start, start), min(self.end, end)
        return hours(low, high) if high > low else 0.0


def active_span(run: Run, as_of: datetime) -> Span:
    """[created_at, ended_at, or as_of while it has not ended], clipped to as_of; empty when created after as_of."""
    end = ended_at(run)
    end = as_of if end is None else min(end, as_of)
    return Span(run.created_at, max(end, run.created_at))


def runs_mart(world: World, settings: Settings) -> list[dict]:
    rows = []
    for run in live_runs(world):
        info = run.run_info or {}
        rows.append(
            {
                "project_id": project_id(world, run.project),
                "run_id": run.name,
                "name": run.display_name,
                "state": run.state,
                "user": run.user.username if run.user else None,
                "job_type": run.job_type,
                "run_group": run.group,
                "sweep_id": run.sweep_name,
                "created_at": run.created_at,
                "ended_at": ended_at(run),
                "runtime_hours": runtime_hours(run),
                "gpu_count": run.gpu_count,
                "gpu_type": info.get("gpu") if run.gpu_count else None,
                "gpu_hours": run.gpu_count * active_span(run, settings.as_of).hours,
                "is_failure": run.state in FAILED,
            }
        )
    return rows


def project_metrics(world: World, settings: Settings) -> list[dict]:
    by_project: dict[str, list[Run]] = {project_id(world, p.name): [] for p in seen(world.live_projects())}
    for run in live_runs(world):
        by_project[project_id(world, run.project)].append(run)
    return [{"project_id": p} | _ten_metrics(runs, settings) for p, runs in by_project.items()]


def _ten_metrics(runs: list[Run], settings: Settings) -> dict:
    accuracy = {run.name: a for run in runs if (a := summary(run, settings.accuracy_metric)) is not None}
    recent = [accuracy[r.name] for r in runs if r.name in accuracy and settings.in_window(r.created_at)]
    with_loss = [r for r in runs if summary(r, settings.loss_metric) is not None]
    latest = max(with_loss, key=lambda r: (r.heartbeat_at, r.created_at, r.name), default=None)
    durations = [h for r in runs if settings.in_window(ended_at(r)) and (h := runtime_hours(r)) is not None]
    samples = [u for r in runs for when, u in _gpu_samples(r, settings) if settings.in_window(when)]
    window = (settings.window_start, settings.as_of)
    return {
        "runs_active": sum(r.state == "running" for r in runs),
        "runs_completed_7d": sum(r.state == "finished" and settings.in_window(ended_at(r)) for r in runs),
        "runs_failed_7d": sum(r.state in FAILED and settings.in_window(ended_at(r)) for r in runs),
        "runs_total": len(runs),
        "best_accuracy": max(accuracy.values(), default=None),
        "latest_loss": summary(latest, settings.loss_metric) if latest else None,
        "avg_accuracy_7d": mean(recent) if recent else None,
        "avg_duration_hours": mean(durations) if durations else None,
        "gpu_utilization_avg": mean(samples) if samples else None,
        "gpu_hours_7d": sum(r.gpu_count * active_span(r, settings.as_of).inside(*window) for r in runs),
    }


def _gpu_samples(run: Run, settings: Settings) -> list[tuple[datetime, float]]:
    """Each system sample W&B serves (500 at most) of a run with GPUs: its time and its GPUs' mean utilisation."""
    if not settings.system_metrics or not run.gpu_count:
        return []
    return [
        (
            datetime.fromtimestamp(event["_timestamp"], UTC),
            mean(float(event[f"system.gpu.{g}.gpu"]) for g in range(run.gpu_count)),
        )
        for event in run.events(500)
    ]


def monday(when: datetime) -> datetime:
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def gpu_hours_weekly(world: World, settings: Settings) -> list[dict]:
    totals: dict[tuple, float] = defaultdict(float)
    runs: dict[tuple, set[str]] = defaultdict(set)
    for run in live_runs(world):
        span = active_span(run, settings.as_of)
        week = monday(span.start)
        while run.gpu_count and week < span.end:
            part = span.inside(week, week + WEEK)
            if part > 0:
                key = (run.user.username if run.user else None, project_id(world, run.project), week)
                totals[key] += run.gpu_count * part
                runs[key].add(run.name)
            week += WEEK
    return [
        {"user": user, "project_id": project, "week_start": week, "gpu_hours": total, "runs": len(runs[key])}
        for key, total in totals.items()
        for user, project, week in [key]
    ]


def failure_rate(world: World, settings: Settings) -> list[dict]:
    ended: dict[tuple, int] = defaultdict(int)
    failed: dict[tuple, int] = defaultdict(int)
    for run in live_runs(world):
        key = (project_id(world, run.project), run.job_type)
        ended[key] += run.state is not None and run.state not in ("running", "pending")
        failed[key] += run.state in FAILED
    return [
        {
            "project_id": project,
            "job_type": job_type,
            "runs_ended": ended[key],
            "runs_failed": failed[key],
            "failure_rate": failed[key] / ended[key] if ended[key] else None,
        }
        for key in ended
        for project, job_type in [key]
    ]


def searched_parameters(sweep: Sweep) -> list[tuple[str, list[str]]]:
    """Each parameter the sweep searches (not a constant `value`), as its name and its path in a run's config;
    one level of W&B's nested syntax (`{params: {parameters: {lr: ...}}}` is `params.lr`)."""
    found = []
    for name, spec in (sweep.config.get("parameters") or {}).items():
        nested = spec.get("parameters") if isinstance(spec, dict) else None
        if isinstance(nested, dict):
            found += [(f"{name}.{child}", [name, child]) for child, inner in nested.items() if _searched(inner)]
        elif _searched(spec):
            found.append((name, [name]))
    return found


def _searched(spec: Any) -> bool:
    return isinstance(spec, dict) and "value" not in spec and "parameters" not in spec


def config_value(config: dict, path: list[str], prefixes: tuple[str, ...]) -> tuple[bool, Any]:
    """The run's config value at `path`, or else at `path` under each prefix: (found, value)."""
    for candidate in (path, *([prefix, *path] for prefix in prefixes)):
        node: Any = config
        for part in candidate:
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
        if node is not _MISSING and not (isinstance(node, dict) and node and "_type" not in node):
            return True, node
    return False, None


_MISSING = object()


def sweep_leaderboard(world: World, settings: Settings) -> list[dict]:
    rows = []
    for project in seen(world.live_projects()):
        for sweep in seen(world.live_sweeps(project.name)):
            metric, goal = sweep.metric.get("name"), sweep.metric.get("goal")
            if metric is None:
                continue
            sign = -1 if (goal or "").lower() == "maximize" else 1
            scored = [(v, r) for r in seen(world.sweep_runs(sweep)) if (v := summary(r, metric)) is not None]
            scored.sort(key=lambda vr: (sign * vr[0], vr[1].created_at, vr[1].name))
            parameters = searched_parameters(sweep)
            for rank, (value, run) in enumerate(scored, start=1):
                values = {
                    name: config_value(run.config or {}, path, settings.config_prefixes)[1] for name, path in parameters
                }
                rows.append(
                    {
                        "project_id": project_id(world, project.name),
                        "sweep_id": sweep.name,
                        "run_id": run.name,
                        "metric_name": metric,
                        "metric_goal": goal,
                        "metric_value": value,
                        "rank": rank,
                        "hyperparameters": json.dumps(finite(values), sort_keys=True),
                    }
                )
    return rows


def metric_curves(world: World, settings: Settings) -> list[dict]:
    if not settings.history:
        return []
    return [
        {
            "project_id": project_id(world, run.project),
            "run_id": run.name,
            "step": step["_step"],
            "metric": metric,
            "value": number(step[metric]),
        }
        for run in live_runs(world)
        for step in run.history()
        for metric in settings.curve_metrics
        if metric in step
    ]


def hyperparameter_effects(world: World, settings: Settings) -> list[dict]:
    return [
        {
            "project_id": project_id(world, run.project),
            "run_id": run.name,
            "config_key": key,
            "config_value": value,
            "target_metric": settings.target_metric,
            "target_value": summary(run, settings.target_metric),
        }
        for run in live_runs(world)
        for key, _, leaf in leaves(run.config or {})
        if (value := number(leaf)) is not None
    ]


def _parents(world: World) -> dict[str, set[str]]:
    """Each live version's direct parents: the live versions the run that logged it (a run the key sees) used."""
    versions = list(visible_versions(world))
    parents: dict[str, set[str]] = {}
    for version in versions:
        maker = world.run(*version.created_by) if version.created_by else None
        if maker is None or maker.hidden:
            continue
        parents[version.id] = {u.id for u in versions if version.created_by in u.used_by and u.id != version.id}
    return parents


def ancestry(world: World) -> dict[str, dict[str, int]]:
    """Every version's ancestors at the depth of the shortest chain (breadth first; a version is never its own)."""
    parents = _parents(world)
    found: dict[str, dict[str, int]] = {}
    for version in {v.id for v in visible_versions(world)}:
        depths: dict[str, int] = {}
        frontier, depth = set(parents.get(version, ())), 1
        while frontier:
            for ancestor in frontier:
                depths.setdefault(ancestor, depth)
            frontier = {p for a in frontier for p in parents.get(a, ())} - depths.keys() - {version}
            depth += 1
        found[version] = depths
    return found


def artifact_ancestry(world: World, settings: Settings) -> list[dict]:
    return [
        {"artifact_id": version, "ancestor_artifact_id": ancestor, "depth": depth}
        for version, ancestors in ancestry(world).items()
        for ancestor, depth in ancestors.items()
    ]


def best_model_datasets(world: World, settings: Settings) -> list[dict]:
    lineage = ancestry(world)
    maximize = settings.target_goal.lower() == "maximize"
    collections: dict[tuple[str, str], list[tuple[float, ArtifactVersion]]] = {}
    for version in visible_versions(world):
        if version.collection.type != settings.model_type:
            continue
        key = (project_id(world, version.collection.project), version.collection.name)
        scored = collections.setdefault(key, [])
        consumers = [run for ref in version.used_by if (run := world.run(*ref)) and not run.hidden]
        values = [v for run in consumers if (v := summary(run, settings.target_metric)) is not None]
        if values:
            scored.append((max(values) if maximize else min(values), version))
    rows = []
    for (project, collection), scored in collections.items():
        best = min(scored, key=lambda sv: ((-1 if maximize else 1) * sv[0], sv[1].created_at, sv[1].id), default=None)
        ancestors = lineage.get(best[1].id, {}) if best else {}
        roots = sorted(a for a in ancestors if not lineage.get(a))
        rows.append(
            {
                "project_id": project,
                "collection": collection,
                "best_artifact_id": best[1].id if best else None,
                "best_value": best[0] if best else None,
                "root_dataset_ids": json.dumps(roots) if best else None,
            }
        )
    return rows


MARTS = {
    "runs": runs_mart,
    "project_metrics": project_metrics,
    "gpu_hours_weekly": gpu_hours_weekly,
    "failure_rate": failure_rate,
    "sweep_leaderboard": sweep_leaderboard,
    "metric_curves": metric_curves,
    "hyperparameter_effects": hyperparameter_effects,
    "artifact_ancestry": artifact_ancestry,
    "best_model_datasets": best_model_datasets,
}

# Each expected table's columns (the marts' columns the data tests compare), and their SQL types (else varchar).
COLUMNS = {
    "runs": "project_id run_id name state user job_type run_group sweep_id created_at ended_at runtime_hours "
    "gpu_count gpu_type gpu_hours is_failure",
    "project_metrics": "project_id runs_active runs_completed_7d runs_failed_7d runs_total best_accuracy latest_loss "
    "avg_accuracy_7d avg_duration_hours gpu_utilization_avg gpu_hours_7d",
    "gpu_hours_weekly": "user project_id week_start gpu_hours runs",
    "failure_rate": "project_id job_type runs_ended runs_failed failure_rate",
    "sweep_leaderboard": "project_id sweep_id run_id metric_name metric_goal metric_value rank hyperparameters",
    "metric_curves": "project_id run_id step metric value",
    "hyperparameter_effects": "project_id run_id config_key config_value target_metric target_value",
    "artifact_ancestry": "artifact_id ancestor_artifact_id depth",
    "best_model_datasets": "project_id collection best_artifact_id best_value root_dataset_ids",
}
TYPES = {
    "timestamp": "created_at ended_at week_start",
    "double": "runtime_hours gpu_hours best_accuracy latest_loss avg_accuracy_7d avg_duration_hours "
    "gpu_utilization_avg gpu_hours_7d failure_rate metric_value value config_value target_value best_value",
    "bigint": "gpu_count runs_active runs_completed_7d runs_failed_7d runs_total runs runs_ended runs_failed rank step "
    "depth",
    "boolean": "is_failure",
    "json": "hyperparameters root_dataset_ids",
}
TYPE_OF = {column: kind for kind, columns in TYPES.items() for column in columns.split()}


def expected_marts(world: World, settings: Settings) -> dict[str, list[dict]]:
    return {name: build(world, settings) for name, build in MARTS.items()}


def write_expected(warehouse: Path, marts: dict[str, list[dict]], schema: str = "wandb_expected") -> None:
    """Each mart's expected rows as a table of `schema`, timestamps as UTC without a zone (as the marts give them)."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"create or replace schema {schema}")
        for name, rows in marts.items():
            columns = COLUMNS[name].split()
            declared = ", ".join(f'"{column}" {TYPE_OF.get(column, "varchar")}' for column in columns)
            con.execute(f"create table {schema}.{name} ({declared})")
            # One Arrow table per mart: DuckDB's executemany inserts a row at a time (minutes for the demo's curves).
            table = pyarrow.table({column: [_plain(row[column]) for row in rows] for column in columns})
            con.register("expected_rows", table)
            con.execute(f"insert into {schema}.{name} select * from expected_rows")
            con.unregister("expected_rows")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
