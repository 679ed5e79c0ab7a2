-- One row per live edge between a run and an artifact version.
with base as (

    select * from {{ ref('stg_wandb__artifact_lineage_tmp') }}

), filled as (

    select
        {{
            wandb.fill_staging_columns(
                source_columns=adapter.get_columns_in_relation(ref('stg_wandb__artifact_lineage_tmp')),
                staging_columns=get_artifact_lineage_columns()
            )
        }}
    from base

), fields as (

    select
        cast(project_id as {{ dbt.type_string() }}) as project_id,
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(artifact_id as {{ dbt.type_string() }}) as artifact_id,
        cast(direction as {{ dbt.type_string() }}) as direction,
        cast(artifact_project_id as {{ dbt.type_string() }}) as artifact_project_id,
        cast(artifact_name as {{ dbt.type_string() }}) as artifact_name,
        cast(artifact_collection as {{ dbt.type_string() }}) as artifact_collection,
        cast(artifact_version as {{ dbt.type_string() }}) as artifact_version,
        cast(artifact_type as {{ dbt.type_string() }}) as artifact_type,
        cast(synced_at as {{ dbt.type_timestamp() }}) as synced_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as _fivetran_synced
    from filled
    where not coalesce(_fivetran_deleted, false)

)

select * from fields
