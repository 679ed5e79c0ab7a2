-- One row per live run and flattened summary key.
with base as (

    select * from {{ ref('stg_wandb__run_summary_tmp') }}

), filled as (

    select
        {{
            wandb.fill_staging_columns(
                source_columns=adapter.get_columns_in_relation(ref('stg_wandb__run_summary_tmp')),
                staging_columns=get_run_summary_columns()
            )
        }}
    from base

), fields as (

    select
        cast(project_id as {{ dbt.type_string() }}) as project_id,
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(key_name as {{ dbt.type_string() }}) as summary_key,
        path as key_path,
        cast(value_type as {{ dbt.type_string() }}) as value_type,
        cast(number_value as {{ wandb.type_double() }}) as number_value,
        cast(string_value as {{ dbt.type_string() }}) as string_value,
        cast(boolean_value as {{ dbt.type_boolean() }}) as boolean_value,
        value_json,
        cast(synced_at as {{ dbt.type_timestamp() }}) as synced_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as _fivetran_synced
    from filled
    where not coalesce(_fivetran_deleted, false)

)

select * from fields
