-- One row per live run, `group`, `user` and `sweep_name` renamed.
with base as (

    select * from {{ ref('stg_wandb__run_fields_tmp') }}

), filled as (

    select
        {{
            wandb.fill_staging_columns(
                source_columns=adapter.get_columns_in_relation(ref('stg_wandb__run_fields_tmp')),
                staging_columns=get_run_fields_columns()
            )
        }}
    from base

), fields as (

    select
        cast(project_id as {{ dbt.type_string() }}) as project_id,
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(storage_id as {{ dbt.type_string() }}) as storage_id,
        cast(name as {{ dbt.type_string() }}) as run_name,
        cast(state as {{ dbt.type_string() }}) as state,
        cast(entity as {{ dbt.type_string() }}) as entity,
        cast(project as {{ dbt.type_string() }}) as project_name,
        cast(path as {{ dbt.type_string() }}) as run_path,
        cast(url as {{ dbt.type_string() }}) as url,
        cast(username as {{ dbt.type_string() }}) as username,
        tags,
        cast(run_group as {{ dbt.type_string() }}) as run_group,
        cast(job_type as {{ dbt.type_string() }}) as job_type,
        cast(sweep_name as {{ dbt.type_string() }}) as sweep_id,
        cast(notes as {{ dbt.type_string() }}) as notes,
        cast(commit_id as {{ dbt.type_string() }}) as commit_id,
        cast(host as {{ dbt.type_string() }}) as host,
        cast(read_only as {{ dbt.type_boolean() }}) as is_read_only,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(heartbeat_at as {{ dbt.type_timestamp() }}) as heartbeat_at,
        cast(ended_at as {{ dbt.type_timestamp() }}) as ended_at,
        cast(runtime_seconds as {{ wandb.type_double() }}) as runtime_seconds,
        cast(gpu_count as {{ dbt.type_bigint() }}) as gpu_count,
        cast(gpu_hours as {{ wandb.type_double() }}) as gpu_hours,
        cast(gpu_type as {{ dbt.type_string() }}) as gpu_type,
        cast(cpu_count as {{ dbt.type_bigint() }}) as cpu_count,
        cast(os as {{ dbt.type_string() }}) as os,
        cast(python_version as {{ dbt.type_string() }}) as python_version,
        cast(program as {{ dbt.type_string() }}) as program,
        cast(code_path as {{ dbt.type_string() }}) as code_path,
        args,
        cast(executable as {{ dbt.type_string() }}) as executable,
        cast(git_remote as {{ dbt.type_string() }}) as git_remote,
        cast(git_commit as {{ dbt.type_string() }}) as git_commit,
        cast(last_step as {{ dbt.type_bigint() }}) as last_step,
        cast(history_line_count as {{ dbt.type_bigint() }}) as history_line_count,
        config,
        summary,
        system_metrics,
        cast(synced_at as {{ dbt.type_timestamp() }}) as synced_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as _fivetran_synced
    from filled
    where not coalesce(_fivetran_deleted, false)

)

select * from fields
