-- Every version's ancestors through any chain of runs and versions: depth 1 is a version the run that logged it
-- had used, depth 2 one the run that logged that version had used, and so on; the shortest chain's depth when
-- several lead to the same ancestor. A version is never its own ancestor (a cycle stops there), and a chain is
-- followed `wandb__max_lineage_depth` steps at most.
-- (No column list on the recursive CTE: BigQuery takes none; the anchor's aliases name the columns.)
with recursive ancestry as (

    select artifact_id, parent_artifact_id as ancestor_artifact_id, 1 as depth
    from {{ ref('int_wandb__artifact_parents') }}

    {{ wandb.recursive_union() }}

    select ancestry.artifact_id, parents.parent_artifact_id, ancestry.depth + 1
    from ancestry
    join {{ ref('int_wandb__artifact_parents') }} as parents
        on parents.artifact_id = ancestry.ancestor_artifact_id
    where ancestry.depth < {{ var('wandb__max_lineage_depth', 30) }}
      and parents.parent_artifact_id != ancestry.artifact_id

), shortest as (

    select artifact_id, ancestor_artifact_id, min(depth) as depth
    from ancestry
    group by artifact_id, ancestor_artifact_id

), versions as (

    select artifact_id, artifact_name, artifact_type, project_id from {{ ref('stg_wandb__artifacts') }}

)

select
    shortest.artifact_id,
    shortest.ancestor_artifact_id,
    shortest.depth,
    version.artifact_name,
    ancestor.artifact_name as ancestor_artifact_name,
    ancestor.artifact_type as ancestor_artifact_type,
    ancestor.project_id as ancestor_project_id
from shortest
join versions as version on version.artifact_id = shortest.artifact_id
join versions as ancestor on ancestor.artifact_id = shortest.ancestor_artifact_id
