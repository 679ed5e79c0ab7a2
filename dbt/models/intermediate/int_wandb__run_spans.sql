-- Each live run with its active span: from `created_at` to `ended_at`, or to `as_of` while it has not ended,
-- clipped to `as_of` (a run created after `as_of` has an empty span), and the part of it inside the window.
with runs as (

    select * from {{ ref('stg_wandb__run_fields') }}

), spans as (

    select
        *,
        created_at as span_start,
        case
            when created_at > {{ wandb.as_of() }} then created_at
            when ended_at is null or ended_at > {{ wandb.as_of() }} then {{ wandb.as_of() }}
            when ended_at < created_at then created_at
            else ended_at
        end as span_end
    from runs

)

select
    *,
    {{ wandb.hours_between('span_start', 'span_end') }} as span_hours,
    case
        when span_end > {{ wandb.window_start() }} and span_end > span_start
            then {{ wandb.hours_between(
                'case when span_start > ' ~ wandb.window_start() ~ ' then span_start else ' ~ wandb.window_start() ~ ' end',
                'span_end') }}
        else 0
    end as window_hours
from spans
