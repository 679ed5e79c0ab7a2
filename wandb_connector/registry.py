"""The one list of tables. A table is a module of `tables/` and a line here; `schema()`, the sync and its sweep, the
settings, the setup form, the README's table of settings and the tests all read this list and name no table.

The order is the order `schema()` declares the tables in, and the order the walks of a scope run in (a child walk
follows its parent's items, wherever it stands).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import settings
from .settings import Option, Settings
from .tables import (
    artifact_lineage,
    artifacts,
    projects,
    run_config,
    run_fields,
    run_history,
    run_summary,
    run_system_metrics,
    sweeps,
    users,
)
from .walker import Table, Walker

MODULES: tuple[ModuleType, ...] = (
    projects,
    run_fields,
    run_config,
    run_summary,
    artifacts,
    sweeps,
    users,
    run_history,
    run_system_metrics,
    artifact_lineage,
)

# What a table module holds: checked for every module of MODULES (tests/test_registry.py), and what the README's
# "Adding a table" lists.
PARTS = ("TABLE", "WALKER", "OPTIONS", "COST", "estimate")

TABLES: tuple[Table, ...] = tuple(module.TABLE for module in MODULES)
WALKERS: tuple[type[Walker], ...] = tuple(module.WALKER for module in MODULES if module.WALKER is not None)
OPTIONS: tuple[Option, ...] = settings.CONNECTION + tuple(option for module in MODULES for option in module.OPTIONS)


def declarations() -> list[dict]:
    """What `schema()` returns: every table with its key and column types."""
    return [table.declaration() for table in TABLES]


def validate_configuration(configuration: Any) -> Settings:
    """The configuration's settings by every option declared, or one error naming every problem and its fix."""
    return settings.read(configuration, OPTIONS)


def known_keys() -> set[str]:
    """Every configuration key the connector reads, older names included."""
    return {name for option in OPTIONS for name in option.names}


def swept_tables() -> list[str]:
    """The tables a reconcile sweeps: projects, and every table of a walk that is swept (child walks prune)."""
    swept = [walker for walker in WALKERS if walker.swept and walker.parent is None]
    return [projects.TABLE.name, *(table.name for walker in swept for table in walker.tables)]


def documents() -> dict[str, str]:
    """Every GraphQL document a table module sends, by its name in the module (for the tests that validate them
    against W&B's schema)."""
    found = {}
    for module in MODULES:
        for name, value in vars(module).items():
            if name.isupper() and isinstance(value, str) and value.lstrip().startswith("query "):
                found[f"{module.__name__.rsplit('.', 1)[1]}.{name}"] = value
    return found
