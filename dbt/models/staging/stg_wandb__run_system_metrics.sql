-- One row per live run and system sample.
with base as (

    select * from {{ ref('stg_wandb__run_system_metrics_tmp') }}

), filled as (

    select
        {{
            wandb.fill_staging_columns(
                source_columns=adapter.get_columns_in_relation(ref('stg_wandb__run_system_metrics_tmp')),
                staging_columns=get_run_system_metrics_columns()
            )
        }}
    from base

), fields as (

    select
        cast(project_id as {{ dbt.type_string() }}) as project_id,
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(sample_index as {{ dbt.type_bigint() }}) as sample_index,
        cast(sampled_at as {{ dbt.type_timestamp() }}) as sampled_at,
        cast(runtime_seconds as {{ wandb.type_double() }}) as runtime_seconds,
        cast(interval_seconds as {{ wandb.type_double() }}) as interval_seconds,
        cast(gpu_count as {{ dbt.type_bigint() }}) as gpu_count,
        cast(gpu_utilization_percent as {{ wandb.type_double() }}) as gpu_utilization_percent,
        cast(gpu_memory_allocated_percent as {{ wandb.type_double() }}) as gpu_memory_allocated_percent,
        cast(gpu_memory_allocated_bytes as {{ dbt.type_bigint() }}) as gpu_memory_allocated_bytes,
        cast(gpu_power_watts as {{ wandb.type_double() }}) as gpu_power_watts,
        cast(gpu_temperature_c as {{ wandb.type_double() }}) as gpu_temperature_c,
        cast(cpu_percent as {{ wandb.type_double() }}) as cpu_percent,
        cast(memory_percent as {{ wandb.type_double() }}) as memory_percent,
        cast(process_memory_mb as {{ wandb.type_double() }}) as process_memory_mb,
        cast(disk_percent as {{ wandb.type_double() }}) as disk_percent,
        cast(network_sent_bytes as {{ wandb.type_double() }}) as network_sent_bytes,
        cast(network_recv_bytes as {{ wandb.type_double() }}) as network_recv_bytes,
        metrics,
        cast(synced_at as {{ dbt.type_timestamp() }}) as synced_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as _fivetran_synced
    from filled
    where not coalesce(_fivetran_deleted, false)

)

select * from fields
