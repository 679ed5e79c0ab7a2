"""The GraphQL documents the connector sends: the wandb 0.31 client's own, trimmed or extended where noted.

Keeping the client's operation names, variables and fragments means the real server already answers these exact
shapes; the test double validates every document here against W&B's schema.
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
# query per page, and W&B rate-limits by database time).
RUNS = """
query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50, $order: String,
           $filters: JSONString) {
  project(name: $project, entityName: $entity) {
    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
      edges { node { ...RunFragment } cursor }
      pageInfo { endCursor hasNextPage }
    }
  }
}
fragment RunFragment on Run {
  id tags name displayName sweepName state config group jobType commit readOnly createdAt updatedAt heartbeatAt host
  description notes systemMetrics summaryMetrics historyLineCount user { name username } historyKeys
}
"""

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

# `project.collections()`'s query without `filters`, `order` and `totalCount`, which the client drops itself when
# the server lacks ARTIFACT_COLLECTIONS_FILTERING_SORTING (older W&B Server); only ArtifactSequence collections hold
# versions of their own (portfolios link versions that live in a sequence elsewhere), so the walk skips portfolios.
COLLECTIONS = """
query ProjectArtifactCollections($entity: String!, $project: String!, $cursor: String, $perPage: Int) {
  project(entityName: $entity, name: $project) {
    artifactCollections(after: $cursor, first: $perPage) {
      pageInfo { endCursor hasNextPage }
      edges { node { __typename id name createdAt updatedAt type: defaultArtifactType { name } } }
    }
  }
}
"""

# `collection.artifacts()`'s query, with `createdBy` added to each version: the public fragment omits the run that
# logged an artifact, and `artifact.logged_by()` would cost two requests per version.
ARTIFACTS = """
query ProjectArtifacts($entity: String!, $project: String!, $type: String!, $collection: String!, $cursor: String,
                       $perPage: Int = 50, $order: String, $filters: JSONString) {
  project(entityName: $entity, name: $project) {
    artifactType(name: $type) {
      artifactCollection(name: $collection) {
        artifacts(after: $cursor, first: $perPage, order: $order, filters: $filters) {
          totalCount
          pageInfo { endCursor hasNextPage }
          edges { version node { ...ArtifactFragment } }
        }
      }
    }
  }
}
fragment ArtifactFragment on Artifact {
  id
  artifactSequence { name }
  versionIndex
  artifactType { name }
  description
  metadata
  tags { name }
  state
  size
  digest
  commitHash
  fileCount
  createdAt
  updatedAt
  aliases { alias artifactCollection { name } }
  createdBy { __typename ... on Run { name project { name entity { name } } } }
}
"""

# `api.team()`'s root field, trimmed: null for an entity that does not exist or that the key cannot see.
ENTITY = """
query GetEntity($name: String!) {
  entity(name: $name) { id name isTeam }
}
"""

# A collection's version ids only: the reconcile's sweep.
ARTIFACT_KEYS = """
query ArtifactKeys($entity: String!, $project: String!, $type: String!, $collection: String!, $cursor: String,
                   $perPage: Int = 50, $filters: JSONString) {
  project(entityName: $entity, name: $project) {
    artifactType(name: $type) {
      artifactCollection(name: $collection) {
        artifacts(after: $cursor, first: $perPage, filters: $filters) {
          totalCount
          pageInfo { endCursor hasNextPage }
          edges { node { id createdAt } }
        }
      }
    }
  }
}
"""
