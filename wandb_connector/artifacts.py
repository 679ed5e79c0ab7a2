"""Artifact versions, listed per project: collections, then the versions of each collection that changed.

A collection's `updatedAt` moves when a version is added or an alias moves, so an incremental walk re-reads only
the collections updated since the last walk began (less a clock skew) and emits all their versions, which keeps
every version's aliases current. A crashed walk restarts the project's artifacts with the same threshold; the rows
it emits again are the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import ClassVar

from . import queries
from .client import Gone, WandbClient, expect_shape
from .convert import parse_time, required_time
from .state import WalkState
from .tables import ARTIFACTS, Table, Where
from .walker import CHANGE_SKEW, Fetch, LiveKey, Part, Walker

COLLECTIONS_PER_PAGE = 500
VERSIONS_PER_PAGE = 500
COMMITTED_ONLY = json.dumps({"state": "COMMITTED"})
VERSIONS_PATH = ("project", "artifactType", "artifactCollection", "artifacts")
COLLECTIONS_PATH = ("project", "artifactCollections")


class ArtifactWalker(Walker[WalkState]):
    """One walk over one project's artifact versions, committed with the pages that follow it."""

    name: ClassVar[str] = "artifacts"
    tables: ClassVar[tuple[Table, ...]] = (ARTIFACTS,)

    def start(self, now: datetime, full: bool) -> Fetch:
        """Begin or restart the walk; a worker fetches the versions of each collection changed since the last
        walk began, page by page."""
        walk = self.state.begin(now, full)
        since = None if walk.full or self.state.read_at is None else self.state.read_at - CHANGE_SKEW

        def fetch(first: dict | None) -> Iterator[tuple[dict, list[dict]]]:
            for collection in sequences(self.client, self.where, first):
                if since is None or _changed_at(collection) >= since:
                    for page in self._versions(collection):
                        yield collection, page

        return fetch

    def first_page(self) -> Part:
        return Part(
            f"artifacts: artifactCollections(first: $artifacts_perPage) {{ {queries.COLLECTIONS_CONNECTION} }}",
            {"artifacts_perPage": ("Int", COLLECTIONS_PER_PAGE)},
        )

    def _versions(self, collection: dict) -> Iterator[list[dict]]:
        """Every version once, even when a listing had to be read again."""
        with expect_shape(f"the artifact collections of {self.where.project_id}"):
            what = f"the versions of artifact {self.where.project_id}/{collection['name']}"
            variables = versions_of(self.where, collection)
        yielded: set[str] = set()
        with collection_may_vanish():
            for _, page in self.client.listing(queries.ARTIFACTS, variables, VERSIONS_PATH, what, VERSIONS_PER_PAGE):
                fresh = [node for node in page if node["id"] not in yielded]
                yielded.update(node["id"] for node in fresh)
                yield fresh

    def apply(self, item: tuple[dict, list[dict]]) -> None:
        collection, page = item
        what = f"the versions of artifact {self.where.project_id}/{collection['name']}"
        for node in page:
            with expect_shape(what):
                created = required_time(node.get("createdAt"), f"artifact {node['id']} createdAt")
                new = self.state.emitted.is_new(node["id"], created)
            self.emit(ARTIFACTS, node, self.where, new)
            self.state.walk.newest.saw(node["id"], created)
        self.emitted += len(page)
        self.checkpoint()

    @classmethod
    def live_keys(cls, client: WandbClient, where: Where, state: WalkState) -> Iterator[LiveKey]:
        for artifact_id, created in artifact_keys(client, where):
            yield LiveKey(ARTIFACTS, {"artifact_id": artifact_id}, not state.emitted.is_new(artifact_id, created))


def sequences(client: WandbClient, where: Where, first: dict | None = None) -> list[dict]:
    """The project's artifact sequences; portfolios only link versions that live in a sequence elsewhere."""
    variables = {"entity": where.entity, "project": where.project}
    what = f"the artifact collections of {where.project_id}"
    listed = client.whole(queries.COLLECTIONS, variables, COLLECTIONS_PATH, what, COLLECTIONS_PER_PAGE, first)
    with expect_shape(what):
        return [c for c in listed if c.get("__typename") == "ArtifactSequence"]


def versions_of(where: Where, collection: dict) -> dict:
    return {
        "entity": where.entity,
        "project": where.project,
        "type": collection["type"]["name"],
        "collection": collection["name"],
        "filters": COMMITTED_ONLY,
    }


def artifact_keys(client: WandbClient, where: Where) -> Iterator[tuple[str, datetime]]:
    """Every committed version id of a project with its `createdAt`, cheaply, for the reconcile's sweep."""
    for collection in sequences(client, where):
        yield from _stable_keys(client, where, collection)


def _stable_keys(client: WandbClient, where: Where, collection: dict) -> list[tuple[str, datetime]]:
    """A collection's version ids as of a whole listing, so a version deleted meanwhile is swept out."""
    what = f"the version ids of artifact {where.project_id}/{collection['name']}"
    with collection_may_vanish():
        listed = client.whole(
            queries.ARTIFACT_KEYS, versions_of(where, collection), VERSIONS_PATH, what, VERSIONS_PER_PAGE
        )
        return [(node["id"], required_time(node.get("createdAt"), f"{what} createdAt")) for node in listed]
    return []


@contextmanager
def collection_may_vanish() -> Iterator[None]:
    """A collection deleted after the listing named it has no versions left to read; its rows are swept out like
    any deleted version's. Only a project that is gone stops the project's walk."""
    try:
        yield
    except Gone as gone:
        if gone.key == "project":
            raise


def _changed_at(collection: dict) -> datetime:
    what = f"artifact collection {collection.get('name')}"
    return parse_time(collection.get("updatedAt"), f"{what} updatedAt") or required_time(
        collection.get("createdAt"), f"{what} createdAt"
    )
