"""Mongo-style run filters and orders, the way W&B's server reads the `filters` JSONString and `order` string."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from .dataset import Run

RUN_FIELDS: dict[str, Callable[[Run], Any]] = {
    "createdAt": lambda r: r.created_at,
    "heartbeatAt": lambda r: r.heartbeat_at,
    "updatedAt": lambda r: r.updated_at,
    "state": lambda r: r.state,
    "name": lambda r: r.name,
    "displayName": lambda r: r.display_name,
    "tags": lambda r: r.tags or [],
    "group": lambda r: r.group,
    "jobType": lambda r: r.job_type,
    "username": lambda r: r.user.username if r.user else None,
    "sweep": lambda r: r.sweep_name,
    "host": lambda r: r.host,
}
ORDER_ALIASES = {"created_at": "createdAt", "heartbeat_at": "heartbeatAt", "updated_at": "updatedAt"}


_UPDATED: ContextVar[str] = ContextVar("updated", default="honoured")


class FilterError(ValueError):
    """A filter the server cannot read; surfaced as a GraphQL error like the real server's."""


def run_matches(run: Run, filters: str | None, updated: str = "honoured") -> bool:
    """`updated` is what the server does with a clause on `updatedAt` (`World.updated_filter`)."""
    if not filters:
        return True
    try:
        parsed = json.loads(filters)
    except json.JSONDecodeError as error:
        raise FilterError(f"invalid filters JSON: {error}") from error
    token = _UPDATED.set(updated)
    try:
        return _matches(run, parsed)
    finally:
        _UPDATED.reset(token)


def sort_runs(runs: list[Run], order: str | None) -> list[Run]:
    """`+created_at`, `-heartbeat_at`, `createdAt`…; the server's default is newest first."""
    order = order or "-created_at"
    descending = order.startswith("-")
    key = ORDER_ALIASES.get(order.lstrip("+-"), order.lstrip("+-"))
    if key.startswith("summary_metrics."):
        return _by_summary(runs, key.removeprefix("summary_metrics."), descending)
    if key not in RUN_FIELDS:
        raise FilterError(f"cannot order runs by {order!r}")
    getter = RUN_FIELDS[key]
    return sorted(runs, key=lambda r: (_sortable(getter(r)), r.number), reverse=descending)


def _by_summary(runs: list[Run], key: str, descending: bool) -> list[Run]:
    """Runs with a finite number under `key` first, best first, ties to the oldest run; then the rest."""

    def number(run: Run) -> float | None:
        value = (run.summary or {}).get(key)
        numeric = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return value if numeric else None

    scored = sorted(
        (r for r in runs if number(r) is not None), key=lambda r: (-number(r) if descending else number(r), r.number)
    )
    return scored + [r for r in runs if number(r) is None]


def _sortable(value: Any) -> tuple:
    return (value is not None, value if value is not None else 0)


def _matches(run: Run, clause: Any) -> bool:
    if not isinstance(clause, dict):
        raise FilterError(f"a filter must be an object, got {clause!r}")
    return all(_matches_item(run, key, value) for key, value in clause.items())


def _matches_item(run: Run, key: str, condition: Any) -> bool:
    if key == "$and":
        return all(_matches(run, c) for c in condition)
    if key == "$or":
        return any(_matches(run, c) for c in condition)
    if key == "$nor":
        return not any(_matches(run, c) for c in condition)
    if key == "updatedAt" and _UPDATED.get() != "honoured":
        if _UPDATED.get() == "refused":
            raise FilterError("cannot filter runs by updatedAt")
        return True
    value = _field(run, key)
    if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition):
        return all(_compare(value, op, operand) for op, operand in condition.items())
    return _compare(value, "$eq", condition)


def _field(run: Run, key: str) -> Any:
    if key in RUN_FIELDS:
        return RUN_FIELDS[key](run)
    for prefix, source in (("config.", run.config), ("summary_metrics.", run.summary)):
        if key.startswith(prefix):
            path = key[len(prefix) :].removesuffix(".value").split(".")
            return _dig(source, path)
    raise FilterError(f"unknown run filter key {key!r}")


def _dig(source: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(source, dict):
            return None
        source = source.get(part)
    return source


def _coerce(value: Any, operand: Any) -> Any:
    if isinstance(value, datetime) and isinstance(operand, str):
        parsed = datetime.fromisoformat(operand.replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if isinstance(value, datetime) and isinstance(operand, int | float):
        raise FilterError("timestamps must be compared with ISO strings")
    return operand


def _compare(value: Any, op: str, operand: Any) -> bool:
    if op in ("$in", "$nin"):
        found = any(_equal(value, _coerce(value, o)) for o in operand)
        return found if op == "$in" else not found
    if op == "$exists":
        return (value is not None) == bool(operand)
    if op == "$regex":
        return value is not None and re.search(operand, str(value)) is not None
    operand = _coerce(value, operand)
    if op == "$eq":
        return _equal(value, operand)
    if op == "$ne":
        return not _equal(value, operand)
    if value is None or operand is None:
        return False
    comparisons = {"$gt": value > operand, "$gte": value >= operand, "$lt": value < operand, "$lte": value <= operand}
    if op not in comparisons:
        raise FilterError(f"unknown filter operator {op!r}")
    return comparisons[op]


def _equal(value: Any, operand: Any) -> bool:
    if isinstance(value, list):
        return operand in value
    return value == operand
