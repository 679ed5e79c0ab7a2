-- Seed 001's ten metrics, one row per project. The window is (`wandb__as_of` - 7 days, `wandb__as_of`].
with projects as (

    select project_id from {{ ref('stg_wandb__projects') }}

), runs as (

    select * from {{ ref('int_wandb__run_spans') }}

), accuracy as (

    {{ wandb.summary_values(var('wandb__accuracy_metric')) }}

), loss as (

    {{ wandb.summary_values(var('wandb__loss_metric')) }}

), run_counts as (

    select
        project_id,
        count(*) as runs_total,
        sum(case when state = 'running' then 1 else 0 end) as runs_active,
        sum(case when state = 'finished' and {{ wandb.in_window('ended_at') }} then 1 else 0 end) as runs_completed_7d,
        sum(case when state in ('failed', 'crashed') and {{ wandb.in_window('ended_at') }} then 1 else 0 end)
            as runs_failed_7d,
        avg(case when {{ wandb.in_window('ended_at') }} then runtime_seconds / 3600.0 end) as avg_duration_hours,
        sum(gpu_count * window_hours) as gpu_hours_7d
    from runs
    group by project_id

), accuracy_stats as (

    select
        runs.project_id,
        max(accuracy.metric_value) as best_accuracy,
        avg(case when {{ wandb.in_window('runs.created_at') }} then accuracy.metric_value end) as avg_accuracy_7d
    from runs
    join accuracy
        on accuracy.project_id = runs.project_id
        and accuracy.run_id = runs.run_id
    group by runs.project_id

), latest_loss as (

    select project_id, metric_value as latest_loss
    from (
        select
            runs.project_id,
            loss.metric_value,
            row_number() over (
                partition by runs.project_id
                order by
                    case when runs.heartbeat_at is null then 1 else 0 end,
                    runs.heartbeat_at desc,
                    runs.created_at desc,
                    runs.run_id desc
            ) as latest
        from runs
        join loss
            on loss.project_id = runs.project_id
            and loss.run_id = runs.run_id
    ) as ranked
    where latest = 1

), utilization as (

    select project_id, avg(gpu_utilization_percent) as gpu_utilization_avg
    from {{ ref('stg_wandb__run_system_metrics') }}
    where {{ wandb.in_window('sampled_at') }}
    group by project_id

)

select
    projects.project_id,
    cast(coalesce(run_counts.runs_active, 0) as {{ dbt.type_bigint() }}) as runs_active,
    cast(coalesce(run_counts.runs_completed_7d, 0) as {{ dbt.type_bigint() }}) as runs_completed_7d,
    cast(coalesce(run_counts.runs_failed_7d, 0) as {{ dbt.type_bigint() }}) as runs_failed_7d,
    cast(coalesce(run_counts.runs_total, 0) as {{ dbt.type_bigint() }}) as runs_total,
    accuracy_stats.best_accuracy,
    latest_loss.latest_loss,
    accuracy_stats.avg_accuracy_7d,
    run_counts.avg_duration_hours,
    utilization.gpu_utilization_avg,
    coalesce(run_counts.gpu_hours_7d, 0) as gpu_hours_7d,
    {{ wandb.as_of() }} as as_of,
    cast({{ wandb.string_literal(var('wandb__accuracy_metric')) }} as {{ dbt.type_string() }}) as accuracy_metric,
    cast({{ wandb.string_literal(var('wandb__loss_metric')) }} as {{ dbt.type_string() }}) as loss_metric
from projects
left join run_counts on run_counts.project_id = projects.project_id
left join accuracy_stats on accuracy_stats.project_id = projects.project_id
left join latest_loss on latest_loss.project_id = projects.project_id
left join utilization on utilization.project_id = projects.project_id
