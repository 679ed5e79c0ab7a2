"""A table lives in one module of `wandb_connector/tables/` plus one line of the registry. These tests hold every
module to that shape, so a table that needs an edit anywhere else (the driver, the sweep, settings, the form, the
docs' tables) fails here first, naming the part it lacks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from devkit.expected import expected_rows
from devkit.fivetran_cli import ROOT
from devkit.wandb_double.dataset import build_world
from scripts import docs
from wandb_connector import registry, settings
from wandb_connector.settings import Option
from wandb_connector.walker import Cost, Table, Walker

MODULES = {module.__name__.rsplit(".", 1)[1]: module for module in registry.MODULES}
PACKAGE = ROOT / "wandb_connector"


@pytest.mark.parametrize("name", MODULES)
def test_a_table_module_holds_every_part(name: str) -> None:
    """Given a module of the registry, then it holds a table named as the module, a walker for that table (the
    projects listing is walked by the driver), its options and its cost note."""
    module = MODULES[name]
    missing = [part for part in registry.PARTS if not hasattr(module, part)]
    assert not missing, f"tables/{name}.py lacks {missing}"
    assert isinstance(module.TABLE, Table) and module.TABLE.name == name
    assert isinstance(module.COST, Cost) and all(vars(module.COST).values())
    assert all(isinstance(option, Option) for option in module.OPTIONS)
    if name == "projects":
        assert module.WALKER is None
    else:
        assert issubclass(module.WALKER, Walker)
        assert module.TABLE in module.WALKER.tables, f"{module.WALKER.__name__} does not write {name}"


def test_every_table_module_is_in_the_registry() -> None:
    """Given the files of `tables/`, then each is a line of the registry (a module left out would sync nothing)."""
    files = {path.stem for path in (PACKAGE / "tables").glob("*.py") if path.stem != "__init__"}
    assert files == set(MODULES)


def test_names_are_unique() -> None:
    """Then no two tables, walks or configuration keys share a name (a walk's name keys its state)."""
    tables = [table.name for table in registry.TABLES]
    walks = [walker.name for walker in registry.WALKERS]
    keys = [name for option in registry.OPTIONS for name in option.names]
    for names in (tables, walks, keys):
        assert len(names) == len(set(names)), names


def test_a_switch_is_named_as_its_table() -> None:
    """Given a walk that can be switched off, then its key is its table's name (older names are aliases)."""
    for walker in registry.WALKERS:
        if walker.switch is not None:
            assert walker.switch.key in {table.name for table in walker.tables}, walker.switch.key
            assert walker.switch in registry.OPTIONS


def test_no_module_outside_tables_names_a_table() -> None:
    """Then the driver, the sweep, the settings and the form name no table: they read the registry. A table's name
        as a string literal outside its module (other than in a docstring) means a table leaks into the mechanism. (The
    connection's `projects` filter shares the projects table's name.)"""
    names = {table.name for table in registry.TABLES} - {option.key for option in settings.CONNECTION}
    leaks = []
    for path in PACKAGE.glob("*.py"):
        if path.name in {"registry.py", "value_buckets.py", "state.py"}:
            continue  # the list itself; the value tables' shared walk; state's table of renamed walks
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                leaks.append(f"{path.name}:{node.lineno} {node.value!r}")
    assert not leaks, leaks


def test_every_table_has_its_ground_truth_and_its_docs() -> None:
    """Then the tests' oracle (devkit/expected.py) says what every table holds, and docs/tables.md describes it."""
    oracles = expected_rows(build_world(seed=7, projects=1, runs_per_project=1), "http://127.0.0.1")
    assert set(oracles) == set(MODULES)
    described = (ROOT / "docs" / "tables.md").read_text()
    for name in MODULES:
        assert f"`{name}`" in described.split("## What each table costs")[0], name


@pytest.mark.parametrize(
    ("path", "marker", "render"),
    [(docs.SETTINGS[0], docs.SETTINGS[1], docs.settings_table), (docs.COSTS[0], docs.COSTS[1], docs.costs_table)],
)
def test_generated_tables_match_the_registry(path: Path, marker: str, render) -> None:
    """Given the README's settings and the docs' costs, then each is what the registry renders (`python -m
    scripts.docs` rewrites them)."""
    assert docs.section(path.read_text(), marker) == render(), f"run `python -m scripts.docs` ({path.name})"
