"""A field or argument an older W&B server lacks costs its columns, not the sync: the connector leaves it out for
that server and warns once what stays empty."""

from __future__ import annotations

import re

import pytest
from fivetran_connector_sdk import Logging
from graphql import parse, print_ast, validate

from tests.wandb_double import WandbDouble
from tests.wandb_double.server import load_schema, schema_lacking
from wandb_connector import queries
from wandb_connector.optional import OPTIONALS, Lacking, OptionalFields, rejected, strip

USED_BY_PAGING = "Artifact.usedBy(first:, after:)"
SWEEP_ORDER = "Sweep.runs(order:)"
NEW_CONSUMERS = "RunConnection.totalCount"
# Every document that marks an optional element; the shared first request is built from their parts.
MARKED = ("RUNS", "COLLECTIONS", "ARTIFACTS", "ARTIFACT_PROBE", "ARTIFACT_USERS", "SWEEP_BEST_RUN")


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
    assert strip(queries.PROJECTS, frozenset(OPTIONALS)).text == queries.PROJECTS


@pytest.mark.parametrize("name", MARKED)
def test_a_marked_document_with_nothing_dropped_is_the_same_document_without_its_markers(name):
    document = getattr(queries, name)
    unmarked = re.sub(r'\s*@optional\(name: "[^"]*"\)', "", document)
    assert strip(document, frozenset()).text == print_ast(parse(unmarked))


@pytest.mark.parametrize("lacking", sorted(OPTIONALS))
@pytest.mark.parametrize("name", MARKED)
def test_every_marked_document_stripped_of_an_element_is_valid_on_a_server_without_it(name, lacking):
    prepared = strip(getattr(queries, name), frozenset({lacking}))
    if prepared.text is not None:  # an operation that needs the element is not sent at all
        assert validate(schema_lacking(frozenset({lacking})), parse(prepared.text)) == []
        assert validate(load_schema(), parse(prepared.text)) == []


def test_a_dropped_field_goes_with_its_subselection():
    sent = strip(queries.RUNS, frozenset({"Run.runInfo"})).text
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
        optional.prepare(queries.SWEEP_BEST_RUN, "the best run of sweep s")
    assert optional.lacking == [SWEEP_ORDER]


def test_every_declared_element_is_marked_somewhere_and_every_marker_is_declared():
    marked = set()
    for name in MARKED:
        marked |= set(re.findall(r'@optional\(name: "([^"]*)"\)', getattr(queries, name)))
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
