-- One row per live project.
with base as (

    select * from {{ ref('stg_wandb__projects_tmp') }}

), filled as (

    select
        {{
            wandb.fill_staging_columns(
                source_columns=adapter.get_columns_in_relation(ref('stg_wandb__projects_tmp')),
                staging_columns=get_projects_columns()
            )
        }}
    from base

), fields as (

    select
        cast(project_id as {{ dbt.type_string() }}) as project_id,
        cast(entity as {{ dbt.type_string() }}) as entity,
        cast(name as {{ dbt.type_string() }}) as project_name,
        cast(url as {{ dbt.type_string() }}) as url,
        cast(storage_id as {{ dbt.type_string() }}) as storage_id,
        cast(description as {{ dbt.type_string() }}) as description,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(is_benchmark as {{ dbt.type_boolean() }}) as is_benchmark,
        cast(owner as {{ dbt.type_string() }}) as owner_username,
        cast(synced_at as {{ dbt.type_timestamp() }}) as synced_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as _fivetran_synced
    from filled
    where not coalesce(_fivetran_deleted, false)

)

select * from fields
