"""The double speaks W&B's protocol: the real wandb 0.31 client, unmodified, reads everything it serves."""

from __future__ import annotations

import importlib
import json

import pytest
import requests
import wandb
from graphql import parse, validate
from wandb.apis.public.reports import Reports
from wandb.apis.public.runs import _create_runs_query
from wandb.sdk.lib.service.service_connection import WandbApiFailedError

from devkit.expected import finite
from devkit.wandb_double import DEFAULT_API_KEY, Fault, WandbDouble
from devkit.wandb_double.dataset import World
from devkit.wandb_double.server import load_schema


@pytest.fixture
def world(world: World) -> World:
    """The client itself crashes on runs whose user is null (`public.User(None)`), so give every run one here;
    the connector's own tests keep the null users."""
    for run in world.runs:
        run.user = run.user or world.users[0]
    return world


@pytest.fixture
def api(double: WandbDouble) -> wandb.Api:
    return wandb.Api(api_key=DEFAULT_API_KEY, overrides={"base_url": double.base_url, "entity": double.world.entity})


CLIENT_DOCUMENTS = [
    *(
        f"wandb.apis._generated.operations.{n}"
        for n in (
            "GET_PROJECTS_GQL",
            "GET_PROJECT_GQL",
            "GET_SWEEPS_GQL",
            "GET_SWEEP_GQL",
            "GET_SWEEP_LEGACY_GQL",
            "GET_TEAM_ENTITY_GQL",
            "SEARCH_USERS_GQL",
            "GET_VIEWER_GQL",
            "GET_DEFAULT_ENTITY_GQL",
            "IS_PROJECT_READ_ONLY_GQL",
        )
    ),
    *(
        f"wandb.sdk.artifacts._generated.operations.{n}"
        for n in (
            "ARTIFACT_BY_ID_GQL",
            "ARTIFACT_CREATED_BY_GQL",
            "ARTIFACT_USED_BY_GQL",
            "ARTIFACT_MEMBERSHIP_BY_NAME_GQL",
            "ARTIFACT_TYPE_GQL",
            "ARTIFACT_TYPE_ARTIFACT_COLLECTIONS_GQL",
            "PROJECT_ARTIFACTS_GQL",
            "PROJECT_ARTIFACT_COLLECTIONS_GQL",
            "PROJECT_ARTIFACT_COLLECTION_GQL",
            "PROJECT_ARTIFACT_TYPES_GQL",
            "PROJECT_ARTIFACT_TYPE_GQL",
            "RUN_INPUT_ARTIFACTS_GQL",
            "RUN_OUTPUT_ARTIFACTS_GQL",
            "FETCH_ORG_INFO_FROM_ENTITY_GQL",
        )
    ),
    "wandb.apis.public.reports.Reports.QUERY",
]


@pytest.mark.parametrize("dotted", CLIENT_DOCUMENTS, ids=lambda d: d.rsplit(".", 1)[-1])
def test_the_clients_read_documents_validate_against_the_schema(dotted):
    module, _, name = dotted.rpartition(".")
    owner = importlib.import_module(module) if not module.endswith("Reports") else Reports
    assert validate(load_schema(), parse(getattr(owner, name))) == []


@pytest.mark.parametrize("lazy", [True, False])
def test_both_runs_fragments_validate(lazy):
    assert validate(load_schema(), parse(_create_runs_query(lazy=lazy))) == []


def test_a_misspelled_field_or_a_wrong_argument_type_is_rejected():
    misspelled = 'query { project(name: "p", entityName: "e") { runz { edges { cursor } } } }'
    wrong_type = "query($n: Int) { project(name: $n) { id } }"
    assert validate(load_schema(), parse(misspelled)) and validate(load_schema(), parse(wrong_type))


def post(double: WandbDouble, query: str, variables: dict | None = None, key: str = DEFAULT_API_KEY):
    return requests.post(
        f"{double.base_url}/graphql", json={"query": query, "variables": variables or {}}, auth=("api", key), timeout=5
    )


def test_the_client_lists_projects_across_capped_pages(api, double, world: World):
    names = [p.name for p in api.projects(world.entity, per_page=2)]
    assert names == [p.name for p in world.live_projects()]
    assert double.count("GetProjects") == 2


def test_the_client_reads_full_runs_without_a_request_per_run(api, double, world: World):
    project = world.live_projects()[0].name
    runs = list(api.runs(f"{world.entity}/{project}", per_page=1000, lazy=False))
    expected = world.live_runs(project)
    assert [r.id for r in runs] == [r.name for r in sorted(expected, key=lambda r: r.created_at)]
    assert finite(runs[0].config) == finite(expected_run(world, runs[0].id).config)  # NaN is no NaN
    assert double.count("Runs") == 2 and double.count("Run") == 0


def test_lazy_runs_cost_one_request_per_run_for_config(api, double, world: World):
    project = world.live_projects()[0].name
    runs = list(api.runs(f"{world.entity}/{project}", per_page=50))[:3]
    assert [finite(r.config) for r in runs] == [finite(expected_run(world, r.id).config) for r in runs]
    assert double.count("Run") == 3


def test_run_filters_and_orders_are_applied_server_side(api, world: World):
    project = world.live_projects()[0].name
    cutoff = sorted(r.created_at for r in world.live_runs(project))[10]
    filters = {"$and": [{"createdAt": {"$gte": cutoff.strftime("%Y-%m-%dT%H:%M:%S")}}, {"state": "finished"}]}
    runs = list(api.runs(f"{world.entity}/{project}", filters=filters, order="-created_at", lazy=False))
    expected = [r for r in world.live_runs(project) if r.created_at >= cutoff and r.state == "finished"]
    assert [r.id for r in runs] == [r.name for r in sorted(expected, key=lambda r: r.created_at, reverse=True)]


def test_history_sampled_full_and_system_streams(api, world: World):
    run = world.live_runs(world.live_projects()[0].name)[0]
    public = api.run(f"{world.entity}/{run.project}/{run.name}")
    assert len(public.history(pandas=False)) == run.history_line_count
    assert [row["_step"] for row in public.scan_history(page_size=4)] == list(range(run.history_line_count))
    assert [r["train/loss"] for r in public.history(keys=["train/loss"], pandas=False)] == [
        r["train/loss"] for r in run.history()
    ]
    assert len(public.history(stream="system", pandas=False)) == len(run.events(500))


def test_artifacts_through_collections_and_lineage(api, world: World):
    version = next(a for a in world.artifacts if a.created_by and a.used_by)
    project = api.project(version.collection.project, world.entity)
    collection = next(c for c in project.collections() if c.name == version.collection.name)
    versions = list(collection.artifacts())
    assert {a.id for a in versions} == {a.id for a in world.live_artifacts(version.collection)}
    artifact = next(a for a in versions if a.id == version.id)
    assert artifact.metadata == version.metadata
    assert artifact.logged_by().id == version.created_by[1]
    assert {r.id for r in artifact.used_by()} == {name for _, name in version.used_by}


def test_run_artifact_edges(api, world: World):
    version = next(a for a in world.artifacts if a.created_by)
    run = api.run(f"{world.entity}/{version.created_by[0]}/{version.created_by[1]}")
    assert version.id in {a.id for a in run.logged_artifacts()}
    consumer = version.used_by[0] if version.used_by else None
    if consumer:
        assert version.id in {a.id for a in api.run(f"{world.entity}/{consumer[0]}/{consumer[1]}").used_artifacts()}


def test_team_members_and_users(api, world: World):
    assert {m.username for m in api.team(world.entity).members} == {u.username for u in world.users}
    assert api.user("bob").username == "bob"


def test_a_wrong_key_gets_http_401_with_graphql_errors(double):
    response = post(double, "query Viewer { viewer { id } }", key="x" * 40)
    assert response.status_code == 401 and response.json()["errors"][0]["message"]


def test_a_wrong_key_fails_the_client_after_one_request_not_retried(double):
    with pytest.raises(wandb.errors.AuthenticationError):
        wandb.Api(api_key="wrong" * 8, overrides={"base_url": double.base_url})
    assert [(r.op, r.status) for r in double.requests] == [("Viewer", 401)]


def test_a_query_the_real_server_would_reject_fails_validation(double):
    response = post(double, 'query Runs { project(name: "x", entityName: "y") { runz { edges { cursor } } } }')
    assert response.status_code == 400
    assert "Cannot query field 'runz'" in json.dumps(response.json())


def test_every_request_is_recorded_with_its_operation_name(double, world: World):
    post(double, "query GetDefaultEntity { viewer { id entity } }")
    assert double.ops()[-1] == "GetDefaultEntity" and double.requests[-1].variables == {}


def test_json_encoded_fields_are_strings_with_nan_tokens(double, world: World):
    run = next(r for r in world.runs if any(isinstance(v, float) and v != v for v in r.summary.values()))
    query = (
        "query Run($p: String!, $e: String!, $n: String!) "
        "{ project(name: $p, entityName: $e) { run(name: $n) { summaryMetrics config } } }"
    )
    data = post(double, query, {"p": run.project, "e": world.entity, "n": run.name}).json()["data"]["project"]["run"]
    assert isinstance(data["summaryMetrics"], str) and "NaN" in data["summaryMetrics"]
    assert json.loads(data["config"])["params"]["value"] == run.config["params"]


@pytest.mark.parametrize(
    ("fault", "status"),
    [(Fault.http(503), 503), (Fault.graphql_error(), 200), (Fault.malformed(), 200), (Fault.html(502), 502)],
)
def test_faults_answer_the_next_matching_request_only(double, fault, status):
    double.inject(fault, op="GetDefaultEntity")
    first = post(double, "query GetDefaultEntity { viewer { id entity } }")
    second = post(double, "query GetDefaultEntity { viewer { id entity } }")
    assert first.status_code == status and second.status_code == 200 and second.json()["data"]["viewer"]


def test_429_with_retry_after_is_retried_by_wandb_core_until_answered(api, double, world: World):
    double.inject(Fault.http(429, retry_after=1), op="GetProjects", times=2)
    assert [p.name for p in api.projects(world.entity)] == [p.name for p in world.live_projects()]
    assert [r.status for r in double.requests if r.op == "GetProjects"] == [429, 429, 200]


def test_graphql_errors_with_http_200_reach_the_caller(api, double, world: World):
    double.inject(Fault.graphql_error("project permission denied"), op="GetProjects")
    with pytest.raises(WandbApiFailedError, match="permission denied"):
        list(api.projects(world.entity))


def test_a_dropped_connection_is_retried(api, double, world: World):
    double.inject(Fault.dropped(), op="GetProjects")
    assert [p.name for p in api.projects(world.entity)]
    assert [r.status for r in double.requests if r.op == "GetProjects"] == [0, 200]


def test_latency_leaves_every_answer_as_it_was(double):
    """Latency is for benchmarks (`--latency`): it only delays, so how long it delays is measured there."""
    query = "query GetDefaultEntity { viewer { id entity } }"
    prompt = post(double, query)
    double.latency = 0.2
    late = post(double, query)
    assert (late.status_code, late.json()) == (prompt.status_code, prompt.json())


def expected_run(world: World, name: str):
    return next(r for r in world.runs if r.name == name)
