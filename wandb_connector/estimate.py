"""The bill before the first sync: how many rows a first sync writes to each table, and how many rows a typical
month then keeps active (what Fivetran bills: monthly active rows), read from W&B's listings without syncing.

Each table module estimates itself (`estimate(survey)`) from what a `Survey` reads of a project, or of the entity
for the entity's tables: exact counts where a listing says them, sampled averages times run counts where it cannot
(flagged `sampled`). Tables whose switch is off are not estimated (their row stays 0). What a project costs to
estimate: the runs' lean listing (1,000 runs a request), one sample of config and summary documents, one sample of
system streams, the artifact collections with their version probes, and the sweep ids; for the entity, the
projects and the members.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .client import WandbClient
from .registry import MODULES
from .settings import Settings
from .survey import Survey
from .tables.projects import check_access, list_projects
from .walker import Guess, Where


def switches(module: Any) -> str:
    """The options that cut a table's rows: its own (its switch, its filters), else the project filters, which cut
    every table of a project's walks."""
    own = [o.key + (": false" if o.key == module.TABLE.name else "") for o in module.OPTIONS if o.cuts]
    entity = module.WALKER is not None and module.WALKER.scope == "entity"
    return ", ".join(own) or ("(one row per member)" if entity else "projects, exclude_projects")


SWITCHES = {module.TABLE.name: switches(module) for module in MODULES}


@dataclass
class Tally:
    first_sync_rows: float = 0.0
    monthly_active_rows: float = 0.0
    sampled: bool = False

    def add(self, guess: Guess) -> None:
        self.first_sync_rows += guess.first
        self.monthly_active_rows += guess.monthly
        self.sampled |= guess.sampled


@dataclass
class Estimate:
    """Per table: rows a first sync writes, monthly active rows of a typical month, and whether sampled."""

    tables: dict[str, Tally] = field(default_factory=lambda: {name: Tally() for name in SWITCHES})
    requests: int = 0

    def as_json(self) -> dict[str, dict[str, int]]:
        return {
            name: {"first_sync_rows": round(t.first_sync_rows), "monthly_active_rows": round(t.monthly_active_rows)}
            for name, t in self.tables.items()
        }


def estimate(client: WandbClient, settings: Settings, now: datetime) -> Estimate:
    """Read the entity's listings and estimate every table the configuration turns on; nothing is written."""
    result = Estimate()
    listed = list_projects(client, settings.entity)
    if not listed:
        check_access(client, settings.entity)
    selected = [name for name in listed if settings.wants(name)]
    settings.unmatched_globs(set(listed))
    settings.check_selection(list(listed), selected)
    wanted = [m for m in MODULES if m.WALKER is None or m.WALKER.enabled(settings)]
    scopes = [(Where(settings.entity, "", now), "entity")]
    scopes += [(Where(settings.entity, "", now, name), "project") for name in selected]
    for where, scope in scopes:
        survey = Survey(client, settings, where, now)
        for module in (m for m in wanted if _scope(m) == scope):
            result.tables[module.TABLE.name].add(module.estimate(survey))
    return result


def _scope(module: Any) -> str:
    return "project" if module.WALKER is None else module.WALKER.scope


def rounded(value: float) -> str:
    """A count as people read an estimate: three significant figures."""
    if value < 1000:
        return f"{round(value):,}"
    digits = 2 - math.floor(math.log10(value))
    return f"{round(value, digits):,.0f}"
