-- One row per live artifact version.
with base as (

    select * from {{ ref('stg_wandb__artifacts_tmp') }}

), filled as (

    select
        {{
            wandb.fill_staging_columns(
                source_columns=adapter.get_columns_in_relation(ref('stg_wandb__artifacts_tmp')),
                staging_columns=get_artifacts_columns()
            )
        }}
    from base

), fields as (

    select
        cast(artifact_id as {{ dbt.type_string() }}) as artifact_id,
        cast(entity as {{ dbt.type_string() }}) as entity,
        cast(project_id as {{ dbt.type_string() }}) as project_id,
        cast(source_project as {{ dbt.type_string() }}) as source_project,
        cast(collection as {{ dbt.type_string() }}) as collection,
        cast(name as {{ dbt.type_string() }}) as artifact_name,
        cast(type as {{ dbt.type_string() }}) as artifact_type,
        cast(version as {{ dbt.type_string() }}) as version,
        cast(version_index as {{ dbt.type_bigint() }}) as version_index,
        aliases,
        tags,
        cast(state as {{ dbt.type_string() }}) as state,
        cast(size as {{ dbt.type_bigint() }}) as size_bytes,
        cast(file_count as {{ dbt.type_bigint() }}) as file_count,
        cast(digest as {{ dbt.type_string() }}) as digest,
        cast(commit_hash as {{ dbt.type_string() }}) as commit_hash,
        cast(description as {{ dbt.type_string() }}) as description,
        metadata,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(run_project_id as {{ dbt.type_string() }}) as run_project_id,
        cast(synced_at as {{ dbt.type_timestamp() }}) as synced_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as _fivetran_synced
    from filled
    where not coalesce(_fivetran_deleted, false)

)

select * from fields
