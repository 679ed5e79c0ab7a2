-- For each model collection: the version whose consuming runs (its `input` edges) reach the best
-- `wandb__target_metric` for `wandb__target_goal`, that value, and the versions at the root of its ancestry (the
-- ancestors with no ancestor of their own: for a seed-004 pipeline, the raw dataset versions). Ties go to the
-- older version. A collection whose versions no run scored has NULLs.
{%- set maximize = var('wandb__target_goal', 'maximize') | lower == 'maximize' %}
with versions as (

    select project_id, collection, artifact_id, artifact_name, created_at
    from {{ ref('stg_wandb__artifacts') }}
    where artifact_type = {{ wandb.string_literal(var('wandb__model_type', 'model')) }}

), target as (

    {{ wandb.summary_values(var('wandb__target_metric')) }}

), scores as (

    select
        versions.project_id,
        versions.collection,
        versions.artifact_id,
        versions.artifact_name,
        versions.created_at,
        {{ 'max' if maximize else 'min' }}(target.metric_value) as score
    from versions
    join {{ ref('stg_wandb__artifact_lineage') }} as lineage
        on lineage.artifact_id = versions.artifact_id
        and lineage.direction = 'input'
    join target
        on target.project_id = lineage.project_id
        and target.run_id = lineage.run_id
    group by versions.project_id, versions.collection, versions.artifact_id, versions.artifact_name, versions.created_at

), best as (

    select *
    from (
        select
            *,
            row_number() over (
                partition by project_id, collection
                order by score {{ 'desc' if maximize else 'asc' }}, created_at, artifact_id
            ) as place
        from scores
    ) as ranked
    where place = 1

), ancestry as (

    select * from {{ ref('wandb__artifact_ancestry') }}

), roots as (

    select
        ancestry.artifact_id,
        {{ wandb.json_array_agg('ancestry.ancestor_artifact_id') }} as root_dataset_ids
    from ancestry
    where not exists (
        select 1 from ancestry as above where above.artifact_id = ancestry.ancestor_artifact_id
    )
    group by ancestry.artifact_id

), collections as (

    select distinct project_id, collection from versions

)

select
    collections.project_id,
    collections.collection,
    best.artifact_id as best_artifact_id,
    best.artifact_name as best_artifact_name,
    best.score as best_value,
    case
        when best.artifact_id is not null then coalesce(roots.root_dataset_ids, {{ wandb.json_literal('[]') }})
    end as root_dataset_ids,
    cast({{ wandb.string_literal(var('wandb__target_metric')) }} as {{ dbt.type_string() }}) as target_metric,
    cast({{ wandb.string_literal(var('wandb__target_goal', 'maximize')) }} as {{ dbt.type_string() }}) as target_goal
from collections
left join best
    on best.project_id = collections.project_id
    and best.collection = collections.collection
left join roots
    on roots.artifact_id = best.artifact_id
