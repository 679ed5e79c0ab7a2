-- GPU hours per user, project and week (Monday 00:00 UTC): each run's active span split over the weeks it overlaps.
-- A row is a week in which some run of the user in the project held GPUs.
with spans as (

    select * from {{ ref('int_wandb__run_spans') }}
    where gpu_count > 0 and span_end > span_start

), weeks as (

    {{ wandb.week_spine(ref('stg_wandb__run_fields'), 'created_at') }}

), week_parts as (

    select
        spans.username,
        spans.project_id,
        spans.run_id,
        weeks.week_start,
        spans.gpu_count * {{ wandb.hours_between(
            'case when spans.span_start > weeks.week_start then spans.span_start else weeks.week_start end',
            'case when spans.span_end < ' ~ dbt.dateadd('week', 1, 'weeks.week_start')
                ~ ' then spans.span_end else ' ~ dbt.dateadd('week', 1, 'weeks.week_start') ~ ' end') }} as gpu_hours
    from spans
    join weeks
        on spans.span_start < {{ dbt.dateadd('week', 1, 'weeks.week_start') }}
        and spans.span_end > weeks.week_start

)

select
    username as {{ adapter.quote('user') }},
    project_id,
    week_start,
    sum(gpu_hours) as gpu_hours,
    count(distinct run_id) as runs
from week_parts
group by username, project_id, week_start
