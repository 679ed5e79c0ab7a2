"""The GraphQL documents the connector sends: the wandb 0.31 client's own, trimmed or extended where noted.

Keeping the client's operation names, variables and fragments means the real server already answers these exact
shapes; the test double validates every document here against W&B's schema. What the client's documents never ask
for, an older W&B server may lack: each such element carries `@optional(name: …)` (declared in `optional.py`, which
strips the marker before sending, and the element too for a server that lacks it).
"""

# `api.projects()`'s query with a lean user, plus `description` and `updatedAt` (Project fields the client's
# registry queries read).
PROJECTS = """
query GetProjects($entity: String, $cursor: String, $perPage: Int = 50) {
  models(entityName: $entity, after: $cursor, first: $perPage) {
    pageInfo { endCursor hasNextPage }
    edges {
      node { id name entityName description createdAt updatedAt isBenchmark user { username } }
    }
  }
}
"""

# The client's `Runs` query with `RunFragment` (what `api.runs(..., lazy=False)` sends): config, summary and
# system metrics arrive with the listing, so no run costs a request of its own. `updatedAt` and `host` are added
# (Run fields the client's ordering code and other W&B exporters read); `runCount` is dropped (a second database
# query per page, and W&B rate-limits by database time). `runInfo` is the hardware and environment W&B parsed from
# the run's `wandb-metadata.json` (the fields of the client's internal `RunInfo` query; W&B's web app reads it in
# its runs listing), so GPU counts cost no request per run. All three are optional.
RUN_INFO = (
    'runInfo @optional(name: "Run.runInfo") '
    "{ program args os python colab executable codeSaved cpuCount gpuCount gpu codePath git { remote commit } }"
)
RUN_FRAGMENT = f"""
fragment RunFragment on Run {{
  id tags name displayName sweepName state config group jobType commit readOnly createdAt
  updatedAt @optional(name: "Run.updatedAt") heartbeatAt host @optional(name: "Run.host")
  description notes systemMetrics summaryMetrics historyLineCount user {{ name username }} historyKeys
  {RUN_INFO}
}}
"""
RUNS_CONNECTION = "edges { node { ...RunFragment } cursor } pageInfo { endCursor hasNextPage }"
RUNS = (
    """
query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50, $order: String,
           $filters: JSONString) {
  project(name: $project, entityName: $entity) {
    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) { """
    + RUNS_CONNECTION
    + """ }
  }
}
"""
    + RUN_FRAGMENT
)

# The same listing with nothing but what identifies and orders a run: the reconcile's sweep.
RUN_KEYS = """
query RunKeys($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50, $order: String,
              $filters: JSONString) {
  project(name: $project, entityName: $entity) {
    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
      edges { node { name createdAt } cursor }
      pageInfo { endCursor hasNextPage }
    }
  }
}
"""

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
ARTIFACT_USERS = f"""
query ArtifactUsedBy($id: ID!, $cursor: String, $perPage: Int) @optional(name: "{USED_BY_PAGING}") {{
  artifact(id: $id) {{
    usedBy(after: $cursor, first: $perPage) {{
      {USERS_COUNT} pageInfo {{ endCursor hasNextPage }} edges {{ node {{ {RUN_REF} }} }}
    }}
  }}
}}
"""

# `collection.artifacts()`'s query, with `createdBy` and the first page of `usedBy` added to each version: the
# public fragment omits lineage, and `artifact.logged_by()` and `artifact.used_by()` cost requests per version.
ARTIFACTS = f"""
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

# `api.team()`'s root field, trimmed: null for an entity that does not exist or that the key cannot see.
ENTITY = """
query GetEntity($name: String!) {
  entity(name: $name) { id name isTeam }
}
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

# The client's `SweepFragment` (what `api.sweep()` and `project.sweeps()` read) plus `heartbeatAt`, a Sweep field of
# the client's legacy sweep query; `config` is the sweep's YAML.
SWEEP_FRAGMENT = """
fragment SweepFragment on Sweep {
  id name displayName method state description bestLoss config createdAt updatedAt heartbeatAt runCount
  runCountExpected
}
"""
SWEEPS_CONNECTION = "pageInfo { endCursor hasNextPage } edges { node { ...SweepFragment } }"
SWEEPS = (
    """
query GetSweeps($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50) {
  project(name: $project, entityName: $entity) {
    sweeps(after: $cursor, first: $perPage) { """
    + SWEEPS_CONNECTION
    + """ }
  }
}
"""
    + SWEEP_FRAGMENT
)

# A sweep's best run, as `Sweep.best_run()` finds it: its runs ordered by the metric, the first one. Unordered, the
# first run is no best run: a server without `Sweep.runs(order:)` is not asked.
SWEEP_BEST_RUN = """
query SweepBestRun($project: String!, $entity: String!, $sweep: String!, $order: String)
  @optional(name: "Sweep.runs(order:)") {
  project(name: $project, entityName: $entity) {
    sweep(sweepName: $sweep) { runs(first: 1, order: $order) { edges { node { name summaryMetrics } } } }
  }
}
"""

# The sweep ids only: the reconcile's sweep.
SWEEP_KEYS = """
query SweepKeys($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50) {
  project(name: $project, entityName: $entity) {
    sweeps(after: $cursor, first: $perPage) { pageInfo { endCursor hasNextPage } edges { node { id name createdAt } } }
  }
}
"""


def team_members(emails: bool) -> str:
    """`api.team()`'s members, trimmed: never `apiKey` (the listing offers each member's key), and `email` only
    when the configuration asks for personal data."""
    return (
        "query GetTeamMembers($name: String!) {\n  entity(name: $name) {\n    id name isTeam\n"
        f"    members {{ id admin pending {'email ' if emails else ''}username name accountType }}\n  }}\n}}\n"
    )


def history_pages(runs: int) -> str:
    """wandb-core's `HistoryPage` (what `scan_history` pages live steps with: the full, unsampled steps in
    [minStep, maxStep)) for several runs of a project in one document, each run under its own alias: one request
    reads the steps of many runs."""
    declared = ", ".join(f"$run{i}: String!, $min{i}: Int64!, $max{i}: Int64!, $size{i}: Int!" for i in range(runs))
    fields = "\n    ".join(
        f"run{i}: run(name: $run{i}) {{ history(minStep: $min{i}, maxStep: $max{i}, samples: $size{i}) }}"
        for i in range(runs)
    )
    return (
        f"query HistoryPages($entity: String!, $project: String!, {declared}) {{\n"
        f"  project(name: $project, entityName: $entity) {{\n    {fields}\n  }}\n}}\n"
    )


def system_events(runs: int) -> str:
    """`run.history(stream="system")`'s `events(samples:)` (W&B serves the system stream only sampled) for
    several runs of a project in one document."""
    declared = ", ".join(f"$run{i}: String!" for i in range(runs))
    fields = "\n    ".join(f"run{i}: run(name: $run{i}) {{ events(samples: $samples) }}" for i in range(runs))
    return (
        f"query SystemEvents($entity: String!, $project: String!, $samples: Int, {declared}) {{\n"
        f"  project(name: $project, entityName: $entity) {{\n    {fields}\n  }}\n}}\n"
    )
