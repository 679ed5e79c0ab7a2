"""Resolvers: the world seen through W&B's GraphQL types.

graphql-core's default resolver reads a dict key or an attribute named like the field and calls it with the field's
arguments when it is callable, so each W&B type is a small view class whose members carry W&B's own (camelCase)
field names. Scalars that W&B sends as JSON-encoded strings (`config`, `summaryMetrics`, `systemMetrics`, artifact
`metadata`) are encoded here, with NaN and Infinity as Python's json writes them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from graphql import GraphQLError

from .dataset import ArtifactVersion, Collection, Project, Run, Sweep, User, World, _spread, global_id
from .filters import run_matches, sort_runs

DEFAULT_PAGE = 50


@dataclass
class Context:
    world: World
    page_cap: int
    base_url: str = ""


def wire_time(value: datetime | None) -> str | None:
    """W&B answers naive UTC timestamps with second precision: `2023-11-05T17:46:35`."""
    return value.strftime("%Y-%m-%dT%H:%M:%S") if value else None


def cursor(index: int) -> str:
    return base64.b64encode(f"arrayconnection:{index}".encode()).decode()


def offset_after(after: str | None) -> int:
    if not after:
        return 0
    decoded = base64.b64decode(after).decode()
    prefix, _, index = decoded.partition(":")
    if prefix != "arrayconnection" or not index.isdigit():
        raise ValueError(f"invalid cursor {after!r}")
    return int(index) + 1


def connection(ctx: Context, items: list, after: str | None, first: int | None, node=lambda x: x) -> dict:
    """A relay connection over an offset window, capped like a real server so paging is always exercised.

    Rows hidden from the caller take their place in the window but are left out of `edges`, as W&B's offset pages
    do: a page can come back short or empty with `hasNextPage: true`, and `endCursor` still moves past it.
    """
    start = offset_after(after)
    size = min(first if first is not None else DEFAULT_PAGE, ctx.page_cap)
    window = items[start : start + size]
    edges = [{"node": node(item), "cursor": cursor(start + i)} for i, item in enumerate(window) if not hidden(item)]
    return {
        "edges": edges,
        "pageInfo": {
            "endCursor": cursor(start + len(window) - 1) if window else None,
            "hasNextPage": start + len(window) < len(items),
            "startCursor": cursor(start) if window else None,
            "hasPreviousPage": start > 0,
        },
        "totalCount": len(items),
    }


def hidden(item: Any) -> bool:
    return getattr(item, "hidden", False) or getattr(getattr(item, "run", None), "hidden", False)


def visible(item: Any) -> Any:
    """What a lookup by name or id finds: nothing, when the caller may not see it."""
    return None if item is None or hidden(item) else item


def json_string(value: Any) -> str:
    return json.dumps(value)


class QueryRoot:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.world = ctx.world

    def viewer(self, info) -> UserNode:
        return UserNode(self.ctx, self.world.viewer)

    def serverInfo(self, info) -> dict:
        features = [{"name": name, "isEnabled": on} for name, on in self.world.features.items()]
        return {"features": features, "cliVersionInfo": {}, "latestLocalVersionInfo": None}

    def models(self, info, entityName=None, after=None, first=None, order=None, **_) -> dict:
        if entityName in self.world.restricted_entities:
            raise GraphQLError(f"permission denied: you are not a member of entity {entityName}")
        projects = self.world.live_projects() if entityName == self.world.entity else []
        return connection(self.ctx, projects, after, first, lambda p: ProjectNode(self.ctx, p))

    def project(self, info, name=None, entityName=None) -> ProjectNode | None:
        if entityName not in (None, self.world.entity):
            return None
        found = visible(self.world.project(name))
        return ProjectNode(self.ctx, found) if found else None

    def entity(self, info, name=None) -> EntityNode | None:
        return (
            EntityNode(self.ctx, name) if name == self.world.entity or name in self.world.restricted_entities else None
        )

    def users(self, info, query=None, **_) -> dict:
        matches = [u for u in self.world.users if query and query in (u.username, u.email)]
        return connection(self.ctx, matches, None, None, lambda u: UserNode(self.ctx, u))

    def artifact(self, info, id=None) -> ArtifactNode | None:
        found = visible(self.world.artifact(id))
        return ArtifactNode(self.ctx, found) if found else None


class UserNode:
    def __init__(self, ctx: Context, user: User):
        self.ctx = ctx
        self.user = user
        self.id = user.id
        self.name = user.name
        self.username = user.username
        self.email = user.email
        self.admin = user.admin
        self.flags = "{}"
        self.entity = ctx.world.entity if user is ctx.world.viewer else user.username
        self.deletedAt = None
        self.photoUrl = None
        self.accountType = "USER"
        self.apiKeys = {"edges": []}
        self.teams = {"edges": [{"node": {"name": ctx.world.entity}}]}
        self.organizations = []


class EntityNode:
    """The team entity (`GetTeamEntity`)."""

    def __init__(self, ctx: Context, name: str):
        world = ctx.world
        self.id = global_id("Entity", name)
        self.name = name
        self.available = False
        self.photoUrl = None
        self.readOnly = False
        self.readOnlyAdmin = False
        self.isTeam = True
        self.entityType = "team"
        self.privateOnly = False
        self.storageBytes = 0
        self.codeSavingEnabled = True
        self.defaultAccess = "PRIVATE"
        self.isPaid = True
        self.members = [
            {
                "id": u.id,
                "admin": u.admin,
                "pending": False,
                "email": u.email,
                "username": u.username,
                "name": u.name,
                "photoUrl": None,
                "accountType": "SERVICE" if u.username.endswith("-bot") else "USER",
                "apiKey": member_api_key(u),
                "role": "admin" if u.admin else "member",
            }
            for u in world.users
        ]


def member_api_key(user: User) -> str:
    """What W&B offers in a team's member listing: each member's API key (40 hex digits), never to be read."""
    return hashlib.sha1(f"api-key-of-{user.username}".encode()).hexdigest()


class ProjectNode:
    def __init__(self, ctx: Context, project: Project):
        self.ctx = ctx
        self.project = project
        self.id = project.id
        self.internalId = global_id("ProjectInternalId", project.number)
        self.name = project.name
        self.entityName = project.entity
        self.entity = {"id": global_id("Entity", project.entity), "name": project.entity}
        self.createdAt = wire_time(project.created_at)
        self.updatedAt = wire_time(project.updated_at)
        self.description = project.description
        self.isBenchmark = False
        self.readOnly = False
        self.access = "PRIVATE"
        self.user = UserNode(ctx, project.owner) if project.owner else None

    def _runs(self, filters: str | None) -> list[Run]:
        return [
            r
            for r in self.ctx.world.live_runs(self.project.name)
            if run_matches(r, filters, self.ctx.world.updated_filter)
        ]

    def runCount(self, info, filters=None) -> int:
        return len(self._runs(filters))

    def totalRuns(self, info, **_) -> int:
        return len(self.ctx.world.live_runs(self.project.name))

    def runs(self, info, filters=None, after=None, first=None, order=None) -> dict:
        ordered = sort_runs(self._runs(filters), order)
        return connection(self.ctx, ordered, after, first, lambda r: RunNode(self.ctx, r))

    def run(self, info, name=None) -> RunNode | None:
        found = visible(self.ctx.world.run(self.project.name, name))
        return RunNode(self.ctx, found) if found else None

    def _collections(self, type_name: str | None = None) -> list[Collection]:
        return [c for c in self.ctx.world.live_collections(self.project.name) if type_name in (None, c.type)]

    def artifactTypes(self, info, after=None, first=None) -> dict:
        types = sorted({c.type for c in self._collections()})
        return connection(self.ctx, types, after, first, lambda t: ArtifactTypeNode(self, t))

    def artifactType(self, info, name=None) -> ArtifactTypeNode | None:
        return ArtifactTypeNode(self, name) if self._collections(name) else None

    def artifactCollections(self, info, after=None, first=None, filters=None, order=None, **_) -> dict:
        return connection(self.ctx, self._collections(), after, first, lambda c: CollectionNode(self.ctx, c))

    def artifactCollection(self, info, name=None) -> CollectionNode | None:
        found = visible(next((c for c in self._collections() if c.name == name), None))
        return CollectionNode(self.ctx, found) if found else None

    def sweeps(self, info, after=None, first=None, filters=None, **_) -> dict:
        """Newest first, as the client lists them."""
        sweeps = sorted(self.ctx.world.live_sweeps(self.project.name), key=lambda w: (w.created_at, w.number))
        return connection(self.ctx, sweeps[::-1], after, first, lambda w: SweepNode(self.ctx, w))

    def totalSweeps(self, info) -> int:
        return len(self.ctx.world.live_sweeps(self.project.name))

    def sweep(self, info, sweepName=None) -> SweepNode | None:
        found = visible(next((w for w in self.ctx.world.live_sweeps(self.project.name) if w.name == sweepName), None))
        return SweepNode(self.ctx, found) if found else None

    def allViews(self, info, after=None, first=None, **_) -> dict:
        return connection(self.ctx, [], after, first)


class SweepNode:
    __typename = "Sweep"

    def __init__(self, ctx: Context, sweep: Sweep):
        self.ctx = ctx
        self.sweep = sweep
        self.id = sweep.id
        self.name = sweep.name
        self.displayName = sweep.display_name
        self.method = sweep.method
        self.state = sweep.state
        self.description = sweep.description
        self.config = yaml.safe_dump(sweep.config, sort_keys=False)
        self.createdAt = wire_time(sweep.created_at)
        self.updatedAt = wire_time(sweep.updated_at)
        self.heartbeatAt = wire_time(sweep.heartbeat_at)
        self.runCountExpected = sweep.expected_runs

    @property
    def runCount(self) -> int:
        return len(self.ctx.world.sweep_runs(self.sweep))

    @property
    def bestLoss(self) -> float | None:
        best = self.ctx.world.best_run(self.sweep)
        return best.summary[self.sweep.metric["name"]] if best else None

    def runs(self, info, after=None, first=None, order=None) -> dict:
        ordered = sort_runs(self.ctx.world.sweep_runs(self.sweep), order)
        return connection(self.ctx, ordered, after, first, lambda r: RunNode(self.ctx, r))


class ArtifactTypeNode:
    def __init__(self, project: ProjectNode, name: str):
        self.project = project
        self.id = global_id("ArtifactType", project.project.number, name)
        self.name = name
        self.description = None
        collections = project._collections(name)
        self.createdAt = wire_time(min(c.created_at for c in collections)) if collections else None

    def artifactCollections(self, info, after=None, first=None, filters=None, order=None, **_) -> dict:
        items = self.project._collections(self.name)
        return connection(self.project.ctx, items, after, first, lambda c: CollectionNode(self.project.ctx, c))

    def artifactCollection(self, info, name=None) -> CollectionNode | None:
        found = visible(next((c for c in self.project._collections(self.name) if c.name == name), None))
        return CollectionNode(self.project.ctx, found) if found else None

    artifactSequence = artifactCollection


class CollectionNode:
    __typename = "ArtifactSequence"

    def __init__(self, ctx: Context, collection: Collection):
        self.ctx = ctx
        self.collection = collection
        self.id = collection.id
        self.name = collection.name
        self.description = collection.description
        self.createdAt = wire_time(collection.created_at)
        self.updatedAt = wire_time(collection.updated_at)
        self.state = "READY"
        self.defaultArtifactType = {"name": collection.type}
        self.tags = {"edges": [{"node": {"id": global_id("Tag", t), "name": t}} for t in collection.tags]}

    @property
    def project(self) -> ProjectNode:
        return ProjectNode(self.ctx, self.ctx.world.project(self.collection.project))

    def artifacts(self, info, after=None, first=None, order=None, filters=None) -> dict:
        """Newest version first, as W&B lists them; `filters` is matched on `state`."""
        wanted = json.loads(filters).get("state") if filters else None
        versions = [a for a in self.ctx.world.live_artifacts(self.collection) if wanted in (None, a.state)]
        versions.sort(key=lambda a: a.version_index, reverse=(order or "-createdAt").startswith("-"))
        page = connection(self.ctx, versions, after, first, lambda a: ArtifactNode(self.ctx, a))
        for edge in page["edges"]:
            edge["version"] = f"v{edge['node'].versionIndex}"
        return page


class ArtifactNode:
    __typename = "Artifact"

    def __init__(self, ctx: Context, artifact: ArtifactVersion):
        self.ctx = ctx
        self.artifact = artifact
        self.id = artifact.id
        self.versionIndex = artifact.version_index
        self.artifactType = {
            "id": global_id("ArtifactType", artifact.collection.type),
            "name": artifact.collection.type,
        }
        self.description = artifact.description
        self.metadata = json_string(artifact.metadata)
        self.ttlDurationSeconds = -2
        self.ttlIsInherited = True
        self.tags = [{"__typename": "Tag", "id": global_id("Tag", t), "name": t} for t in artifact.tags]
        self.historyStep = None
        self.state = artifact.state
        self.size = artifact.size
        self.digest = artifact.digest
        self.digestAlgorithm = "MANIFEST_MD5"
        self.commitHash = artifact.commit_hash
        self.fileCount = artifact.file_count
        self.createdAt = wire_time(artifact.created_at)
        self.updatedAt = wire_time(artifact.updated_at)

    @property
    def artifactSequence(self) -> CollectionNode:
        return CollectionNode(self.ctx, self.artifact.collection)

    @property
    def aliases(self) -> list[dict]:
        collection = self.artifactSequence
        return [
            {"__typename": "ArtifactAlias", "id": global_id("ArtifactAlias", self.artifact.number, a), "alias": a}
            | {"artifactCollection": collection}
            for a in [*self.artifact.aliases, f"v{self.artifact.version_index}"]
        ]

    def _run(self, ref: tuple[str, str] | None) -> RunNode | None:
        found = self.ctx.world.run(*ref) if ref else None
        return RunNode(self.ctx, found) if found else None

    def createdBy(self, info) -> RunNode | None:
        return visible(self._run(self.artifact.created_by))

    def usedBy(self, info, after=None, first=None, **_) -> dict:
        runs = [node for node in map(self._run, self.artifact.used_by) if node]
        return connection(self.ctx, runs, after, first)


class RunNode:
    __typename = "Run"

    def __init__(self, ctx: Context, run: Run):
        self.ctx = ctx
        self.run = run
        world = ctx.world
        self.id = run.id(world.entity)
        self.name = run.name
        self.displayName = run.display_name
        self.state = run.state
        self.tags = run.tags
        self.group = run.group
        self.jobType = run.job_type
        self.commit = run.commit
        self.host = run.host
        self.sweepName = run.sweep_name
        self.readOnly = False
        self.createdAt = wire_time(run.created_at)
        self.heartbeatAt = wire_time(run.heartbeat_at)
        self.updatedAt = wire_time(run.updated_at)
        self.description = run.notes
        self.notes = run.notes
        self.historyLineCount = run.history_line_count
        self.user = {"name": run.user.name, "username": run.user.username} if run.user else None
        self.projectId = str(world.project(run.project).number)

    @property
    def project(self) -> ProjectNode:
        return ProjectNode(self.ctx, self.ctx.world.project(self.run.project))

    @property
    def config(self) -> str | None:
        if self.run.config is None:
            return None
        wrapped = {key: {"value": value, "desc": None} for key, value in self.run.config.items()}
        wrapped["_wandb"] = {"value": {"cli_version": "0.31.0", "python_version": "3.11.7"}, "desc": None}
        return json_string(wrapped)

    @property
    def summaryMetrics(self) -> str | None:
        """W&B adds its own `_wandb` bookkeeping (the run's runtime) to every summary a client wrote."""
        summary = self.run.summary
        if summary is None:
            return None
        runtime = summary.get("_runtime")
        internal = {"_wandb": {"runtime": int(runtime)}} if isinstance(runtime, int | float) else {}
        return json_string(summary | internal)

    @property
    def runInfo(self) -> dict | None:
        info, gpus = self.run.run_info, self.run.gpu_count
        return None if info is None else info | {"gpuCount": gpus, "gpu": info.get("gpu") if gpus else None}

    @property
    def systemMetrics(self) -> str:
        return json_string(self.run.system_metrics)

    @property
    def historyKeys(self) -> dict:
        count = {"typeCounts": [{"type": "number", "count": self.run.history_line_count}]}
        return {"lastStep": self.run.last_step, "keys": dict.fromkeys(self.run.history_keys(), count)}

    def history(self, info, samples=None, minStep=None, maxStep=None) -> list[str]:
        """Steps in [minStep, maxStep); past `samples` rows W&B samples them down (evenly, here), so a reader that
        asks for fewer samples than the range holds loses steps."""
        rows = self.run.history(minStep, maxStep)
        if samples and len(rows) > samples:
            rows = [rows[i] for i in _spread(len(rows), samples)]
        return [json_string(r) for r in rows]

    def events(self, info, samples=None) -> list[str]:
        return [json_string(r) for r in self.run.events(samples)]

    def sampledHistory(self, info, specs=None) -> list[list[dict]]:
        out = []
        for spec in map(json.loads, specs or []):
            keys = spec.get("keys") or []
            rows = self.run.history(spec.get("minStep"), _exclusive(spec.get("maxStep")))
            out.append([{k: r[k] for k in keys if k in r} for r in rows[: spec.get("samples") or None]])
        return out

    def parquetHistory(self, info, liveKeys=None) -> dict:
        """The run's exported steps as a parquet file on 127.0.0.1 (`server.py` writes it), the steps after the
        export as live rows; a run not exported yet is all live data."""
        run, through = self.run, self.run.exported_through
        urls = [f"{self.ctx.base_url}/files/parquet/{self.ctx.world.entity}/{run.project}/{run.name}.parquet"]
        live = run.history(None if through is None else through + 1, None)
        if liveKeys:
            live = [{k: r[k] for k in r if k in liveKeys or k == "_step"} for r in live]
        live = [{k: _finite(v) for k, v in r.items()} for r in live]  # these are JSON objects, not JSON text
        return {"parquetUrls": urls if through is not None else [], "liveData": live}

    def outputArtifacts(self, info, after=None, first=None) -> dict:
        ref = (self.run.project, self.run.name)
        made = [a for a in self.ctx.world.artifacts if not a.deleted and a.created_by == ref]
        return connection(self.ctx, made, after, first, lambda a: ArtifactNode(self.ctx, a))

    def inputArtifacts(self, info, after=None, first=None) -> dict:
        ref = (self.run.project, self.run.name)
        used = [a for a in self.ctx.world.artifacts if not a.deleted and ref in a.used_by]
        return connection(self.ctx, used, after, first, lambda a: ArtifactNode(self.ctx, a))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return value


def _exclusive(max_step: int | None) -> int | None:
    return None if max_step is None else max_step + 1
