-- One row per live sweep.
with base as (

    select * from {{ ref('stg_wandb__sweeps_tmp') }}

), filled as (

    select
        {{
            wandb.fill_staging_columns(
                source_columns=adapter.get_columns_in_relation(ref('stg_wandb__sweeps_tmp')),
                staging_columns=get_sweeps_columns()
            )
        }}
    from base

), fields as (

    select
        cast(project_id as {{ dbt.type_string() }}) as project_id,
        cast(sweep_id as {{ dbt.type_string() }}) as sweep_id,
        cast(storage_id as {{ dbt.type_string() }}) as storage_id,
        cast(entity as {{ dbt.type_string() }}) as entity,
        cast(project as {{ dbt.type_string() }}) as project_name,
        cast(url as {{ dbt.type_string() }}) as url,
        cast(name as {{ dbt.type_string() }}) as sweep_name,
        cast(display_name as {{ dbt.type_string() }}) as display_name,
        cast(state as {{ dbt.type_string() }}) as state,
        cast(method as {{ dbt.type_string() }}) as method,
        cast(description as {{ dbt.type_string() }}) as description,
        cast(metric_name as {{ dbt.type_string() }}) as metric_name,
        cast(metric_goal as {{ dbt.type_string() }}) as metric_goal,
        config,
        cast(best_run_id as {{ dbt.type_string() }}) as best_run_id,
        cast(best_metric_value as {{ wandb.type_double() }}) as best_metric_value,
        cast(best_loss as {{ wandb.type_double() }}) as best_loss,
        cast(run_count as {{ dbt.type_bigint() }}) as run_count,
        cast(expected_run_count as {{ dbt.type_bigint() }}) as expected_run_count,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(heartbeat_at as {{ dbt.type_timestamp() }}) as heartbeat_at,
        cast(synced_at as {{ dbt.type_timestamp() }}) as synced_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as _fivetran_synced
    from filled
    where not coalesce(_fivetran_deleted, false)

)

select * from fields
