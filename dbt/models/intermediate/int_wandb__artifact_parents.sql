-- A version's direct parents: the versions the run that logged it had used (`artifact_lineage`: the run's
-- `output` edge to the version, and its `input` edges), both versions live.
with lineage as (

    select * from {{ ref('stg_wandb__artifact_lineage') }}

), versions as (

    select artifact_id from {{ ref('stg_wandb__artifacts') }}

)

select distinct
    made.artifact_id,
    used.artifact_id as parent_artifact_id
from lineage as made
join lineage as used
    on used.project_id = made.project_id
    and used.run_id = made.run_id
    and used.direction = 'input'
join versions as made_version
    on made_version.artifact_id = made.artifact_id
join versions as used_version
    on used_version.artifact_id = used.artifact_id
where made.direction = 'output'
  and used.artifact_id != made.artifact_id
