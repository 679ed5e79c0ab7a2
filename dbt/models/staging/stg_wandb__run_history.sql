-- One row per live run and logged step.
with base as (

    select * from {{ ref('stg_wandb__run_history_tmp') }}

), filled as (

    select
        {{
            wandb.fill_staging_columns(
                source_columns=adapter.get_columns_in_relation(ref('stg_wandb__run_history_tmp')),
                staging_columns=get_run_history_columns()
            )
        }}
    from base

), fields as (

    select
        cast(project_id as {{ dbt.type_string() }}) as project_id,
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(step as {{ dbt.type_bigint() }}) as step,
        cast(logged_at as {{ dbt.type_timestamp() }}) as logged_at,
        cast(runtime_seconds as {{ wandb.type_double() }}) as runtime_seconds,
        metrics,
        cast(synced_at as {{ dbt.type_timestamp() }}) as synced_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as _fivetran_synced
    from filled
    where not coalesce(_fivetran_deleted, false)

)

select * from fields
