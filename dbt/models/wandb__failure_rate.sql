-- Failure rate per project and job type (a run without a job type is its own group): of the runs that ended
-- (state neither running nor pending), the share that failed or crashed.
with runs as (

    select * from {{ ref('stg_wandb__run_fields') }}

), grouped as (

    select
        project_id,
        job_type,
        sum(case when state not in ('running', 'pending') then 1 else 0 end) as runs_ended,
        sum(case when state in ('failed', 'crashed') then 1 else 0 end) as runs_failed
    from runs
    group by project_id, job_type

)

select
    project_id,
    job_type,
    cast(runs_ended as {{ dbt.type_bigint() }}) as runs_ended,
    cast(runs_failed as {{ dbt.type_bigint() }}) as runs_failed,
    case when runs_ended > 0 then runs_failed * 1.0 / runs_ended end as failure_rate
from grouped
