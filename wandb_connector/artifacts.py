"""Artifact versions, listed per project: collections, then the versions of each collection that changed.

No capture shows that W&B moves a collection's `updatedAt` when an alias moves or a run starts using a version,
and a version's own `updatedAt` is no surer. So every sync probes every version, leanly: its aliases, its
creator, how many runs use it and its `updatedAt` (`queries.VERSION_PROBE`). The probe of a collection's first
versions comes with the collections listing, which rides in the project's shared first request; a collection
with more versions costs one lean request per `VERSIONS_PER_PAGE`. The walk keeps each collection's probe digest
and version ids, and re-reads, in full, only the collections whose digest moved: a moved alias, a new version, a
new consumer of an old version and a deleted version all reach the next sync, whatever W&B's timestamps do. A
crashed walk re-reads the collections it had not committed; the rows it emits again are the same rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from . import queries
from .client import Gone, WandbClient, expect_shape
from .convert import required_time
from .state import WalkState
from .tables import ARTIFACTS, Table, Where
from .walker import Fetch, LiveKey, Part, Walker

# A collections page holds up to this many collections, each with the probe of up to `PROBED_WITH_LISTING` of its
# versions: at most 10,000 lean version nodes per answer.
COLLECTIONS_PER_PAGE = 100
PROBED_WITH_LISTING = 100
VERSIONS_PER_PAGE = 500
COMMITTED_ONLY = json.dumps({"state": "COMMITTED"})
VERSIONS_PATH = ("project", "artifactType", "artifactCollection", "artifacts")
COLLECTIONS_PATH = ("project", "artifactCollections")


@dataclass
class ArtifactState(WalkState):
    """Per collection id, the digest of its versions' probe when the walk last read them all, then their ids
    (about 25 bytes per version: what tells a deleted version at the next sync, and a version seen again after
    one, which counts again). A collection gone from the listing keeps an empty digest until the reconcile, so
    its versions count again if it comes back."""

    collections: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class VersionPage:
    """One page of a collection's versions. A collection's last item holds no versions: it carries the ids its
    reading listed (`live`) and the probe digest it was read at (None: the collection is gone), which the walk
    keeps once everything before it is applied; the versions it had and `live` lacks are deleted."""

    collection: dict
    nodes: list[dict]
    digest: str | None = None
    live: list[str] | None = None


class ArtifactWalker(Walker[ArtifactState]):
    """One walk over one project's artifact versions, committed with the pages that follow it."""

    name: ClassVar[str] = "artifacts"
    tables: ClassVar[tuple[Table, ...]] = (ARTIFACTS,)
    state_type: ClassVar[type[WalkState]] = ArtifactState

    def start(self, now: datetime, full: bool) -> Fetch:
        """Begin or restart the walk; a worker probes every collection and fetches the versions of each one whose
        probe moved, page by page."""
        walk = self.state.begin(now, full)
        known = {key: ids[0] for key, ids in self.state.collections.items()}

        def fetch(first: dict | None) -> Iterator[VersionPage]:
            listed = set()
            for collection, probe in probed(self.client, self.where, first):
                listed.add(collection["id"])
                digest = probe_digest(probe)
                if walk.full or known.get(collection["id"]) != digest:
                    read: set[str] = set()
                    for page in self._versions(collection):
                        read.update(node["id"] for node in page)
                        yield VersionPage(collection, page)
                    yield VersionPage(collection, [], digest, sorted(read))
            for key in sorted(k for k in known.keys() - listed if known[k]):
                yield VersionPage({"id": key, "name": key}, [], None, [])

        return fetch

    def first_page(self) -> Part:
        return Part(
            f"artifacts: artifactCollections(first: $artifacts_perPage) {{ {queries.COLLECTIONS_CONNECTION} }}",
            {
                "artifacts_perPage": ("Int", COLLECTIONS_PER_PAGE),
                "artifacts_probe": ("Int", PROBED_WITH_LISTING),
                "artifacts_filters": ("JSONString", COMMITTED_ONLY),
            },
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

    def apply(self, item: VersionPage) -> None:
        what = f"the versions of artifact {self.where.project_id}/{item.collection['name']}"
        kept = self.state.collections.setdefault(item.collection["id"], [""])
        listed = set(kept[1:])
        for node in item.nodes:
            with expect_shape(what):
                created = required_time(node.get("createdAt"), f"artifact {node['id']} createdAt")
            self.emit(ARTIFACTS, node, self.where, node["id"] not in listed)
            self.state.walk.newest.saw(node["id"], created)
            if node["id"] not in listed:
                listed.add(node["id"])
                kept.append(node["id"])  # recorded as written; the digest moves only once the collection is read
        if item.live is not None:
            self._close(item.collection["id"], item.digest, item.live)
        self.emitted += len(item.nodes)
        self.checkpoint()

    def _close(self, key: str, digest: str | None, live: list[str]) -> None:
        """A collection read to its end: delete the versions it no longer lists, and keep what it was read at."""
        gone = set(self.state.collections.get(key, [None])[1:]) - set(live)
        for artifact_id in sorted(gone):
            self.delete(ARTIFACTS, {"artifact_id": artifact_id})
        self.tally(ARTIFACTS, -len(gone))
        self.state.collections[key] = [digest or "", *live]

    @classmethod
    def live_keys(cls, client: WandbClient, where: Where, state: ArtifactState) -> Iterator[LiveKey]:
        """The versions the probe lists, filed by collection."""
        for collection, probe in probed(client, where):
            with expect_shape(f"the versions of artifact {where.project_id}/{collection['name']}"):
                yield from (LiveKey(ARTIFACTS, {"artifact_id": node["id"]}, collection["id"]) for node in probe)

    @classmethod
    def known_keys(cls, where: Where, state: ArtifactState) -> Iterator[LiveKey]:
        for key, kept in state.collections.items():
            yield from (LiveKey(ARTIFACTS, {"artifact_id": artifact_id}, key) for artifact_id in kept[1:])

    @classmethod
    def record(cls, where: Where, state: ArtifactState, keys: list[LiveKey]) -> None:
        """The record becomes `keys`, each collection keeping the probe digest it was read at (a collection
        that only the sweep saw keeps none, so the next walk reads it)."""
        collections: dict[str, list[str]] = {}
        for key in keys:
            collections.setdefault(key.group, [state.collections.get(key.group, [""])[0]]).append(
                key.key["artifact_id"]
            )
        state.collections = collections


def sequences(client: WandbClient, where: Where, first: dict | None = None) -> list[dict]:
    """The project's artifact sequences; portfolios only link versions that live in a sequence elsewhere."""
    variables = {
        "entity": where.entity,
        "project": where.project,
        "artifacts_probe": PROBED_WITH_LISTING,
        "artifacts_filters": COMMITTED_ONLY,
    }
    what = f"the artifact collections of {where.project_id}"
    listed = client.whole(queries.COLLECTIONS, variables, COLLECTIONS_PATH, what, COLLECTIONS_PER_PAGE, first)
    with expect_shape(what):
        return [c for c in listed if c.get("__typename") == "ArtifactSequence"]


def probed(client: WandbClient, where: Where, first: dict | None = None) -> Iterator[tuple[dict, list[dict]]]:
    """Each collection with the probe of every version it holds now, read whole (a version deleted meanwhile is
    not listed as live): the one that came with the listing when it held them all, else its own listing's."""
    for collection in sequences(client, where, first):
        what = f"the versions of artifact {where.project_id}/{collection.get('name')}"
        with expect_shape(what):
            probe = collection["probe"]
            complete = probe is not None and not probe["pageInfo"]["hasNextPage"]
            nodes = [edge["node"] for edge in probe["edges"] if edge.get("node")] if complete else None
        if nodes is None:
            with collection_may_vanish():
                nodes = client.whole(
                    queries.ARTIFACT_PROBE, versions_of(where, collection), VERSIONS_PATH, what, VERSIONS_PER_PAGE
                )
            if nodes is None:
                continue
        yield collection, nodes


def probe_digest(nodes: list[dict]) -> str:
    """What the probe says of a collection's versions, in a few bytes: a change anywhere moves it."""
    with expect_shape("an artifact version probe"):
        seen = sorted(
            (
                node["id"],
                node.get("updatedAt"),
                sorted(a["alias"] for a in node.get("aliases") or []),
                (node.get("createdBy") or {}).get("__typename"),
                (node.get("usedBy") or {}).get("totalCount"),
            )
            for node in nodes
        )
    return hashlib.sha256(json.dumps(seen).encode()).hexdigest()[:16]


def versions_of(where: Where, collection: dict) -> dict:
    return {
        "entity": where.entity,
        "project": where.project,
        "type": collection["type"]["name"],
        "collection": collection["name"],
        "filters": COMMITTED_ONLY,
    }


@contextmanager
def collection_may_vanish() -> Iterator[None]:
    """A collection deleted after the listing named it has no versions left to read; its rows are swept out like
    any deleted version's. Only a project that is gone stops the project's walk."""
    try:
        yield
    except Gone as gone:
        if gone.key == "project":
            raise
