"""`projects`: the entity's projects, from one listing per sync (the root of every project's walks).

The listing is read whole at every sync (a request per 500 projects): the driver (`sync.py`) emits the projects
that are new or whose row changed (a digest of each is kept), and syncs the walks of those the filters select; a
project W&B no longer lists loses its rows at once. An entity with no project is checked (`check_access`): W&B lists
no projects for an entity that does not exist, which is a configuration mistake, not an empty entity.

While it is unknown (the first sync, and again after each reconcile), the listing also asks whether the server
filters runs by `updatedAt` (`list_probing`): the run walks then ask for runs edited since the last sync.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..convert import parse_time
from ..errors import ConfigurationError, SourceError
from ..paging import pages, whole
from ..shapes import expect_shape
from ..walker import Cost, Guess, Table, Where

if TYPE_CHECKING:
    from ..survey import Survey

PROJECTS_PER_PAGE = 500


# `api.projects()`'s query with a lean user, plus `description` and `updatedAt` (Project fields the client's
# registry queries read).
PROJECTS_QUERY = """
query GetProjects($entity: String, $cursor: String, $perPage: Int = 50) {
  models(entityName: $entity, after: $cursor, first: $perPage) {
    pageInfo { endCursor hasNextPage }
    edges {
      node { id name entityName description createdAt updatedAt isBenchmark user { username } }
    }
  }
}
"""


# `api.team()`'s root field, trimmed: null for an entity that does not exist or that the key cannot see.
ENTITY = """
query GetEntity($name: String!) {
  entity(name: $name) { id name isTeam }
}
"""


# A question whose answer is known, asked with the listing: how many runs of each project W&B updated after a
# time far in the future. A server that filters runs by `updatedAt` answers 0; one that ignores the filter counts
# every run; one that refuses it fails the request (the listing is then read again without it).
FAR_FUTURE = json.dumps({"updatedAt": {"$gt": "2999-01-01T00:00:00"}})
PROJECTS_PROBING = PROJECTS_QUERY.replace("$perPage: Int = 50)", "$perPage: Int = 50, $farFuture: JSONString)").replace(
    "user { username } }", "user { username } runTotal: runCount runsUpdatedLater: runCount(filters: $farFuture) }"
)
# What `list_probing` found, in `WandbClient.traits` (the run walks read it).
UPDATED_FILTER = "updated_filter"


def list_projects(client: Any, entity: str) -> dict[str, dict]:
    """The entity's projects by name, in W&B's order, from a whole reading of the listing (the sync and the
    connection test alike)."""
    return _listing(client, entity, PROJECTS_QUERY, {"entity": entity})


def list_probing(client: Any, entity: str) -> tuple[dict[str, dict], str | None]:
    """The listing, and whether the server filters runs by `updatedAt`: "honoured", "ignored", "refused", or None
    while no project has a run to tell by."""
    try:
        listed = _listing(client, entity, PROJECTS_PROBING, {"entity": entity, "farFuture": FAR_FUTURE})
    except SourceError:
        return list_projects(client, entity), "refused"
    counts = [(node.get("runTotal"), node.get("runsUpdatedLater")) for node in listed.values()]
    counts = [(total, later) for total, later in counts if isinstance(total, int) and total > 0]
    if not counts:
        return listed, None
    return listed, "honoured" if all(later == 0 for _, later in counts) else "ignored"


def _listing(client: Any, entity: str, document: str, variables: dict) -> dict[str, dict]:
    what = f"the projects of entity '{entity}'"
    listed = whole(client, document, variables, ("models",), what, PROJECTS_PER_PAGE)
    with expect_shape(what):
        return {node["name"]: node for node in listed}


def check_access(client: Any, entity: str, listing: bool = False) -> None:
    """Fail as configuration when the key cannot read the entity: W&B lists no projects for an unknown one.
    With `listing`, also read the first project, which is where a team the user is not a member of refuses."""
    if client.execute(ENTITY, {"name": entity}, f"entity '{entity}'").get("entity") is None:
        raise ConfigurationError(
            f"W&B has no entity '{entity}' that this API key can read: check 'entity' (the team or user name "
            "in https://wandb.ai/<entity>) and that the key's user is a member of it"
        )
    if listing:
        next(pages(client, PROJECTS_QUERY, {"entity": entity}, ("models",), f"the projects of entity '{entity}'", 1))


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


TABLE = Table(
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


WALKER = None  # the driver lists the projects itself: every project's walks hang off that listing
OPTIONS = ()  # which projects sync is the connection's choice (`projects`, `exclude_projects`)

COST = Cost(
    requests="1 per sync (the listing, 500 projects a page)",
    rows="new and changed projects; a project W&B no longer lists is deleted at the next sync, with every row of it",
    reconcile="writes nothing more",
)


def estimate(survey: Survey) -> Guess:
    """Each selected project is a row, written again at every reconcile."""
    return Guess(1, 1)
