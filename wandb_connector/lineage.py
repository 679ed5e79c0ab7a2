"""Lineage: every edge between a run and an artifact version, a child walk of the artifact versions.

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
from typing import Any, ClassVar

from . import queries
from .artifacts import VersionPage, collection_may_vanish
from .client import expect_shape
from .optional import Lacking
from .settings import Settings
from .state import WalkState
from .tables import ARTIFACT_LINEAGE, Table, Where
from .walker import Deletes, Follow, Walker

USERS_PATH = ("artifact", "usedBy")
DIRECTIONS = {"o": "output", "i": "input"}


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
    """`artifact_lineage`: the edges of the versions of each page of the artifact walk."""

    name: ClassVar[str] = "lineage"
    parent: ClassVar[str] = "artifacts"
    swept: ClassVar[bool] = False
    tables: ClassVar[tuple[Table, ...]] = (ARTIFACT_LINEAGE,)
    state_type: ClassVar[type[WalkState]] = LineageState

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.lineage

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
                return self.client.whole(
                    queries.ARTIFACT_USERS, {"id": node["id"]}, USERS_PATH, what, queries.USED_BY_PER_PAGE
                )
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
                self.emit(ARTIFACT_LINEAGE, node | self._ends(edge, artifact_id), self.where, True)
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
        out.delete(ARTIFACT_LINEAGE, edge_key(edge, where, artifact_id))
    out.tally(ARTIFACT_LINEAGE, -len(edges))
