"""`artifact_lineage`: every edge between a run and an artifact version, a child walk of the artifact versions.

The version listing already brings each version's creator (`createdBy`, the `output` edge) and the first page of
the runs that used it (`usedBy`, the `input` edges), so lineage costs a request only for a version used by more
runs than a page holds. That is well under the two requests per run of `run.logged_artifacts()` and
`run.used_artifacts()`. A run that starts using an old version changes that version's `usedBy` count, which the
artifact walk's probe sees at the next sync, so the version's collection is read again and the new edge arrives
then, whatever W&B does with its timestamps. A server without `usedBy`'s paging arguments (`optional.py`) sends
what it sends: a version keeps the input edges of its first answer.

The walk keeps each version's edges (a few bytes each): a re-read collection emits only the edges that are new,
and deletes the ones that are gone (a deleted run's, a deleted version's), so no edge is billed twice for
nothing. The reconcile hands the walk the versions W&B still has (`prune`) for the rest. An edge to a run of
another project keeps that run's project; it is synced with the version's project.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..convert import parse_time
from ..optional import Lacking
from ..paging import whole
from ..settings import Option, switch
from ..shapes import expect_shape
from ..state import WalkState
from ..walker import Cost, Deletes, Follow, Guess, Table, Walker, Where
from .artifacts import (
    RUN_REF,
    USED_BY_PAGING,
    USED_BY_PER_PAGE,
    USERS_COUNT,
    VersionPage,
    collection_may_vanish,
    probes,
)

if TYPE_CHECKING:
    from ..survey import Survey

USERS_PATH = ("artifact", "usedBy")


DIRECTIONS = {"o": "output", "i": "input"}


SWITCH = Option(
    "artifact_lineage",
    "Sync artifact lineage",
    "Whether artifact_lineage holds every run's input and output artifact versions. Default true.",
    switch(True),
    placeholder="true",
    aliases=("lineage",),
    doc="`false` to leave `artifact_lineage` empty (default `true`); `lineage`, its older name, is accepted too",
)


ARTIFACT_USERS = f"""
query ArtifactUsedBy($id: ID!, $cursor: String, $perPage: Int) @optional(name: "{USED_BY_PAGING}") {{
  artifact(id: $id) {{
    usedBy(after: $cursor, first: $perPage) {{
      {USERS_COUNT} pageInfo {{ endCursor hasNextPage }} edges {{ node {{ {RUN_REF} }} }}
    }}
  }}
}}
"""


def lineage_row(node: dict, where: Where) -> dict[str, Any]:
    """An edge between a run and an artifact version: `input` when the run used it, `output` when it logged it.
    `node` is the version, with the edge's `direction` and the run's `run_project_id` and `run_id`."""
    collection = node["artifactSequence"]["name"]
    version = f"v{node['versionIndex']}"
    return {
        "project_id": node["run_project_id"],
        "run_id": node["run_id"],
        "artifact_id": node["id"],
        "direction": node["direction"],
        "artifact_project_id": where.project_id,
        "artifact_name": f"{collection}:{version}",
        "artifact_collection": collection,
        "artifact_version": version,
        "artifact_type": (node.get("artifactType") or {}).get("name"),
    }


TABLE = Table(
    "artifact_lineage",
    ("project_id", "run_id", "artifact_id", "direction"),
    {
        "project_id": "STRING",
        "run_id": "STRING",
        "artifact_id": "STRING",
        "direction": "STRING",
        "artifact_project_id": "STRING",
        "artifact_name": "STRING",
        "artifact_collection": "STRING",
        "artifact_version": "STRING",
        "artifact_type": "STRING",
        "synced_at": "UTC_DATETIME",
    },
    lineage_row,
)


@dataclass
class LineageState(WalkState):
    """Per collection id, per version synced, its edges: `o` (the run logged it) or `i` (used it) and the run, by
    name for a run of the version's own project, else as `entity/project/name`."""

    collections: dict[str, dict[str, list[str]]] = field(default_factory=dict)


@dataclass
class Edges:
    """A page's versions with every edge of each; at a collection's end, the versions it still lists."""

    collection: str
    versions: list[tuple[dict, list[str]]]
    live: list[str] | None = None


def edge_key(edge: str, where: Where, artifact_id: str) -> dict[str, str]:
    *project, run = edge[1:].split("/")
    return {
        "project_id": "/".join(project) if project else where.project_id,
        "run_id": run,
        "artifact_id": artifact_id,
        "direction": DIRECTIONS[edge[0]],
    }


def edges_of(node: dict, users: list[dict], where: Where) -> list[str]:
    """A version's edges in the ledger's form: its creator, when a run, and every run that used it."""
    creator = node.get("createdBy") or {}
    edges = {"i" + _ref(run, where) for run in users}
    if creator.get("__typename") == "Run":
        edges.add("o" + _ref(creator, where))
    return sorted(edges)


def _ref(run: dict, where: Where) -> str:
    project = run.get("project") or {}
    entity, name = (project.get("entity") or {}).get("name") or where.entity, project.get("name") or where.project
    return run["name"] if (entity, name) == (where.entity, where.project) else f"{entity}/{name}/{run['name']}"


class LineageWalker(Walker[LineageState]):
    """The edges of the versions of each page of the artifact walk."""

    name: ClassVar[str] = TABLE.name
    parent: ClassVar[str] = "artifacts"
    swept: ClassVar[bool] = False
    tables: ClassVar[tuple[Table, ...]] = (TABLE,)
    state_type: ClassVar[type[WalkState]] = LineageState
    switch: ClassVar[Option] = SWITCH

    def start(self, now: datetime, full: bool) -> Follow:
        self.walk = self.state.begin(now, full)
        self.seen: set[str] = set()
        return self.follow

    def finish(self) -> None:
        """A full walk saw every collection the artifact walk lists (that walk is full with it): the edges of the
        collections it did not see (deleted, hidden, while lineage was off) are deleted."""
        if self.walk.full:
            for collection in [c for c in self.state.collections if c not in self.seen]:
                for artifact_id, edges in self.state.collections.pop(collection).items():
                    _delete(self.where, artifact_id, edges, self)
        super().finish()

    def follow(self, page: VersionPage) -> Iterator[Edges]:
        """Worker: each version of a page with all its edges, paging `usedBy` past the first page."""
        if page.live is not None:
            yield Edges(page.collection["id"], [], page.live)
            return
        item = []
        for node in page.nodes:
            version = f"{page.collection['name']}:v{node.get('versionIndex')}"
            what = f"the runs that used artifact {self.where.project_id}/{version}"
            with expect_shape(what):
                used = node["usedBy"]
                users = [edge["node"] for edge in used["edges"] if edge.get("node")]
                more = used["pageInfo"]["hasNextPage"]
            if more:
                users = self._every_user(node, users, what)
                if users is None:
                    continue
            with expect_shape(what):
                item.append((node, edges_of(node, users, self.where)))
        if item:
            yield Edges(page.collection["id"], item)

    def _every_user(self, node: dict, first: list[dict], what: str) -> list[dict] | None:
        """The runs that used a version its first answer did not list in full; None when the version is gone (the
        reconcile deletes its edges), and the first answer's runs when the server cannot page them."""
        try:
            with collection_may_vanish():
                return whole(self.client, ARTIFACT_USERS, {"id": node["id"]}, USERS_PATH, what, USED_BY_PER_PAGE)
        except Lacking:
            return first
        return None

    def apply(self, item: Edges) -> None:
        self.seen.add(item.collection)
        kept = self.state.collections.setdefault(item.collection, {})
        for node, edges in item.versions:
            artifact_id = node["id"]
            before, after = set(kept.get(artifact_id, ())), set(edges)
            for edge in sorted(after - before):
                self.emit(TABLE, node | self._ends(edge, artifact_id), self.where, True)
            _delete(self.where, artifact_id, sorted(before - after), self)
            if edges:
                kept[artifact_id] = edges
            else:
                kept.pop(artifact_id, None)
            self.emitted += len(after - before)
        if item.live is not None:
            live = set(item.live)
            for artifact_id in [a for a in kept if a not in live]:
                _delete(self.where, artifact_id, kept.pop(artifact_id), self)
        if not kept:
            self.state.collections.pop(item.collection)
        self.checkpoint()

    def _ends(self, edge: str, artifact_id: str) -> dict[str, Any]:
        key = edge_key(edge, self.where, artifact_id)
        return {"direction": key["direction"], "run_project_id": key["project_id"], "run_id": key["run_id"]}

    @classmethod
    def held_keys(cls, where: Where, state: LineageState) -> Iterator[dict]:
        """The edges onto runs of other projects: a renamed project's walk holds the keys its old name did."""
        for kept in state.collections.values():
            for artifact_id, edges in kept.items():
                yield from (edge_key(edge, where, artifact_id) for edge in edges if "/" in edge)

    @classmethod
    def prune(cls, where: Where, state: LineageState, live: list[dict] | None, out: Deletes) -> None:
        alive = {key["artifact_id"] for key in live or ()}
        for collection, kept in list(state.collections.items()):
            for artifact_id in [a for a in kept if a not in alive]:
                _delete(where, artifact_id, kept.pop(artifact_id), out)
            if not kept:
                del state.collections[collection]


def _delete(where: Where, artifact_id: str, edges: list[str], out: Deletes) -> None:
    for edge in edges:
        out.delete(TABLE, edge_key(edge, where, artifact_id))
    out.tally(TABLE, -len(edges))


WALKER = LineageWalker
OPTIONS = (SWITCH,)


COST = Cost(
    requests="0: edges ride in the version listing (the first 100 users of each version); 1 per 100 users beyond"
    " that, only for a version whose collection is read",
    rows="the new edges of a changed collection's versions (never an edge already synced), and deletes of the "
    "gone ones",
    reconcile="reads nothing; deletes the edges of versions that are gone",
)


def estimate(survey: Survey) -> Guess:
    """Each version's edges from its probe (its creating run, how many runs used it), scaled to the collection's
    count; a month holds the edges of the versions created in it."""
    edges = recent = 0.0
    for probed in probes(survey):
        for node in probed.nodes:
            count = ((node.get("createdBy") or {}).get("__typename") == "Run") + _users(node)
            edges += count * probed.scale
            created = parse_time(node.get("createdAt"), f"artifact {node.get('id')} createdAt")
            if created and created >= survey.month_start:
                recent += count * probed.scale
    return Guess(edges, recent, sampled=any(probed.scale > 1 for probed in probes(survey)))


def _users(node: dict) -> int:
    count = (node.get("usedBy") or {}).get("totalCount")
    return int(count) if isinstance(count, int) and not isinstance(count, bool) else 0
