-- One row per live run: who ran it, its state, times and hardware, and its GPU hours over its whole active span.
with spans as (

    select * from {{ ref('int_wandb__run_spans') }}

)

select
    project_id,
    run_id,
    run_name as name,
    state,
    username as {{ adapter.quote('user') }},
    job_type,
    run_group,
    sweep_id,
    created_at,
    ended_at,
    heartbeat_at,
    runtime_seconds / 3600.0 as runtime_hours,
    gpu_count,
    gpu_type,
    gpu_count * span_hours as gpu_hours,
    coalesce(state in ('failed', 'crashed'), false) as is_failure,
    span_end as active_until
from spans
