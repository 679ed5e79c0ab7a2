"""A field or argument an older W&B server lacks costs its columns, not the sync: the connector leaves it out for
that server, warns once what stays empty, remembers it until the next reconcile, and asks again then."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from fivetran_connector_sdk import Logging
from graphql import parse, print_ast, validate

from devkit.wandb_double import WandbDouble
from devkit.wandb_double.dataset import World, build_world
from devkit.wandb_double.resolvers import DEFAULT_PAGE
from devkit.wandb_double.server import load_schema, schema_lacking
from tests.harness import Harness, daily, every_sync
from wandb_connector.errors import SourceError
from wandb_connector.optional import OPTIONALS, Lacking, OptionalFields, rejected, strip
from wandb_connector.registry import documents
from wandb_connector.tables import projects, run_fields, sweeps

USED_BY_PAGING = "Artifact.usedBy(first:, after:)"
SWEEP_ORDER = "Sweep.runs(order:)"
NEW_CONSUMERS = "RunConnection.totalCount"
PAGE_CAP = 10
# Every document that marks an optional element; the shared first request is built from their parts.
MARKED = sorted(name for name, document in documents().items() if "@optional" in document)


@pytest.fixture
def world() -> World:
    world = build_world(seed=11, projects=2, runs_per_project=20, artifact_versions=16, history_steps=4)
    crowded = next(a for a in world.artifacts if a.used_by)
    for run in [r for p in world.live_projects() for r in world.live_runs(p.name)][: PAGE_CAP + 3]:
        world.use_artifact(run, crowded)  # more users than one answer holds: lineage pages them
    return world


@pytest.fixture
def double(world: World):
    with WandbDouble(world, page_cap=PAGE_CAP) as served:
        yield served


@pytest.fixture
def harness(tmp_path, double: WandbDouble, configuration: dict) -> Harness:
    return daily(Harness(tmp_path / "sync", configuration, double))


def without(harness: Harness, name: str) -> dict[str, dict[tuple, dict]]:
    """The ground truth with the columns `name` leaves empty set to NULL; each held a value, or this test would
    prove nothing."""
    expected = harness.expected()
    for column in OPTIONALS[name].empty:
        table, _, field = column.partition(".")
        assert any(row[field] is not None for row in expected[table].values()), f"the oracle has no {column}"
        for row in expected[table].values():
            row[field] = None
    return expected


def assert_lands_without(harness: Harness, name: str) -> None:
    """Every row of every table, with only `name`'s columns empty; without `usedBy`'s paging, each version keeps
    the input edges of the server's one answer and nothing else is missing."""
    for table, rows in without(harness, name).items():
        landed = harness.rows(table)
        if table == "artifact_lineage" and name == USED_BY_PAGING:
            answer = min(DEFAULT_PAGE, harness.double.page_cap)
            inputs = Counter(key[2] for key in rows if key[3] == "input")
            kept = Counter(key[2] for key in landed if key[3] == "input")
            assert set(landed) <= set(rows) and {key[3] for key in set(rows) - set(landed)} == {"input"}
            assert kept == {artifact: min(users, answer) for artifact, users in inputs.items()}
        else:
            assert landed == rows, table


def warnings_naming(output: str, name: str) -> int:
    return sum(1 for line in output.splitlines() if "WARNING" in line and f"does not have {name} " in line)


def change_everything(world: World) -> tuple[str, str]:
    """A run edited, a sweep with a best run changed, a new version beside the crowded one: every marked document
    is sent again. Returns the sweep's key."""
    world.edit_run(world.live_runs(world.live_projects()[0].name)[0], notes="edited")
    sweep = world.edit_sweep(next(s for s in world.sweeps if world.best_run(s)), description="edited")
    world.add_artifact_version(max(world.artifacts, key=lambda a: len(a.used_by)).collection, None)
    return f"{world.entity}/{sweep.project}", sweep.name


@pytest.mark.parametrize("name", sorted(OPTIONALS))
def test_given_a_server_lacking_it_then_syncs_land_every_row_with_only_its_columns_empty_and_warn_once(
    harness: Harness, double: WandbDouble, world: World, name: str, capsys
):
    double.lacking = {name}
    harness.sync()
    assert_lands_without(harness, name)
    assert warnings_naming(capsys.readouterr().out, name) == 1
    assert harness.state["server_lacks"] == [name]

    sweep = change_everything(world)
    double.reset_log()
    harness.sync()
    assert [r.op for r in double.requests if r.status != 200] == []
    assert warnings_naming(capsys.readouterr().out, name) == 0
    assert harness.state["server_lacks"] == [name]
    assert harness.rows("sweeps")[sweep]["description"] == "edited" and double.count("ProjectArtifacts") > 0
    assert (double.count("SweepBestRun") == 0) == (name == SWEEP_ORDER)  # no order, no best run asked for
    assert (double.count("ArtifactUsedBy") == 0) == (name == USED_BY_PAGING)  # no paging arguments, no pages


@pytest.mark.parametrize("name", sorted(OPTIONALS))
def test_given_the_server_gains_it_then_the_next_reconcile_asks_again_and_fills_every_column(
    harness: Harness, double: WandbDouble, name: str, capsys
):
    double.lacking = {name}
    harness.sync()
    double.lacking = set()  # the server is upgraded
    every_sync(harness).sync()
    harness.assert_matches_world()
    assert harness.state["server_lacks"] == []
    assert warnings_naming(capsys.readouterr().out, name) == 1  # the first sync's only


def test_given_no_users_count_then_a_new_consumer_of_an_old_version_arrives_at_the_reconcile(
    harness: Harness, double: WandbDouble, world: World, capsys
):
    double.lacking = {NEW_CONSUMERS}
    harness.sync()
    old = next(a for a in world.artifacts if a.used_by and len(a.used_by) < PAGE_CAP)
    newcomer = next(r for r in world.runs if (r.project, r.name) not in old.used_by)
    world.use_artifact(newcomer, old)
    edge = (f"{world.entity}/{newcomer.project}", newcomer.name, old.id, "input")
    harness.sync()
    assert edge not in harness.rows("artifact_lineage")
    every_sync(harness).sync()  # asks again: the server still lacks it
    harness.assert_matches_world()
    assert warnings_naming(capsys.readouterr().out, NEW_CONSUMERS) == 2
    assert harness.state["server_lacks"] == [NEW_CONSUMERS]


def test_given_a_server_lacking_a_field_that_is_not_optional_then_the_sync_fails_naming_it(
    harness: Harness, double: WandbDouble
):
    double.lacking = {"Run.sweepName"}
    with pytest.raises(Exception) as raised:
        harness.sync()
    cause = raised.value.__cause__ or raised.value
    assert isinstance(cause, SourceError) and "Cannot query field 'sweepName' on type 'Run'" in str(cause), cause


# The double's switch


@pytest.mark.parametrize(
    ("name", "query", "message"),
    [
        ("Run.host", '{ project(name: "p") { run(name: "r") { host } } }', "Cannot query field 'host' on type 'Run'."),
        (
            SWEEP_ORDER,
            '{ project(name: "p") { sweep(sweepName: "s") { runs(order: "+x") { totalCount } } } }',
            "Unknown argument 'order' on field 'Sweep.runs'.",
        ),
    ],
)
def test_a_double_lacking_an_element_rejects_a_query_naming_it_until_it_gains_it(name, query, message, world):
    double = WandbDouble(world, lacking={name})
    status, payload = double.answer({"query": query})
    assert status == 400 and payload["errors"][0]["message"].startswith(message)
    double.lacking = set()
    assert double.answer({"query": query})[0] == 200


# The document stripper


def test_a_document_without_markers_is_sent_as_written():
    assert strip(projects.PROJECTS_QUERY, frozenset(OPTIONALS)).text == projects.PROJECTS_QUERY


@pytest.mark.parametrize("name", MARKED)
def test_a_marked_document_with_nothing_dropped_is_the_same_document_without_its_markers(name):
    document = documents()[name]
    unmarked = re.sub(r'\s*@optional\(name: "[^"]*"\)', "", document)
    assert strip(document, frozenset()).text == print_ast(parse(unmarked))


@pytest.mark.parametrize("lacking", sorted(OPTIONALS))
@pytest.mark.parametrize("name", MARKED)
def test_every_marked_document_stripped_of_an_element_is_valid_on_a_server_without_it(name, lacking):
    prepared = strip(documents()[name], frozenset({lacking}))
    if prepared.text is not None:  # an operation that needs the element is not sent at all
        assert validate(schema_lacking(frozenset({lacking})), parse(prepared.text)) == []
        assert validate(load_schema(), parse(prepared.text)) == []


def test_a_dropped_field_goes_with_its_subselection():
    sent = strip(run_fields.RUNS, frozenset({"Run.runInfo"})).text
    assert "runInfo" not in sent and "gpuCount" not in sent and "host" in sent


def test_dropped_arguments_go_and_the_variables_they_used_are_no_longer_declared():
    document = """
    query Users($id: ID!, $cursor: String, $perPage: Int) {
      artifact(id: $id) {
        usedBy(after: $cursor, first: $perPage) @optional(name: "Artifact.usedBy(first:, after:)") { totalCount }
      }
    }"""
    prepared = strip(document, frozenset({USED_BY_PAGING}))
    assert prepared.variables == {"id"} and "$cursor" not in prepared.text and "usedBy {" in prepared.text
    assert validate(schema_lacking(frozenset({USED_BY_PAGING})), parse(prepared.text)) == []


def test_an_operation_that_needs_a_dropped_element_is_not_sent(monkeypatch):
    monkeypatch.setattr(Logging, "LOG_LEVEL", Logging.Level.WARNING)
    optional = OptionalFields("W&B cloud")
    optional.remember([SWEEP_ORDER, "Run.gone-from-this-version"])
    with pytest.raises(Lacking, match=re.escape(SWEEP_ORDER)):
        optional.prepare(sweeps.SWEEP_BEST_RUN, "the best run of sweep s")
    assert optional.lacking == [SWEEP_ORDER]


def test_every_declared_element_is_marked_somewhere_and_every_marker_is_declared():
    marked = set()
    for name in MARKED:
        marked |= set(re.findall(r'@optional\(name: "([^"]*)"\)', documents()[name]))
    assert marked == set(OPTIONALS)
    for name in OPTIONALS:
        schema_lacking(frozenset({name}))  # the double can be a server without each


# The error-text matcher


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Cannot query field 'host' on type 'Run'.", "Run.host"),
        ('input: project Cannot query field "runInfo" on type "Run".\n', "Run.runInfo"),
        ("Cannot query field 'updatedAt' on type 'Run'. Did you mean 'createdAt'?", "Run.updatedAt"),
        ('Cannot query field "totalCount" on type "RunConnection".', NEW_CONSUMERS),
        ("Unknown argument 'order' on field 'Sweep.runs'.", SWEEP_ORDER),
        ('Unknown argument "order" on field "runs" of type "Sweep".', SWEEP_ORDER),
        ('Unknown argument "first" on field "Artifact.usedBy".', USED_BY_PAGING),
        ('Unknown argument "after" on field "usedBy" of type "Artifact".', USED_BY_PAGING),
    ],
)
def test_a_server_naming_an_optional_element_unknown_is_understood_in_either_quote_style(text, name):
    assert set(rejected(text)) == {name}


def test_every_optional_element_of_errors_wandb_core_joined_is_understood_with_the_servers_words():
    text = "[Cannot query field 'totalCount' on type 'RunConnection'.; Cannot query field 'runInfo' on type 'Run'.]"
    assert rejected(text) == {
        NEW_CONSUMERS: "Cannot query field 'totalCount' on type 'RunConnection'",
        "Run.runInfo": "Cannot query field 'runInfo' on type 'Run'",
    }


@pytest.mark.parametrize(
    "text",
    [
        "Cannot query field 'sweepName' on type 'Run'.",
        'Cannot query field "totalCount" on type "ArtifactConnection".',
        "Unknown argument 'filters' on field 'Sweep.runs'.",
        'Unknown argument "order" on field "runs" of type "Project".',
        "Variable '$order' of type 'String' used in position expecting type 'Int'.",
        "permission denied",
    ],
)
def test_any_other_error_is_not_taken_for_a_missing_optional_element(text):
    assert rejected(text) == {}
