"""`artifacts`: one row per committed artifact version, listed per project: collections, then the versions of each
collection that changed.

No capture shows that W&B moves a collection's `updatedAt` when an alias moves or a run starts using a version,
and a version's own `updatedAt` is no surer. So every sync probes every version, leanly: its aliases, its
creator, how many runs use it and its `updatedAt` (`VERSION_PROBE`). The probe of a collection's first
versions comes with the collections listing, which rides in the project's shared first request; a collection
with more versions costs one lean request per `VERSIONS_PER_PAGE`. The walk keeps each collection's probe digest
and version ids, and re-reads, in full, only the collections whose digest moved: a moved alias, a new version, a
new consumer of an old version and a deleted version all reach the next sync, whatever W&B's timestamps do. A
crashed walk re-reads the collections it had not committed; the rows it emits again are the same rows.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..client import WandbClient
from ..convert import json_object, parse_time, required_time
from ..paging import listing, whole
from ..shapes import Gone, expect_shape
from ..state import WalkState
from ..walker import Cost, Fetch, Guess, LiveKey, Part, Table, Walker, Where, row_digest

if TYPE_CHECKING:
    from ..survey import Survey

# A collections page holds up to this many collections, each with the probe of up to `PROBED_WITH_LISTING` of its
# versions: at most 10,000 lean version nodes per answer.
COLLECTIONS_PER_PAGE = 100


PROBED_WITH_LISTING = 100


VERSIONS_PER_PAGE = 500


COMMITTED_ONLY = json.dumps({"state": "COMMITTED"})


VERSIONS_PATH = ("project", "artifactType", "artifactCollection", "artifacts")


COLLECTIONS_PATH = ("project", "artifactCollections")


# What tells a version changed, when W&B offers no timestamp that surely does (no capture shows whether moving an
# alias or using a version moves any `updatedAt`): its aliases, whether a run logged it, how many runs use it, and
# its own `updatedAt` (an edit of its description, metadata or tags). Lean enough to read every version every sync.
# A run connection's `totalCount` is optional: without it the probe's `usedBy` asks nothing and goes too, and a
# version's new consumers arrive at the reconcile.
USERS_COUNT = 'totalCount @optional(name: "RunConnection.totalCount")'


VERSION_PROBE = (
    "totalCount pageInfo { endCursor hasNextPage } edges { node { id createdAt updatedAt "
    "aliases { alias artifactCollection { name } } createdBy { __typename } "
    'usedBy @optional(name: "RunConnection.totalCount") { totalCount } } }'
)


# `project.collections()`'s query without `filters`, `order` and `totalCount`, which the client drops itself when
# the server lacks ARTIFACT_COLLECTIONS_FILTERING_SORTING (older W&B Server); only ArtifactSequence collections hold
# versions of their own (portfolios link versions that live in a sequence elsewhere), so the walk skips portfolios.
# Each collection brings the probe of its first versions (`ArtifactCollection.artifacts`, the field the
# collection's own listing pages), so a project whose collections hold few versions is probed in the one request
# that lists them.
COLLECTIONS_CONNECTION = (
    "pageInfo { endCursor hasNextPage } "
    "edges { node { __typename id name createdAt updatedAt type: defaultArtifactType { name } "
    f"probe: artifacts(first: $artifacts_probe, filters: $artifacts_filters) {{ {VERSION_PROBE} }} }} }}"
)


COLLECTIONS = (
    """
query ProjectArtifactCollections($entity: String!, $project: String!, $cursor: String, $perPage: Int,
                                 $artifacts_probe: Int, $artifacts_filters: JSONString) {
  project(entityName: $entity, name: $project) {
    artifactCollections(after: $cursor, first: $perPage) { """
    + COLLECTIONS_CONNECTION
    + """ }
  }
}
"""
)


# The runs a version's listing brings with it, and the pages after (the client's `ArtifactUsedBy`, paged). `usedBy`'s
# paging arguments are optional: a server without them sends what it sends, and the pages after cannot be asked for.
RUN_REF = "id name project { name entity { name } }"


USED_BY_PER_PAGE = 100


USED_BY_PAGING = "Artifact.usedBy(first:, after:)"


# `collection.artifacts()`'s query, with `createdBy` and the first page of `usedBy` added to each version: the
# public fragment omits lineage, and `artifact.logged_by()` and `artifact.used_by()` cost requests per version.
VERSIONS = f"""
query ProjectArtifacts($entity: String!, $project: String!, $type: String!, $collection: String!, $cursor: String,
                       $perPage: Int = 50, $order: String, $filters: JSONString) {{
  project(entityName: $entity, name: $project) {{
    artifactType(name: $type) {{
      artifactCollection(name: $collection) {{
        artifacts(after: $cursor, first: $perPage, order: $order, filters: $filters) {{
          totalCount
          pageInfo {{ endCursor hasNextPage }}
          edges {{ version node {{ ...ArtifactFragment }} }}
        }}
      }}
    }}
  }}
}}
fragment ArtifactFragment on Artifact {{
  id
  artifactSequence {{ name }}
  versionIndex
  artifactType {{ name }}
  description
  metadata
  tags {{ name }}
  state
  size
  digest
  commitHash
  fileCount
  createdAt
  updatedAt
  aliases {{ alias artifactCollection {{ name }} }}
  createdBy {{ __typename ... on Run {{ {RUN_REF} }} }}
  usedBy(first: {USED_BY_PER_PAGE}) @optional(name: "{USED_BY_PAGING}") {{
    {USERS_COUNT} pageInfo {{ endCursor hasNextPage }} edges {{ node {{ {RUN_REF} }} }}
  }}
}}
"""


# The probe of a collection with more versions than come with the collections listing; the reconcile's sweep reads
# its ids from the same probe.
ARTIFACT_PROBE = (
    """
query ArtifactProbe($entity: String!, $project: String!, $type: String!, $collection: String!, $cursor: String,
                    $perPage: Int = 50, $filters: JSONString) {
  project(entityName: $entity, name: $project) {
    artifactType(name: $type) {
      artifactCollection(name: $collection) {
        artifacts(after: $cursor, first: $perPage, filters: $filters) { """
    + VERSION_PROBE
    + """ }
      }
    }
  }
}
"""
)


VERSION_ALIAS = re.compile(r"^v\d+$")


def artifact_row(node: dict, where: Where) -> dict[str, Any]:
    collection = node["artifactSequence"]["name"]
    version = f"v{node['versionIndex']}"
    what = f"artifact {where.project_id}/{collection}:{version}"
    creator = node.get("createdBy") or {}
    creator_project = creator.get("project") or {}
    return {
        "artifact_id": node["id"],
        "entity": where.entity,
        "project_id": where.project_id,
        "source_project": where.project,
        "collection": collection,
        "name": f"{collection}:{version}",
        "type": (node.get("artifactType") or {}).get("name"),
        "version": version,
        "version_index": node.get("versionIndex"),
        "aliases": sorted(
            a["alias"]
            for a in node.get("aliases") or []
            if (a.get("artifactCollection") or {}).get("name") == collection and not VERSION_ALIAS.match(a["alias"])
        ),
        "tags": sorted(t["name"] for t in node.get("tags") or []),
        "state": node.get("state"),
        "size": node.get("size"),
        "file_count": node.get("fileCount"),
        "digest": node.get("digest"),
        "commit_hash": node.get("commitHash"),
        "description": node.get("description"),
        "metadata": json_object(node.get("metadata"), f"{what} metadata"),
        "created_at": parse_time(node.get("createdAt"), f"{what} createdAt"),
        "updated_at": parse_time(node.get("updatedAt"), f"{what} updatedAt"),
        "run_id": creator.get("name") if creator.get("__typename") == "Run" else None,
        "run_project_id": _project_id(creator_project) if creator.get("__typename") == "Run" else None,
    }


def _project_id(project: dict) -> str | None:
    entity = (project.get("entity") or {}).get("name")
    return f"{entity}/{project['name']}" if entity and project.get("name") else None


TABLE = Table(
    "artifacts",
    ("artifact_id",),
    {
        "artifact_id": "STRING",
        "entity": "STRING",
        "project_id": "STRING",
        "source_project": "STRING",
        "collection": "STRING",
        "name": "STRING",
        "type": "STRING",
        "version": "STRING",
        "version_index": "LONG",
        "aliases": "JSON",
        "tags": "JSON",
        "state": "STRING",
        "size": "LONG",
        "file_count": "LONG",
        "digest": "STRING",
        "commit_hash": "STRING",
        "description": "STRING",
        "metadata": "JSON",
        "created_at": "UTC_DATETIME",
        "updated_at": "UTC_DATETIME",
        "run_id": "STRING",
        "run_project_id": "STRING",
        "synced_at": "UTC_DATETIME",
    },
    artifact_row,
)


@dataclass
class ArtifactState(WalkState):
    """Per collection id, the digest of its versions' probe when the walk last read them all, then their ids
    (about 25 bytes per version: what tells a deleted version at the next sync, and a version seen again after
    one, which counts again). A collection gone from the listing keeps an empty digest until the reconcile, so
    its versions count again if it comes back."""

    collections: dict[str, list[str]] = field(default_factory=dict)
    # A digest of each version's row as last written (8 hex digits), so a version read again (its collection moved,
    # or a reconcile) is written only when its row changed.
    rows: dict[str, str] = field(default_factory=dict)


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
    tables: ClassVar[tuple[Table, ...]] = (TABLE,)
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
            f"artifacts: artifactCollections(first: $artifacts_perPage) {{ {COLLECTIONS_CONNECTION} }}",
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
            for _, page in listing(self.client, VERSIONS, variables, VERSIONS_PATH, what, VERSIONS_PER_PAGE):
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
                row = TABLE.row(node, self.where)
            self.state.walk.newest.saw(node["id"], created)
            digest = row_digest(row).hex()
            if self.state.rows.get(node["id"]) != digest:
                self.write(TABLE, row, node["id"] not in listed)
                self.state.rows[node["id"]] = digest
                self.emitted += 1
            if node["id"] not in listed:
                listed.add(node["id"])
                kept.append(node["id"])  # recorded as written; the digest moves only once the collection is read
        if item.live is not None:
            self._close(item.collection["id"], item.digest, item.live)
        self.checkpoint()

    def _close(self, key: str, digest: str | None, live: list[str]) -> None:
        """A collection read to its end: delete the versions it no longer lists, and keep what it was read at."""
        gone = set(self.state.collections.get(key, [None])[1:]) - set(live)
        for artifact_id in sorted(gone):
            self.delete(TABLE, {"artifact_id": artifact_id})
            self.state.rows.pop(artifact_id, None)
        self.tally(TABLE, -len(gone))
        self.state.collections[key] = [digest or "", *live]

    @classmethod
    def live_keys(cls, client: WandbClient, where: Where, state: ArtifactState) -> Iterator[LiveKey]:
        """The versions the probe lists, filed by collection."""
        for collection, probe in probed(client, where):
            with expect_shape(f"the versions of artifact {where.project_id}/{collection['name']}"):
                yield from (LiveKey(TABLE, {"artifact_id": node["id"]}, collection["id"]) for node in probe)

    @classmethod
    def known_keys(cls, where: Where, state: ArtifactState) -> Iterator[LiveKey]:
        for key, kept in state.collections.items():
            yield from (LiveKey(TABLE, {"artifact_id": artifact_id}, key) for artifact_id in kept[1:])

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
        kept = {artifact_id for ids in collections.values() for artifact_id in ids[1:]}
        state.rows = {artifact_id: digest for artifact_id, digest in state.rows.items() if artifact_id in kept}


def sequences(client: WandbClient, where: Where, first: dict | None = None) -> list[dict]:
    """The project's artifact sequences; portfolios only link versions that live in a sequence elsewhere."""
    variables = {
        "entity": where.entity,
        "project": where.project,
        "artifacts_probe": PROBED_WITH_LISTING,
        "artifacts_filters": COMMITTED_ONLY,
    }
    what = f"the artifact collections of {where.project_id}"
    listed = whole(client, COLLECTIONS, variables, COLLECTIONS_PATH, what, COLLECTIONS_PER_PAGE, first)
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
                nodes = whole(
                    client, ARTIFACT_PROBE, versions_of(where, collection), VERSIONS_PATH, what, VERSIONS_PER_PAGE
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


WALKER = ArtifactWalker
OPTIONS = ()


COST = Cost(
    requests="0 extra: the collections listing, with every collection's version probe (its first 100 versions), "
    "rides in the same request; 1 per 500 versions beyond a collection's first 100; 1 per page of a "
    "changed collection",
    rows="new and changed versions only (a digest of each is kept); deleted versions at the next sync",
    reconcile="re-reads every version, writes the changed ones; its ids come from the probe (no request for a "
    "collection of up to 100 versions); deletes the versions that are gone",
)


@dataclass
class Probed:
    """A collection as `make estimate` counts it: how many versions it holds, and the probe of its first ones,
    each standing for `scale` versions when the collection holds more than the probe."""

    total: int
    nodes: list[dict]

    @property
    def scale(self) -> float:
        return self.total / len(self.nodes) if self.nodes else 0.0


def probes(survey: Survey) -> list[Probed]:
    """The collections of the project with their probes: the request a sync starts with, read once for both
    artifact tables."""

    def read() -> list[Probed]:
        found = []
        for collection in sequences(survey.client, survey.where):
            with expect_shape(f"the artifact collections of {survey.where.project_id}"):
                probe = collection["probe"]
                nodes = [edge["node"] for edge in probe["edges"] if edge.get("node")]
                total = probe.get("totalCount")
            found.append(Probed(len(nodes) if total is None else total, nodes))
        return found

    return survey.memo("collections", read)


def estimate(survey: Survey) -> Guess:
    """Each version is a row (each collection's count from its probe), written again when it changes: at most every
    version in a month."""
    found = probes(survey)
    versions = sum(probed.total for probed in found)
    return Guess(versions, versions, sampled=any(probed.scale > 1 for probed in found))
